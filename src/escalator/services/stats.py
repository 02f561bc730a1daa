"""`/escalate stats`: this week's numbers for the caller's paths (all paths for supervisors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from escalator.clock import Clock
from escalator.domain.escalation import State
from escalator.domain.lifecycle import Actor, is_supervisor, works_on
from escalator.domain.metrics import Attainment, attainment, median
from escalator.domain.sla import Target
from escalator.policy import Policy
from escalator.services.digest import target_facts
from escalator.store.database import Store
from escalator.store.insight import Window


@dataclass(frozen=True)
class WeekStats:
    since: datetime
    paths: list[str]  # the path keys counted
    raised: int
    resolved: int
    closed: int
    in_progress: int  # open or claimed now
    acknowledge: Attainment
    acknowledge_median: timedelta | None
    resolve_median: timedelta | None
    csat_average: float | None
    csat_count: int


def paths_of(actor: Actor, policy: Policy) -> list[str]:
    """The paths a person sees numbers for: theirs as a specialist; all, for supervisors and everyone else."""
    if is_supervisor(actor, policy):
        return list(policy.paths)
    own = [key for key, path in policy.paths.items() if works_on(actor, path)]
    return own or list(policy.paths)


def week_stats(store: Store, policy: Policy, clock: Clock, actor: Actor) -> WeekStats:
    now = clock.now()
    local = now.astimezone(policy.zone)
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday, time(0), tzinfo=policy.zone)
    window = Window(monday, start, start + timedelta(days=7))
    paths = paths_of(actor, policy)
    with store.reading() as tx:
        q = tx.insight
        raised = [e for e in q.raised_in(window) if e.path_key in paths]
        claimed = [e for e in q.claimed_in(window) if e.path_key in paths]
        resolved = [e for e in q.resolved_in(window) if e.path_key in paths]
        closed = [e for e in q.closed_in(window) if e.path_key in paths]
        in_progress = sum(count for key, count in q.open_by_path().items() if key in paths)
    csat = [e.csat for e in closed if e.csat is not None]
    return WeekStats(
        since=start,
        paths=paths,
        raised=len(raised),
        resolved=len(resolved),
        closed=len(closed),
        in_progress=in_progress,
        acknowledge=attainment(
            [target_facts(e)[Target.acknowledge] for e in raised if e.state is not State.cancelled], now
        ),
        acknowledge_median=median([e.claimed_at - e.raised_at for e in claimed if e.claimed_at]),
        resolve_median=median([e.resolved_at - e.raised_at for e in resolved if e.resolved_at]),
        csat_average=sum(csat) / len(csat) if csat else None,
        csat_count=len(csat),
    )
