"""Incidents: one outage, many callers. The incident, the suggestion that one may be under way, what
makes escalations alike, and who may run an incident."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from escalator.domain.escalation import Escalation
from escalator.domain.lifecycle import Actor, Refused, is_supervisor
from escalator.policy import Policy

INCIDENT_PREFIX = "INC-"
# Words that say nothing about what went wrong.
_STOPWORDS = frozenset(
    """
    a about after again all also am an and any are as at be been before but by can cannot cant could customer
    customers did does doesnt dont for from get gets getting got had has have he her hers him his how i if in
    into is isnt it its just me my no not of on or our out please she since so some still than that the their
    them then there they this to too up us very was wasnt we were what when where which while who why will
    with wont would you your yesterday today now says said tried trying try keeps keep
    """.split()  # noqa: SIM905  (a paragraph of words reads better than 110 quoted strings)
)
_WORD = re.compile(r"[a-z0-9][a-z0-9'_\-]*[a-z0-9]|[a-z0-9]")
SHARED_WORDS = 2  # significant words two summaries must share to count as alike
_LONGEST_WORD = 40  # longer "words" are pasted ids or garbage, not what went wrong
TITLE_LENGTH = 200  # the stored title's column


class IncidentState(StrEnum):
    open = "open"
    resolved = "resolved"


class SuggestionState(StrEnum):
    pending = "pending"
    declared = "declared"
    dismissed = "dismissed"


@dataclass
class Incident:
    """Stored; the store maps this class onto its table."""

    declared_at: datetime
    declared_by: str
    title: str
    words: list[str]  # the significant words that new escalations are matched on
    path_key: str | None = None
    state: IncidentState = IncidentState.open
    status: str | None = None  # the responders' latest word, for colleagues
    customer_line: str | None = None  # the latest line agents can pass on to their callers
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    card_channel_id: str | None = None
    card_ts: str | None = None
    # The card is updated at most once a second, however many escalations join at once: when it was
    # last rendered, and whether an update is queued that has not rendered yet.
    card_rendered_at: datetime | None = None
    card_update_waiting: bool = False
    id: int | None = None

    @property
    def reference(self) -> str:
        return f"{INCIDENT_PREFIX}{self.id}"

    @property
    def is_open(self) -> bool:
        return self.state is IncidentState.open


@dataclass
class IncidentSuggestion:
    """ "Possible incident": a cluster of similar escalations, awaiting a supervisor's or responder's word."""

    created_at: datetime
    title: str
    words: list[str]
    path_key: str
    first_raised_at: datetime
    state: SuggestionState = SuggestionState.pending
    decided_by: str | None = None
    incident_id: int | None = None
    posts: list[list[str]] = field(default_factory=list)  # [channel, ts] of each message suggesting it
    id: int | None = None


def significant_words(text: str) -> list[str]:
    """The words of a summary that can say what went wrong, in order, each once."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        word = word.strip("'-_")
        if (len(word) >= 3 or word.isdigit()) and len(word) <= _LONGEST_WORD and word not in _STOPWORDS:
            seen.setdefault(word)
    return list(seen)


def case_words(escalation: Escalation) -> list[str]:
    """The significant words of a case's summary, without its customer's name and account number: an
    incident's title and the suggestion are shown in channels, and match other customers' cases."""
    private = set(significant_words(f"{escalation.customer_name} {escalation.account_number}"))
    return [word for word in significant_words(escalation.summary) if word not in private]


def alike(words: Iterable[str], triggers: Iterable[str], other: Escalation) -> bool:
    """Two escalations are alike when they share two significant words, or a trigger word."""
    shared = set(words) & set(case_words(other))
    return len(shared) >= SHARED_WORDS or bool(set(triggers) & set(other.trigger_words))


def matches(incident: Incident, escalation: Escalation) -> bool:
    """A new escalation looks like part of an open incident: same path (when the incident has one), and
    two of the incident's words in its summary."""
    if incident.path_key is not None and incident.path_key != escalation.path_key:
        return False
    return len(set(incident.words) & set(case_words(escalation))) >= SHARED_WORDS


def cluster_title(newest: Escalation, cluster: Sequence[Escalation]) -> tuple[str, list[str]]:
    """What a cluster is about: the words most of its summaries share (up to four), in the order the
    newest one says them; failing that, the trigger words they share."""
    counts = Counter(word for e in cluster for word in set(case_words(e)))
    common = [w for w in case_words(newest) if counts[w] * 2 > len(cluster)][:4]
    if len(common) < SHARED_WORDS:
        triggers = Counter(word for e in cluster for word in set(e.trigger_words))
        common = [w for w, n in triggers.most_common(2) if n * 2 > len(cluster)] or common
    # Never the raw summary: it can hold a customer's name, and the title is shown in channels.
    return (" ".join(common) or f"{len(cluster)} similar escalations")[:TITLE_LENGTH], common


def may_respond(actor: Actor, policy: Policy) -> bool:
    """Responders (by ID or user group) and supervisors run incidents."""
    incident = policy.incident
    if is_supervisor(actor, policy):
        return True
    if incident is None:
        return False
    return actor.user_id in incident.responders or (
        incident.usergroup is not None and incident.usergroup in actor.usergroups
    )


def check_responder(actor: Actor, policy: Policy) -> None:
    if not may_respond(actor, policy):
        raise Refused("Only the incident responders and the supervisors can do that.")


def parse_incident_reference(text: str) -> int | None:
    value = text.strip().upper().removeprefix(INCIDENT_PREFIX)
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None
