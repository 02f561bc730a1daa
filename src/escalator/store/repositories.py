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
from escalator.domain.messages import Message, lane, pace_key
from escalator.store.inserts import insert_if_new
from escalator.store.tables import handled_requests, mutes, outbox, rate_limits, timers


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

    def record_card(
        self, escalation_id: int, version: int, channel_id: str, ts: str, problem: str | None
    ) -> bool:
        """Where the card landed, unless the case moved (or got a card) since it was rendered: then
        this card is stale, and False. One conditional UPDATE, so a move committed while the post was
        on its way is never undone."""
        recorded = self._session.execute(
            update(Escalation)
            .where(
                Escalation.id == escalation_id,
                Escalation.card_version == version,
                Escalation.card_ts.is_(None),
            )
            .values(card_channel_id=channel_id, card_ts=ts, delivery_problem=problem)
            .execution_options(synchronize_session=False)
        )
        return recorded.rowcount == 1

    def record_delivery_problem(self, escalation_id: int, version: int, problem: str) -> None:
        """No channel took the card: the agent's note says so, and to call a supervisor."""
        self._session.execute(
            update(Escalation)
            .where(Escalation.id == escalation_id, Escalation.card_version == version)
            .values(delivery_problem=problem)
            .execution_options(synchronize_session=False)
        )

    def record_conversation(self, escalation_id: int, channel_id: str) -> None:
        """The warm transfer's group DM."""
        self._session.execute(
            update(Escalation)
            .where(Escalation.id == escalation_id)
            .values(conversation_channel_id=channel_id)
            .execution_options(synchronize_session=False)
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


_EARLIER = outbox.alias("earlier")  # built once: taking a message is the outbox's hottest query
PENDING = "pending"
DELIVERED, DEAD, DROPPED = "delivered", "dead", "dropped"
_KINDS = frozenset(kind.value for kind in Message)


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    kind: Message
    escalation_id: int | None
    payload: dict[str, Any]
    lane: str
    pace_key: str
    attempts: int  # counting this one: which try this is
    failures: int  # tries before this one that count towards giving up
    doubt: bool  # an earlier try may have reached Slack: look before posting again
    created_at: datetime
    lease_until: datetime  # this try's hold on the message


@dataclass(frozen=True)
class DeadMessage:
    id: int
    kind: str
    escalation_id: int | None
    pace_key: str
    error: str | None
    attempts: int
    created_at: datetime
    status: str


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        kind=Message(row.kind),
        escalation_id=row.escalation_id,
        payload=dict(row.payload),
        lane=row.lane,
        pace_key=row.pace_key,
        attempts=row.attempts,
        failures=row.failures,
        doubt=bool(row.doubt),
        created_at=row.created_at,
        lease_until=row.lease_until,
    )


