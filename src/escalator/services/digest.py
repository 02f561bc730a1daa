"""The supervisors' daily digest: yesterday's numbers and the open work now, posted once a day."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from escalator.clock import Clock
from escalator.domain.escalation import Escalation, State
from escalator.domain.messages import Message
from escalator.domain.metrics import Attainment, TargetFacts, attainment, median, outcome, percentile
from escalator.domain.sla import Target
from escalator.policy import Policy, Priority
from escalator.store.database import Store, Transaction
from escalator.store.insight import Window

REPEAT_WITHIN = timedelta(days=30)
TOP = 5


@dataclass(frozen=True)
class SpecialistLoad:
    user_id: str
    claimed: int
    resolved: int
    median_resolve: timedelta | None


@dataclass(frozen=True)
class DayTrend:
    day: date
    raised: int
    resolved: int
    median_resolve: timedelta | None


@dataclass(frozen=True)
class IncidentFigures:
    declared: list[str]  # the day's incidents, by reference
    customers_affected: int  # cases linked to them
    resolved: int
    resolve_median: timedelta | None  # declared → resolved, for those resolved that day


@dataclass(frozen=True)
class KeyAccountFigures:
    """The day's key-account escalations, counted apart: how many, by tier, and those that missed a
    target."""

    raised: int
    by_tier: dict[str, int]
    breaches: list[Escalation]


@dataclass(frozen=True)
class Digest:
    day: date
    raised: int
    raised_by_path: dict[str, int]
    raised_by_type: dict[str, int]
    raised_by_priority: dict[str, int]
    resolved: int
    closed: int
    open_unclaimed: list[Escalation]
    open_unclaimed_total: int
    attainment: dict[Priority, dict[Target, Attainment]]
    breaches: list[tuple[Escalation, list[Target]]]
    acknowledge_median: timedelta | None
    acknowledge_p90: timedelta | None
    resolve_median: timedelta | None
    resolve_p90: timedelta | None
    repeat_contacts: list[tuple[Escalation, Escalation]]
    csat_average: float | None
    csat_count: int
    loops_closed: int  # of the cases resolved that day, how many are closed now
    loops_resolved: int
    contacts: int | None
    top_triggers: list[tuple[str, int]]
    slowest_path: tuple[str, timedelta] | None
    specialists: list[SpecialistLoad] = field(default_factory=list)
    incidents: IncidentFigures | None = None
    key_accounts: KeyAccountFigures | None = None  # with key_accounts in the policy
    handed_off_repeatedly: int = 0  # of the day's cases, those handed off more than once
    passed_on: dict[str, int] = field(default_factory=dict)  # the day's handoffs, by who passed them on
    missed_callbacks: list[Escalation] = field(default_factory=list)  # found missed that day

    @property
    def quiet(self) -> bool:
        """Nothing raised, resolved or closed that day, and no callback missed."""
        return self.raised == 0 and self.resolved == 0 and self.closed == 0 and not self.missed_callbacks

    @property
    def escalation_rate(self) -> float | None:
        return self.raised / self.contacts if self.contacts else None

    @property
    def first_contact_resolution(self) -> float | None:
        """The share of contacts solved without an escalation."""
        return (self.contacts - self.raised) / self.contacts if self.contacts else None


def record_contacts(store: Store, clock: Clock, day: date, contacts: int) -> None:
    """How many contacts the team handled on `day` (the phone system's or help desk's count); replaces
    an earlier count for that day."""
    if contacts < 0:
        raise ValueError("a contact count is zero or more")
    with store.transaction() as tx:
        tx.insight.record_contacts(day, contacts, clock.now())


def yesterday(now: datetime, policy: Policy) -> date:
    return now.astimezone(policy.zone).date() - timedelta(days=1)


def day_window(day: date, policy: Policy) -> Window:
    zone = policy.zone
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return Window(day, start, end)


class Digests:
    def __init__(self, store: Store, policy: Policy, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock

    def due_day(self, now: datetime, first_run: bool = False) -> date | None:
        """The day the latest digest that has come due covers (the day before its posting day).

        Before today's posting time that is yesterday's digest, which a worker that was down then
        catches up; a brand-new install waits for today's instead.
        """
        if self._policy.digest is None:
            return None
        local = now.astimezone(self._policy.zone)
        if local.time() >= self._policy.digest.at:
            return local.date() - timedelta(days=1)
        return None if first_run else local.date() - timedelta(days=2)

    def start_if_due(self) -> list[int]:
        """Once per day across all workers: leave the digest for delivery. A missed one is caught up once."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            day = self.due_day(now, first_run=not tx.insight.any_digest())
            if day is None or not tx.insight.start_digest(day, now):
                return []
            return self._queue(tx, day, now)

    def queue(self, day: date) -> list[int]:
        """A digest asked for by hand (`escalator digest`): left for delivery as the scheduled one is,
        chart included; the scheduler will not post that day's again."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            tx.insight.start_digest(day, now)
            return self._queue(tx, day, now)

    def _queue(self, tx: Transaction, day: date, now: datetime) -> list[int]:
        # The digest, then its chart in the digest's thread.
        payload = {"day": day.isoformat()}
        assert self._policy.digest is not None
        return [
            tx.outbox.add(Message.post_digest, now, None, payload, to=self._policy.digest.channel),
            tx.outbox.add(Message.post_digest_chart, now, None, payload),
        ]

    def record_contacts(self, day: date, contacts: int) -> None:
        record_contacts(self._store, self._clock, day, contacts)

    def trend(self, last_day: date, days: int = 14) -> list[DayTrend]:
        """Raised and resolved per day, and the median time to resolve, for the chart."""
        windows = [
            day_window(last_day - timedelta(days=offset), self._policy) for offset in range(days - 1, -1, -1)
        ]
        zone = self._policy.zone
        with self._store.reading() as tx:
            raised = [tx.insight.count_between("raised_at", w) for w in windows]
            resolved = tx.insight.resolve_times(windows[0].start, windows[-1].end)
        resolve_times: dict[date, list[timedelta]] = defaultdict(list)
        for raised_at, resolved_at in resolved:
            resolve_times[resolved_at.astimezone(zone).date()].append(resolved_at - raised_at)
        return [
            DayTrend(w.day, count, len(resolve_times[w.day]), median(resolve_times[w.day]))
            for w, count in zip(windows, raised, strict=True)
        ]

    def build(self, day: date) -> Digest:
        now = self._clock.now()
        window = day_window(day, self._policy)
        with self._store.reading() as tx:
            q = tx.insight
            raised = q.raised_in(window)
            claimed = q.claimed_in(window)
            resolved = q.resolved_in(window)
            closed = q.closed_in(window)
            waiting, waiting_total = q.open_unclaimed()
            repeats = q.repeat_accounts(window, raised, REPEAT_WITHIN)
            claims, resolves = q.actions_by_person(window, "claim"), q.actions_by_person(window, "resolve")
            contacts = q.contacts_on(day)
            declared = q.incidents_declared(window)
            fixed = q.incidents_resolved(window)
            passed_on = q.handoffs_by_path(window)
            missed_callbacks = q.callbacks_missed_in(window)
        resolve_times = [e.resolved_at - e.raised_at for e in resolved if e.resolved_at]
        csat = [e.csat for e in closed if e.csat is not None]
        return Digest(
            day=day,
            raised=len(raised),
            raised_by_path=_count(e.path_key for e in raised),
            raised_by_type=_count(e.escalation_type.value for e in raised),
            raised_by_priority=_count(e.priority.value for e in raised),
            resolved=len(resolved),
            closed=len(closed),
            open_unclaimed=waiting,
            open_unclaimed_total=waiting_total,
            attainment=_attainment(raised, now),
            breaches=_breaches(raised, now),
            acknowledge_median=median([e.claimed_at - e.raised_at for e in claimed if e.claimed_at]),
            acknowledge_p90=percentile([e.claimed_at - e.raised_at for e in claimed if e.claimed_at], 0.9),
            resolve_median=median(resolve_times),
            resolve_p90=percentile(resolve_times, 0.9),
            repeat_contacts=repeats,
            csat_average=sum(csat) / len(csat) if csat else None,
            csat_count=len(csat),
            loops_closed=sum(1 for e in resolved if e.closed_at is not None),
            loops_resolved=len(resolved),
            contacts=contacts,
            top_triggers=Counter(w for e in raised for w in e.trigger_words).most_common(TOP),
            slowest_path=_slowest_path(resolved),
            specialists=_specialists(claims, resolves, resolved),
            incidents=IncidentFigures(
                declared=[incident.reference for incident, _ in declared],
                customers_affected=sum(count for _, count in declared),
                resolved=len(fixed),
                resolve_median=median([i.resolved_at - i.declared_at for i in fixed if i.resolved_at]),
            )
            if declared or fixed
            else None,
            key_accounts=_key_accounts(raised, now) if self._policy.key_accounts else None,
            handed_off_repeatedly=sum(1 for e in raised if e.handoffs > 1),
            passed_on=passed_on,
            missed_callbacks=missed_callbacks,
        )


def _count(values) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return dict(Counter(values).most_common())


def target_facts(e: Escalation) -> dict[Target, TargetFacts]:
    """Each SLA target of a case as the metrics see it. Resolving a case also acknowledges it and
    gives it its first update (a supervisor may resolve straight from the queue)."""
    acknowledged = min((t for t in (e.claimed_at, e.resolved_at) if t), default=None)
    updated = min((t for t in (e.first_update_at, e.resolved_at) if t), default=None)
    return {
        Target.acknowledge: TargetFacts(
            e.acknowledge_by, acknowledged, e.acknowledge_breached_at is not None
        ),
        Target.first_update: TargetFacts(e.first_update_by, updated, e.first_update_breached_at is not None),
        Target.resolve: TargetFacts(e.resolve_by, e.resolved_at, e.resolve_breached_at is not None),
    }


def _attainment(raised: list[Escalation], now: datetime) -> dict[Priority, dict[Target, Attainment]]:
    by_priority: dict[Priority, list[Escalation]] = defaultdict(list)
    for e in _measured(raised):
        by_priority[e.priority].append(e)
    return {
        priority: {target: attainment([target_facts(e)[target] for e in cases], now) for target in Target}
        for priority, cases in sorted(by_priority.items())
    }


def _breaches(raised: list[Escalation], now: datetime) -> list[tuple[Escalation, list[Target]]]:
    missed = []
    for e in _measured(raised):
        targets = [target for target, facts in target_facts(e).items() if outcome(facts, now) is False]
        if targets:
            missed.append((e, targets))
    return missed


def _key_accounts(raised: list[Escalation], now: datetime) -> KeyAccountFigures:
    key = [e for e in raised if e.key_account_tier is not None]
    breached = {e.id for e, _ in _breaches(key, now)}
    return KeyAccountFigures(
        raised=len(key),
        by_tier=_count(e.key_account_tier for e in key),
        breaches=[e for e in key if e.id in breached],
    )


def _measured(escalations: list[Escalation]) -> list[Escalation]:
    """Cancelled cases have no SLA to meet or miss."""
    return [e for e in escalations if e.state is not State.cancelled]


def _slowest_path(resolved: list[Escalation]) -> tuple[str, timedelta] | None:
    by_path: dict[str, list[timedelta]] = defaultdict(list)
    for e in resolved:
        if e.resolved_at:
            by_path[e.path_key].append(e.resolved_at - e.raised_at)
    medians = {path: median(times) for path, times in by_path.items()}
    slowest = max(medians.items(), key=lambda item: item[1] or timedelta(0), default=None)
    return (slowest[0], slowest[1]) if slowest and slowest[1] is not None else None


def _specialists(
    claims: Counter[str], resolves: Counter[str], resolved: list[Escalation]
) -> list[SpecialistLoad]:
    times: dict[str, list[timedelta]] = defaultdict(list)
    for e in resolved:
        if e.owner_user_id and e.resolved_at:
            times[e.owner_user_id].append(e.resolved_at - e.raised_at)
    people = sorted(set(claims) | set(resolves), key=lambda u: (-claims[u], -resolves[u], u))
    return [SpecialistLoad(u, claims[u], resolves[u], median(times.get(u, []))) for u in people]
