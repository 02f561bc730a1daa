"""SLA targets: when each one falls due for an escalation, and how to say a duration to a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from escalator.domain.business_hours import add_business_time
from escalator.policy import Policy, Priority

NUDGE_AT = 0.75  # the share of a target after which its owners are nudged


class Target(StrEnum):
    acknowledge = "acknowledge"
    first_update = "first_update"
    resolve = "resolve"


@dataclass(frozen=True)
class SlaDeadlines:
    acknowledge_by: datetime
    first_update_by: datetime
    resolve_by: datetime

    def of(self, target: Target) -> datetime:
        return getattr(self, f"{target.value}_by")


def target_moments(start: datetime, duration: timedelta, policy: Policy) -> tuple[datetime, datetime]:
    """When to nudge (at 75 %) and when the target is breached, for a target of `duration` from `start`.

    Counted in business time when the policy has hours; then each whole day of a target means one
    working day (`1d` on a 09:00–17:30 day is 8.5 open hours), which is what a team means by
    "resolve within a day".
    """
    hours = policy.business_hours
    if hours is not None:
        days, rest = divmod(duration, timedelta(days=1))
        duration = days * hours.length + rest
    nudge = add_business_time(start, duration * NUDGE_AT, hours, policy.zone)
    return nudge, add_business_time(start, duration, hours, policy.zone)


def sla_deadlines(raised_at: datetime, priority: Priority, policy: Policy) -> SlaDeadlines:
    """Each target runs from the moment the escalation is raised."""
    targets = policy.targets(priority)
    return SlaDeadlines(
        acknowledge_by=target_moments(raised_at, targets.acknowledge, policy)[1],
        first_update_by=target_moments(raised_at, targets.first_update, policy)[1],
        resolve_by=target_moments(raised_at, targets.resolve, policy)[1],
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
