"""Repositories: the queries each use case needs, and nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from escalator.domain.escalation import Escalation, State
from escalator.domain.history import HistoryEntry
from escalator.store.inserts import insert_if_new
from escalator.store.tables import handled_requests, mutes, outbox, timers


class EscalationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, escalation: Escalation) -> Escalation:
        self._session.add(escalation)
        self._session.flush()  # assigns the id people will say aloud
        return escalation

    def get(self, escalation_id: int) -> Escalation | None:
        return self._session.get(Escalation, escalation_id)

    def get_for_update(self, escalation_id: int) -> Escalation | None:
        """The escalation, locked until the transaction ends, so two changes never interleave.

        PostgreSQL takes a row lock; SQLite's write transactions are already one at a time.
        """
        return self._session.scalars(
            select(Escalation)
            .where(Escalation.id == escalation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()

    def by_idempotency_key(self, key: str) -> Escalation | None:
        return self._session.scalars(select(Escalation).where(Escalation.idempotency_key == key)).first()

    def finished_before(self, cutoff: datetime) -> list[int]:
        """Closed or cancelled cases last touched before `cutoff` whose personal details are still kept."""
        finished = func.coalesce(Escalation.closed_at, Escalation.resolved_at, Escalation.raised_at)
        return list(
            self._session.scalars(
                select(Escalation.id)
                .where(
                    Escalation.state.in_((State.closed, State.cancelled)),
                    Escalation.personal_data_removed_at.is_(None),
                    finished < cutoff,
                )
                .order_by(Escalation.id)
            )
        )

    def ids_by_account(self, account_number: str) -> list[int]:
        return list(
            self._session.scalars(
                select(Escalation.id)
                .where(Escalation.account_number == account_number)
                .order_by(Escalation.id)
            )
        )

    def id_by_card(self, channel_id: str, ts: str) -> int | None:
        """Which escalation a card message shows, if any."""
        return self._session.scalar(
            select(Escalation.id).where(Escalation.card_channel_id == channel_id, Escalation.card_ts == ts)
        )


class HistoryRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self.added: list[HistoryEntry] = []  # this transaction's changes, logged once it commits

    def add(self, entry: HistoryEntry) -> HistoryEntry:
        self._session.add(entry)
        self._session.flush()
        self.added.append(entry)
        return entry

    def get(self, entry_id: int) -> HistoryEntry | None:
        return self._session.get(HistoryEntry, entry_id)

    def of(self, escalation_id: int) -> list[HistoryEntry]:
        return list(
            self._session.scalars(
                select(HistoryEntry)
                .where(HistoryEntry.escalation_id == escalation_id)
                .order_by(HistoryEntry.id)
            )
        )


class HandledRequests:
    """Keys of requests already acted on, so a redelivered one changes nothing, across all workers."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def first_time(self, key: str, now: datetime) -> bool:
        """Record `key`; False when it was already recorded (by this or a concurrent transaction)."""
        return insert_if_new(self._session, handled_requests, key=key[:255], at=now)


_EARLIER = outbox.alias("earlier")  # built once: claiming is the outbox's hottest query


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    kind: str
    escalation_id: int | None
    payload: dict[str, Any]
    attempts: int  # counting this one: more than 1 means an earlier attempt may have reached Slack
    created_at: datetime


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        kind: str,
        due_at: datetime,
        escalation_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> int:
        result = self._session.execute(
            outbox.insert()
            .values(
                kind=kind,
                escalation_id=escalation_id,
                payload=payload or {},
                status="pending",
                created_at=due_at,
                due_at=due_at,
                attempts=0,
            )
            .returning(outbox.c.id)
        )
        return int(result.scalar_one())

    def due_ids(self, now: datetime, limit: int) -> list[int]:
        rows = self._session.execute(
            select(outbox.c.id)
            .where(outbox.c.status == "pending", outbox.c.due_at <= now)
            .where((outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < now))
            .order_by(outbox.c.due_at, outbox.c.id)
            .limit(limit)
        )
        return [row.id for row in rows]

    def claim(self, message_id: int, now: datetime, lease: timedelta) -> OutboxMessage | None:
        """Take a due message for `lease`; None when another process holds it or it is done.

        A conditional UPDATE is atomic on SQLite and PostgreSQL alike, so of two workers claiming
        the same message exactly one sees its row change. Only the oldest pending message of its
        escalation and kind can be claimed.
        """
        earlier = _EARLIER
        claimed = self._session.execute(
            update(outbox)
            .where(
                outbox.c.id == message_id,
                outbox.c.status == "pending",
                outbox.c.due_at <= now,
                (outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < now),
                # One at a time, in order, per escalation and kind: card updates never overtake each
                # other, thread notes keep their order.
                ~exists().where(
                    earlier.c.escalation_id == outbox.c.escalation_id,
                    earlier.c.kind == outbox.c.kind,
                    earlier.c.status == "pending",
                    earlier.c.id < outbox.c.id,
                ),
            )
            .values(lease_until=now + lease, attempts=outbox.c.attempts + 1)
        )
        if claimed.rowcount != 1:
            return None
        row = self._session.execute(select(outbox).where(outbox.c.id == message_id)).one()
        return OutboxMessage(
            row.id, row.kind, row.escalation_id, dict(row.payload), row.attempts, row.created_at
        )

    def record_post(self, message_id: int, channel: str, ts: str) -> None:
        self._session.execute(
            update(outbox).where(outbox.c.id == message_id).values(posted_channel=channel, posted_ts=ts)
        )

    def posted_by(self, escalation_id: int) -> list[tuple[str, str]]:
        """Every Slack message (channel, ts) the outbox posted about this escalation."""
        rows = self._session.execute(
            select(outbox.c.posted_channel, outbox.c.posted_ts)
            .where(outbox.c.escalation_id == escalation_id, outbox.c.posted_ts.is_not(None))
            .order_by(outbox.c.id)
        )
        return [(row.posted_channel, row.posted_ts) for row in rows]

    def mark_delivered(self, message_id: int, now: datetime) -> None:
        self._session.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .values(status="delivered", delivered_at=now, lease_until=None, last_error=None)
        )

    def retry_at(self, message_id: int, due_at: datetime, error: str) -> None:
        self._session.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .values(due_at=due_at, lease_until=None, last_error=error[:255])
        )

    def give_up(self, message_id: int, error: str) -> None:
        self._session.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .values(status="failed", lease_until=None, last_error=error[:255])
        )

    def newer_pending(self, message: OutboxMessage, *, for_user: bool = False) -> bool:
        """Whether a later message of the same kind waits, for the same escalation (or, `for_user`, for
        the same person in the payload, whatever the escalation): it supersedes this one."""
        later = select(outbox.c.id).where(
            outbox.c.kind == message.kind, outbox.c.status == "pending", outbox.c.id > message.id
        )
        if for_user:
            later = later.where(outbox.c.payload["user"].as_string() == str(message.payload["user"]))
        else:
            later = later.where(outbox.c.escalation_id == message.escalation_id)
        return self._session.scalar(later.limit(1)) is not None


