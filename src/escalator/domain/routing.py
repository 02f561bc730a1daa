"""Routing: which path and type a text suggests, and which channel an escalation goes to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from escalator.domain.business_hours import is_business_time
from escalator.domain.escalation import EscalationType
from escalator.policy import Policy, Priority


@dataclass(frozen=True)
class Detection:
    """What the agent's words suggest; the agent can still change every choice in the form."""

    path_key: str | None
    escalation_type: EscalationType
    priority: Priority | None
    trigger_words: list[str] = field(default_factory=list)


def mentions(text: str, phrase: str) -> bool:
    """Whether lowercased `text` mentions `phrase` as a whole word or phrase."""
    # Whole words only: "charge" must not match "discharged"; phrases match as a unit.
    return re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", text) is not None


def detect(text: str, policy: Policy) -> Detection:
    """Suggest a path from `paths.*.keywords`, a type and priority from `triggers`.

    The path with most keyword hits wins (ties go to the one listed first). Incident words outrank
    hierarchical ones, which outrank priority ones. Incidents suggest P1, priority triggers P2.
    """
    lowered = text.lower()
    best_path, best_hits = None, 0
    for key, path in policy.paths.items():
        hits = sum(1 for word in path.keywords if mentions(lowered, word))
        if hits > best_hits:
            best_path, best_hits = key, hits

    found = {
        kind: [word for word in words if mentions(lowered, word)]
        for kind, words in (
            (EscalationType.incident, policy.triggers.incident),
            (EscalationType.hierarchical, policy.triggers.hierarchical),
            (EscalationType.priority, policy.triggers.priority),
        )
    }
    escalation_type = next((kind for kind, words in found.items() if words), EscalationType.functional)
    suggested = {EscalationType.incident: Priority.P1, EscalationType.priority: Priority.P2}.get(
        escalation_type
    )
    priority = suggested if suggested in policy.priorities else None
    trigger_words = sorted({word.lower() for words in found.values() for word in words})
    return Detection(best_path, escalation_type, priority, trigger_words)


@dataclass(frozen=True)
class Route:
    channel_id: str
    after_hours: bool


def route(path_key: str, escalation_type: EscalationType, at: datetime, policy: Policy) -> Route:
    """Hierarchical escalations go up to the supervisors; the rest to the path's channel,
    or its after-hours channel outside business hours."""
    after_hours = not is_business_time(at, policy.business_hours, policy.zone)
    if escalation_type is EscalationType.hierarchical:
        return Route(policy.supervisors.channel, after_hours)
    path = policy.paths[path_key]
    if after_hours and path.after_hours_channel:
        return Route(path.after_hours_channel, True)
    return Route(path.channel, after_hours)


def fallback_channel(refused_channel: str, policy: Policy) -> str | None:
    """Where a card goes when Slack refuses its channel for good: the supervisors', so the case is not
    lost; None when it was the supervisors' channel that refused (the agent is then told to call one)."""
    if refused_channel == policy.supervisors.channel:
        return None
    return policy.supervisors.channel
