"""The queries behind the digest, the App Home and the exports. Aggregates run in SQL, over indexed
columns and one day's rows; nothing here reads the whole store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escalator.domain.escalation import Escalation, State
from escalator.domain.history import HistoryEntry
from escalator.domain.incidents import Incident
from escalator.store.inserts import insert_if_new
from escalator.store.tables import contact_volumes, digests, weekly_reports


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC: one day in the policy's timezone."""

    day: date
    start: datetime
    end: datetime


class InsightQueries:
    def __init__(self, session: Session) -> None:
        self._session = session

    def raised_counts(self, window: Window, column: str) -> dict[str, int]:
        """How many escalations were raised in the window, by `path_key`, `escalation_type` or `priority`."""
        group = getattr(Escalation, column)
        rows = self._session.execute(
            select(group, func.count())
            .where(Escalation.raised_at >= window.start, Escalation.raised_at < window.end)
            .group_by(group)
        )
        return {str(getattr(key, "value", key)): int(count) for key, count in rows}

    def count_between(self, column: str, window: Window) -> int:
        moment = getattr(Escalation, column)
        return int(
            self._session.scalar(
                select(func.count())
                .select_from(Escalation)
                .where(moment >= window.start, moment < window.end)
            )
            or 0
        )

    def raised_in(self, window: Window) -> list[Escalation]:
        """The day's escalations themselves: one day's rows, through the raised_at index."""
        return list(
            self._session.scalars(
                select(Escalation)
                .where(Escalation.raised_at >= window.start, Escalation.raised_at < window.end)
                .order_by(Escalation.id)
            )
        )

    def claimed_in(self, window: Window) -> list[Escalation]:
        return list(
            self._session.scalars(
                select(Escalation).where(
                    Escalation.claimed_at >= window.start, Escalation.claimed_at < window.end
                )
            )
        )

    def resolved_in(self, window: Window) -> list[Escalation]:
        return list(
            self._session.scalars(
                select(Escalation).where(
                    Escalation.resolved_at >= window.start, Escalation.resolved_at < window.end
                )
            )
        )

    def incidents_declared(self, window: Window) -> list[tuple[Incident, int]]:
        """The day's incidents, each with how many customers' cases are linked to it."""
        linked = (
            select(func.count())
            .where(Escalation.incident_id == Incident.id)
            .correlate(Incident)
            .scalar_subquery()
        )
        rows = self._session.execute(
            select(Incident, linked)
            .where(Incident.declared_at >= window.start, Incident.declared_at < window.end)
            .order_by(Incident.id)
        )
        return [(incident, int(count)) for incident, count in rows]

    def incidents_resolved(self, window: Window) -> list[Incident]:
        return list(
            self._session.scalars(
                select(Incident).where(
                    Incident.resolved_at >= window.start, Incident.resolved_at < window.end
                )
            )
        )

    def closed_in(self, window: Window) -> list[Escalation]:
        return list(
            self._session.scalars(
                select(Escalation).where(
                    Escalation.closed_at >= window.start, Escalation.closed_at < window.end
                )
            )
        )

    def open_unclaimed(self, limit: int = 20) -> tuple[list[Escalation], int]:
        """The oldest open, unclaimed escalations now, and how many there are in all."""
        waiting = select(Escalation).where(Escalation.state == State.open).order_by(Escalation.raised_at)
        total = self._session.scalar(
            select(func.count()).select_from(Escalation).where(Escalation.state == State.open)
        )
        return list(self._session.scalars(waiting.limit(limit))), int(total or 0)

    def open_by_path(self) -> dict[str, int]:
        """How many escalations are open or claimed now, by path."""
        rows = self._session.execute(
            select(Escalation.path_key, func.count())
            .where(Escalation.state.in_([State.open, State.claimed]))
            .group_by(Escalation.path_key)
        )
        return {key: int(count) for key, count in rows}

    def active_involving(self, user_id: str, limit: int) -> tuple[list[Escalation], list[Escalation]]:
        """Open, claimed or resolved escalations the person raised, and those they own."""
        active = Escalation.state.in_([State.open, State.claimed, State.resolved])
        raised = self._session.scalars(
            select(Escalation)
            .where(active, Escalation.agent_user_id == user_id)
            .order_by(Escalation.raised_at)
            .limit(limit)
        )
        owned = self._session.scalars(
            select(Escalation)
            .where(active, Escalation.owner_user_id == user_id)
            .order_by(Escalation.raised_at)
            .limit(limit)
        )
        return list(raised), list(owned)

    def active_breached(self, limit: int) -> list[Escalation]:
        breached = (
            Escalation.acknowledge_breached_at.is_not(None)
            | Escalation.first_update_breached_at.is_not(None)
            | Escalation.resolve_breached_at.is_not(None)
        )
        return list(
            self._session.scalars(
                select(Escalation)
                .where(breached, Escalation.state.in_([State.open, State.claimed]))
                .order_by(Escalation.raised_at)
                .limit(limit)
            )
        )

    def repeat_accounts(
        self, window: Window, today: list[Escalation], within: timedelta
    ) -> list[tuple[Escalation, Escalation]]:
        """Of `today` (the window's escalations), those whose account was escalated before, within
        `within`: (the most recent earlier one, this one). Reads those accounts' rows only."""
        accounts = {e.account_number for e in today}
        if not accounts:
            return []
        candidates = list(
            self._session.scalars(
                select(Escalation)
                .where(
                    Escalation.account_number.in_(accounts),
                    Escalation.raised_at >= window.start - within,
                    Escalation.raised_at < window.end,
                )
                .order_by(Escalation.raised_at, Escalation.id)
            )
        )
        by_account: dict[str, list[Escalation]] = {}
        for e in candidates:
            by_account.setdefault(e.account_number, []).append(e)
        pairs = []
        for later in today:
            earlier = [
                e
                for e in by_account[later.account_number]
                if later.raised_at - within <= e.raised_at < later.raised_at
            ]
            if earlier:
                pairs.append((earlier[-1], later))
        return pairs

    def actions_by_person(self, window: Window, action: str) -> Counter[str]:
        rows = self._session.execute(
            select(HistoryEntry.actor_user_id, func.count())
            .where(
                HistoryEntry.action == action, HistoryEntry.at >= window.start, HistoryEntry.at < window.end
            )
            .group_by(HistoryEntry.actor_user_id)
        )
        return Counter({user: int(count) for user, count in rows})

    def handoffs_by_path(self, window: Window) -> dict[str, int]:
        """The handoffs made in the window, by who held the case then (a path's key, or `supervisors`),
        most first."""
        rows = self._session.execute(
            select(HistoryEntry.from_path, func.count())
            .where(
                HistoryEntry.from_path.is_not(None),
                HistoryEntry.at >= window.start,
                HistoryEntry.at < window.end,
            )
            .group_by(HistoryEntry.from_path)
        )
        counts = {str(path): int(count) for path, count in rows}
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def callbacks_missed_in(self, window: Window) -> list[Escalation]:
        return list(
            self._session.scalars(
                select(Escalation)
                .where(
                    Escalation.callback_missed_at >= window.start, Escalation.callback_missed_at < window.end
                )
                .order_by(Escalation.callback_missed_at, Escalation.id)
            )
        )

    def contacts_on(self, day: date) -> int | None:
        return self._session.scalar(select(contact_volumes.c.contacts).where(contact_volumes.c.day == day))

    def record_contacts(self, day: date, contacts: int, now: datetime) -> None:
        existing = self._session.execute(select(contact_volumes).where(contact_volumes.c.day == day)).first()
        if existing:
            self._session.execute(
                contact_volumes.update()
                .where(contact_volumes.c.day == day)
                .values(contacts=contacts, recorded_at=now)
            )
        else:
            self._session.execute(
                contact_volumes.insert().values(day=day, contacts=contacts, recorded_at=now)
            )

    def any_digest(self) -> bool:
        return self._session.scalar(select(digests.c.day).limit(1)) is not None

    def start_digest(self, day: date, now: datetime) -> bool:
        """Record that the digest for `day` is being posted; False when a worker already did."""
        return insert_if_new(self._session, digests, day=day, started_at=now)

    def any_weekly_report(self) -> bool:
        return self._session.scalar(select(weekly_reports.c.week).limit(1)) is not None

    def start_weekly_report(self, week: date, now: datetime) -> bool:
        """Record that the report of the week starting `week` is being sent; False when a worker did."""
        return insert_if_new(self._session, weekly_reports, week=week, started_at=now)

    def raised_between(self, start: datetime, end: datetime) -> list[Escalation]:
        return list(
            self._session.scalars(
                select(Escalation)
                .where(Escalation.raised_at >= start, Escalation.raised_at < end)
                .order_by(Escalation.id)
            )
        )

    def resolve_times(self, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        """(raised_at, resolved_at) of the escalations resolved in a range: two columns, for a chart."""
        rows = self._session.execute(
            select(Escalation.raised_at, Escalation.resolved_at).where(
                Escalation.resolved_at >= since, Escalation.resolved_at < until
            )
        )
        return [(raised, resolved) for raised, resolved in rows]