def _lane_head(now: datetime) -> Any:
    """Pending, due, held by nobody, and first of its lane still pending (in flight counts as pending)."""
    earlier = _EARLIER
    return (
        (outbox.c.status == PENDING)
        & (outbox.c.due_at <= now)
        & ((outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < now))
        & ~exists().where(
            earlier.c.lane == outbox.c.lane, earlier.c.status == PENDING, earlier.c.id < outbox.c.id
        )
    )


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self.added = 0  # messages queued in this transaction: its commit wakes the delivery process

    def add(
        self,
        kind: Message,
        due_at: datetime,
        escalation_id: int | None = None,
        payload: dict[str, Any] | None = None,
        *,
        to: str | None = None,
    ) -> int:
        """Queue a message; `to` is the channel or person a posted one goes to (it is paced by them)."""
        (queued,) = self.add_many(due_at, [(kind, escalation_id, payload or {}, to)])
        return queued

    def add_many(
        self, due_at: datetime, messages: list[tuple[Message, int | None, dict[str, Any], str | None]]
    ) -> list[int]:
        """Queue several messages (kind, escalation, payload, to) in one statement; their ids, in order
        (a lane delivers in id order)."""
        rows = [
            {
                "kind": kind.value,
                "escalation_id": escalation_id,
                "payload": payload,
                "status": PENDING,
                "created_at": due_at,
                "due_at": due_at,
                "attempts": 0,
                "failures": 0,
                "lane": lane(kind, escalation_id, payload),
                "priority": int(kind.urgency),
                "pace_key": pace_key(kind, to),
                "doubt": False,
            }
            for kind, escalation_id, payload, to in messages
        ]
        if not rows:
            return []
        result = self._session.execute(
            outbox.insert().returning(outbox.c.id, sort_by_parameter_order=True), rows
        )
        self.added += len(rows)
        return [int(queued) for queued in result.scalars()]

    def ready(self, now: datetime, limit: int, per_key: int) -> list[tuple[int, str]]:
        """The messages that can go now, most urgent first: heads of their lanes, whose pace key Slack's
        limits let through now, at most `per_key` of each key. Whatever else waits — behind a message
        being retried, for a paused channel — takes no place here, so it never holds up the rest."""
        limit_row = rate_limits.alias("limit_row")
        paced = (limit_row.c.key.is_(None)) | (
            (limit_row.c.paused_until <= now.timestamp())
            & (limit_row.c.tat - limit_row.c.tolerance <= now.timestamp())
        )
        nth = (
            func.row_number()
            .over(
                partition_by=outbox.c.pace_key,
                order_by=(outbox.c.priority, outbox.c.due_at, outbox.c.id),
            )
            .label("nth")
        )
        heads = (
            select(outbox.c.id, outbox.c.pace_key, outbox.c.priority, outbox.c.due_at, nth)
            .select_from(outbox.outerjoin(limit_row, limit_row.c.key == outbox.c.pace_key))
            .where(_lane_head(now), paced)
            .subquery()
        )
        rows = self._session.execute(
            select(heads.c.id, heads.c.pace_key)
            .where(heads.c.nth <= per_key)
            .order_by(heads.c.priority, heads.c.due_at, heads.c.id)
            .limit(limit)
        )
        return [(row.id, row.pace_key) for row in rows]

    def take(self, message_id: int, now: datetime, lease: timedelta) -> OutboxMessage | None:
        """Hold a ready message for `lease`; None when another process holds it, it is done, or an
        earlier message of its lane waits.

        A conditional UPDATE is atomic on SQLite and PostgreSQL alike, so of two processes taking the
        same message exactly one sees its row change. A lease still set from an earlier try means that
        try never said how it ended (its process died): it may have reached Slack.
        """
        taken = self._session.execute(
            update(outbox)
            .where(outbox.c.id == message_id, _lane_head(now))
            .values(
                lease_until=now + lease,
                attempts=outbox.c.attempts + 1,
                doubt=outbox.c.doubt | outbox.c.lease_until.is_not(None),
            )
        )
        if taken.rowcount != 1:
            return None
        row = self._session.execute(select(outbox).where(outbox.c.id == message_id)).one()
        if row.kind not in _KINDS:
            # Of a kind this version does not know (an older one's): kept for `escalator outbox`.
            self.bury(message_id, f"no such kind of message: {row.kind}"[:255])
            return None
        message = _message(row)
        if message.kind.latest_only:
            self._coalesce(message, now)
        return message

    def _coalesce(self, message: OutboxMessage, now: datetime) -> None:
        """The others of its kind waiting in its lane: this one, rendered from the state after their
        changes committed, shows them all."""
        self._session.execute(
            update(outbox)
            .where(
                outbox.c.lane == message.lane,
                outbox.c.kind == message.kind.value,
                outbox.c.status == PENDING,
                outbox.c.id > message.id,
                outbox.c.lease_until.is_(None),
            )
            .values(status=DELIVERED, delivered_at=now, last_error="coalesced")
        )

    def get(self, message_id: int) -> DeadMessage | None:
        row = self._session.execute(select(outbox).where(outbox.c.id == message_id)).first()
        return None if row is None else _dead(row)

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

    def posted_of_kind(self, escalation_id: int, kind: Message) -> list[tuple[str, str]]:
        """Every Slack message (channel, ts) of `kind` the outbox posted about this escalation."""
        rows = self._session.execute(
            select(outbox.c.posted_channel, outbox.c.posted_ts)
            .where(
                outbox.c.escalation_id == escalation_id,
                outbox.c.kind == kind.value,
                outbox.c.posted_ts.is_not(None),
            )
            .order_by(outbox.c.id)
        )
        return [(row.posted_channel, row.posted_ts) for row in rows]

    def delivered_post(self, lane_name: str, kind: Message) -> tuple[str, str] | None:
        """Where the last delivered message of `kind` in a lane landed."""
        row = self._session.execute(
            select(outbox.c.posted_channel, outbox.c.posted_ts)
            .where(
                outbox.c.lane == lane_name,
                outbox.c.kind == kind.value,
                outbox.c.status == DELIVERED,
                outbox.c.posted_ts.is_not(None),
            )
            .order_by(outbox.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else (row.posted_channel, row.posted_ts)

    def waiting_in(self, lane_name: str, kind: Message) -> bool:
        """Whether a message of `kind` is still to be delivered in a lane."""
        found = self._session.scalar(
            select(outbox.c.id)
            .where(outbox.c.lane == lane_name, outbox.c.kind == kind.value, outbox.c.status == PENDING)
            .limit(1)
        )
        return found is not None

    def mark_delivered(self, message_id: int, now: datetime, attempt: int) -> bool:
        """Delivered by try `attempt`; False (and nothing changed) when that try no longer holds the
        message — its lease ran out and another try took it, whose word counts."""
        done = self._session.execute(
            _held(message_id, attempt).values(
                status=DELIVERED, delivered_at=now, lease_until=None, last_error=None, doubt=False
            )
        )
        return done.rowcount == 1

    def retry_at(
        self, message_id: int, attempt: int, due_at: datetime, error: str, *, doubt: bool, counts: bool
    ) -> bool:
        """Try again at `due_at`. `doubt`: this try may have reached Slack; `counts`: it counts towards
        giving up (a rate limit or our own pacing does not)."""
        values: dict[str, Any] = {"due_at": due_at, "lease_until": None, "last_error": error[:255]}
        values["doubt"] = outbox.c.doubt | doubt
        if counts:
            values["failures"] = outbox.c.failures + 1
        return self._session.execute(_held(message_id, attempt).values(**values)).rowcount == 1

    def bury(self, message_id: int, error: str, attempt: int | None = None) -> bool:
        """Refused for good, or out of tries: kept as dead, for `escalator outbox` to list or retry."""
        query = (
            _held(message_id, attempt)
            if attempt is not None
            else update(outbox).where(outbox.c.id == message_id)
        )
        done = self._session.execute(query.values(status=DEAD, lease_until=None, last_error=error[:255]))
        return done.rowcount == 1

    def dead(self, *, waiting: bool = False) -> list[DeadMessage]:
        """Dead messages (or, `waiting`, the pending ones), oldest first."""
        status = PENDING if waiting else DEAD
        rows = self._session.execute(select(outbox).where(outbox.c.status == status).order_by(outbox.c.id))
        return [_dead(row) for row in rows]

    def revive(self, message_ids: list[int] | None) -> list[int]:
        """Dead messages (all, when `message_ids` is None) back in the queue with new tries: due at once,
        since the time they were last due has passed."""
        query = update(outbox).where(outbox.c.status == DEAD)
        if message_ids is not None:
            query = query.where(outbox.c.id.in_(message_ids))
        revived = self._session.execute(
            query.values(status=PENDING, failures=0, last_error=None).returning(outbox.c.id)
        )
        ids = sorted(row.id for row in revived)
        self.added += len(ids)
        return ids

    def drop(self, message_ids: list[int] | None, now: datetime) -> list[int]:
        query = update(outbox).where(outbox.c.status == DEAD)
        if message_ids is not None:
            query = query.where(outbox.c.id.in_(message_ids))
        dropped = self._session.execute(query.values(status=DROPPED, delivered_at=now).returning(outbox.c.id))
        return sorted(row.id for row in dropped)

    def next_due_after(self, now: datetime) -> datetime | None:
        """When the soonest message queued for later comes due."""
        return self._session.scalar(
            select(func.min(outbox.c.due_at)).where(outbox.c.status == PENDING, outbox.c.due_at > now)
        )

    def waiting_keys(self, now: datetime) -> list[str]:
        """The pace keys of messages that are due: those a paused key holds back among them."""
        return list(
            self._session.scalars(
                select(outbox.c.pace_key).where(outbox.c.status == PENDING, outbox.c.due_at <= now).distinct()
            )
        )


def _held(message_id: int, attempt: int) -> Any:
    """An UPDATE of a pending message that try `attempt` still holds (the attempts count went up with
    every take since)."""
    return update(outbox).where(
        outbox.c.id == message_id, outbox.c.status == PENDING, outbox.c.attempts == attempt
    )


def _dead(row: Any) -> DeadMessage:
    return DeadMessage(
        row.id,
        row.kind,
        row.escalation_id,
        row.pace_key,
        row.last_error,
        row.attempts,
        row.created_at,
        row.status,
    )


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
        rows = [_pending_timer(escalation_id, kind, due_at, payload) for kind, due_at, payload in planned]
        if rows:
            self._session.execute(timers.insert(), rows)

    def add_for_each(
        self, escalation_ids: Iterable[int], kind: str, due_at: datetime, payload: dict[str, Any]
    ) -> None:
        """The same timer for each of several cases, in one statement."""
        rows = [_pending_timer(escalation_id, kind, due_at, payload) for escalation_id in escalation_ids]
        if rows:
            self._session.execute(timers.insert(), rows)

    def next_due(
        self, now: datetime, passed_over: set[int], kinds: Iterable[str] | None = None
    ) -> Timer | None:
        """The earliest due timer (of `kinds`, when given), not locked: the caller locks its case first,
        then the timer, in the order every other change takes them. Reads only pending rows, through the
        (status, due_at) index."""
        query = select(timers).where(timers.c.status == "pending", timers.c.due_at <= now)
        if kinds is not None:
            query = query.where(timers.c.kind.in_(list(kinds)))
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


def _pending_timer(
    escalation_id: int, kind: str, due_at: datetime, payload: dict[str, Any]
) -> dict[str, Any]:
    return {
        "escalation_id": escalation_id,
        "kind": kind,
        "due_at": due_at,
        "status": "pending",
        "payload": payload,
        "attempts": 0,
    }