@dataclass(frozen=True)
class Timer:
    id: int
    escalation_id: int
    kind: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int


def _timer(row: Any) -> Timer:
    return Timer(row.id, row.escalation_id, row.kind, row.due_at, dict(row.payload), row.attempts)


class TimerRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self, escalation_id: int, kind: str, due_at: datetime, payload: dict[str, Any] | None = None
    ) -> int:
        result = self._session.execute(
            timers.insert()
            .values(
                escalation_id=escalation_id,
                kind=kind,
                due_at=due_at,
                status="pending",
                payload=payload or {},
                attempts=0,
            )
            .returning(timers.c.id)
        )
        return int(result.scalar_one())

    def add_many(self, escalation_id: int, planned: Iterable[tuple[str, datetime, dict[str, Any]]]) -> None:
        """Several timers of one case in one statement: a new case's clocks are set while its form waits."""
        rows = [
            {
                "escalation_id": escalation_id,
                "kind": kind,
                "due_at": due_at,
                "status": "pending",
                "payload": payload,
                "attempts": 0,
            }
            for kind, due_at, payload in planned
        ]
        if rows:
            self._session.execute(timers.insert(), rows)

    def next_due(self, now: datetime, passed_over: set[int]) -> Timer | None:
        """The earliest due timer, not locked: the caller locks its case first, then the timer, in the
        order every other change takes them. Reads only pending rows, through the (status, due_at) index."""
        query = select(timers).where(timers.c.status == "pending", timers.c.due_at <= now)
        if passed_over:
            query = query.where(timers.c.id.notin_(passed_over))
        row = self._session.execute(query.order_by(timers.c.due_at, timers.c.id).limit(1)).first()
        return None if row is None else _timer(row)

    def lock_if_pending(self, timer_id: int) -> Timer | None:
        """The timer, locked for this transaction, if it is still pending and no other worker holds it."""
        row = self._session.execute(
            select(timers)
            .where(timers.c.id == timer_id, timers.c.status == "pending")
            .with_for_update(skip_locked=True)
        ).first()
        return None if row is None else _timer(row)

    def fired(self, timer_id: int, now: datetime) -> None:
        self._session.execute(
            update(timers).where(timers.c.id == timer_id).values(status="fired", fired_at=now)
        )

    def retry_at(self, timer_id: int, due_at: datetime, error: str) -> None:
        self._session.execute(
            update(timers)
            .where(timers.c.id == timer_id, timers.c.status == "pending")
            .values(due_at=due_at, attempts=timers.c.attempts + 1, last_error=error[:255])
        )

    def cancel(self, escalation_id: int, kinds: Iterable[str]) -> None:
        self._session.execute(
            update(timers)
            .where(
                timers.c.escalation_id == escalation_id,
                timers.c.kind.in_(list(kinds)),
                timers.c.status == "pending",
            )
            .values(status="cancelled")
        )

    def pending(self, escalation_id: int) -> list[Timer]:
        return self.pending_for([escalation_id]).get(escalation_id, [])

    def pending_for(self, escalation_ids: list[int]) -> dict[int, list[Timer]]:
        """The pending timers of these escalations, by escalation, soonest first."""
        found: dict[int, list[Timer]] = {}
        if not escalation_ids:
            return found
        rows = self._session.execute(
            select(timers)
            .where(timers.c.escalation_id.in_(escalation_ids), timers.c.status == "pending")
            .order_by(timers.c.due_at, timers.c.id)
        )
        for row in rows:
            found.setdefault(row.escalation_id, []).append(_timer(row))
        return found


class MuteRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def mute(self, escalation_id: int, user_id: str, now: datetime) -> None:
        insert_if_new(self._session, mutes, escalation_id=escalation_id, user_id=user_id, at=now)

    def muted_among(self, escalation_ids: list[int], user_id: str) -> set[int]:
        if not escalation_ids:
            return set()
        return set(
            self._session.scalars(
                select(mutes.c.escalation_id).where(
                    mutes.c.escalation_id.in_(escalation_ids), mutes.c.user_id == user_id
                )
            )
        )

    def is_muted(self, escalation_id: int, user_id: str) -> bool:
        return (
            self._session.scalar(
                select(mutes.c.user_id).where(
                    mutes.c.escalation_id == escalation_id, mutes.c.user_id == user_id
                )
            )
            is not None
        )
