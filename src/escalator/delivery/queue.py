"""The outbox as the delivery engine works it: what is ready, taking a message (with its first turn of
Slack's limits), and how each try ends — delivered, later, or dead.

A try's ending counts only while the try still holds the message: should its lease run out (a try
slower than it may be), another try has taken the message over, and the first one's word is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from escalator.clock import Clock
from escalator.delivery.pacer import MAX_WAIT, Pacer
from escalator.delivery.poster import Sent
from escalator.domain.messages import Message
from escalator.store.database import Store, Transaction
from escalator.store.repositories import OutboxMessage

log = logging.getLogger(__name__)

Record = Callable[[Transaction, OutboxMessage, Sent], None]
OnDead = Callable[[Transaction, OutboxMessage, str], None]

# A lease is this many Web API timeouts, and the pacer's waits: enough for a delivery's few calls, so a
# live try keeps it, and short enough that a message held by a killed process is taken up again soon.
LEASE_IN_TIMEOUTS = 6


@dataclass(frozen=True)
class Taken:
    """A message held for one try, with its first call's turn. `key_failures`: its pace key's calls
    that failed in a row before (an outage this try may find over). No call of the try may start after
    `deadline`, so that none is still going when the lease runs out."""

    message: OutboxMessage
    key_failures: int
    deadline: datetime


@dataclass(frozen=True)
class NoTurn:
    """Slack's limits on the message's pace key let nothing through for `wait` seconds."""

    wait: float


class _Refused(Exception):
    def __init__(self, wait: float) -> None:
        self.wait = wait


class OutboxQueue:
    def __init__(self, store: Store, clock: Clock, pacer: Pacer, api_timeout: float, alerts_to: str) -> None:
        self._store = store
        self._clock = clock
        self._pacer = pacer
        self._lease = timedelta(seconds=api_timeout * LEASE_IN_TIMEOUTS + 3 * MAX_WAIT)
        self._last_call = timedelta(seconds=api_timeout + 1)  # the latest a call may start, before the end
        self._alerts_to = alerts_to

    def ready(self, limit: int, per_key: int) -> list[tuple[int, str]]:
        """(id, pace key) of the messages that can go now, most urgent first."""
        with self._store.reading() as tx:
            return tx.outbox.ready(self._clock.now(), limit, per_key)

    def take(self, message_id: int) -> Taken | NoTurn | None:
        """Hold the message for one try, together with its first call's turn: both or neither, in one
        transaction. None when it is not ready any more (another process took it, say)."""
        try:
            with self._store.transaction() as tx:
                message = tx.outbox.take(message_id, self._clock.now(), self._lease)
                if message is None:
                    return None
                turn = self._pacer.turn(tx, message.pace_key)
                if not turn.granted:
                    raise _Refused(turn.wait)  # and the message is not held either
                return Taken(message, turn.failures, message.lease_until - self._last_call)
        except _Refused as refused:
            return NoTurn(refused.wait)

    def delivered(self, message: OutboxMessage, sent: Sent | None, record: Record | None) -> None:
        with self._store.transaction() as tx:
            if not tx.outbox.mark_delivered(message.id, self._clock.now(), message.attempts):
                _overtaken(message)
                return
            if sent is not None:
                tx.outbox.record_post(message.id, sent.channel, sent.ts)
                if record is not None:
                    record(tx, message, sent)

    def later(self, message: OutboxMessage, at: datetime, error: str, *, doubt: bool, counts: bool) -> None:
        with self._store.transaction() as tx:
            if not tx.outbox.retry_at(message.id, message.attempts, at, error, doubt=doubt, counts=counts):
                _overtaken(message)

    def bury(self, message: OutboxMessage, error: str, on_dead: OnDead | None) -> None:
        """Kept as dead (for `escalator outbox`), and the supervisors told once, naming the case."""
        with self._store.transaction() as tx:
            if not tx.outbox.bury(message.id, error, message.attempts):
                _overtaken(message)
                return
            log.error(
                "gave up on outbox message %s (%s, %s): %s",
                message.id,
                message.kind.value,
                f"ESC-{message.escalation_id}" if message.escalation_id else message.lane,
                error,
            )
            if on_dead is not None:
                on_dead(tx, message, error)
            if message.kind is not Message.delivery_failed:  # an alert that fails is not alerted about
                tx.outbox.add(
                    Message.delivery_failed,
                    self._clock.now(),
                    message.escalation_id,
                    {"message": message.id},
                    to=self._alerts_to,
                )

    def next_wake(self) -> datetime | None:
        """When something not ready now may become ready: a message queued for later comes due, or a
        key holding back due messages lets calls through again."""
        now = self._clock.now()
        with self._store.reading() as tx:
            due = tx.outbox.next_due_after(now)
            keys = tx.outbox.waiting_keys(now)
        free = self._pacer.next_free(keys)
        times = [t for t in (due, free) if t is not None]
        return min(times) if times else None


def _overtaken(message: OutboxMessage) -> None:
    log.warning(
        "try %s of outbox message %s (%s) ended after its lease: the try that took it over decides",
        message.attempts,
        message.id,
        message.kind.value,
    )
