"""SLA targets: when each one falls due for an escalation, and how to say a duration to a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from escalator.domain.business_hours import add_business_time
from escalator.policy import Policy, Priority


@dataclass(frozen=True)
class SlaDeadlines:
    acknowledge_by: datetime
    first_update_by: datetime
    resolve_by: datetime


def sla_deadlines(raised_at: datetime, priority: Priority, policy: Policy) -> SlaDeadlines:
    """Each target runs from the moment the escalation is raised, in business time when the policy has hours.

    With business hours, each whole day of a target means one working day (`1d` on a 09:00–17:30
    day is 8.5 open hours), which is what a team means by "resolve within a day".
    """
    targets = policy.targets(priority)
    hours = policy.business_hours

    def due(duration: timedelta) -> datetime:
        if hours is not None:
            days, rest = divmod(duration, timedelta(days=1))
            duration = days * hours.length + rest
        return add_business_time(raised_at, duration, hours, policy.zone)

    return SlaDeadlines(
        acknowledge_by=due(targets.acknowledge),
        first_update_by=due(targets.first_update),
        resolve_by=due(targets.resolve),
    )


def humanize(duration: timedelta) -> str:
    """`15 min`, `2 h`, `1 h 30 min`, `1 day`, `3 days`, `45 s`."""
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day" + ("s" if days != 1 else ""))
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)
