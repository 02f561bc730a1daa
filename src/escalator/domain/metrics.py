"""How the process is measured: the seed's metrics, computed from facts the store hands over."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from escalator.domain.sla import Target


def median(values: list[timedelta]) -> timedelta | None:
    """The middle value (the mean of the two middle ones for an even count); None for no values."""
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def percentile(values: list[timedelta], share: float) -> timedelta | None:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


@dataclass(frozen=True)
class TargetFacts:
    """One escalation's one target: when it fell due, when it was met (if it was), whether it was missed."""

    due: datetime
    done_at: datetime | None
    breached: bool


def outcome(facts: TargetFacts, now: datetime) -> bool | None:
    """Met (True), missed (False), or still running (None)."""
    if facts.breached:
        return False
    if facts.done_at is not None:
        return facts.done_at <= facts.due
    return False if facts.due <= now else None


@dataclass(frozen=True)
class Attainment:
    met: int
    missed: int

    @property
    def share(self) -> float | None:
        decided = self.met + self.missed
        return self.met / decided if decided else None


def attainment(facts: list[TargetFacts], now: datetime) -> Attainment:
    outcomes = [outcome(f, now) for f in facts]
    return Attainment(met=outcomes.count(True), missed=outcomes.count(False))


TARGETS = tuple(Target)
