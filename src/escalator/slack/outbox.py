"""Delivering the outbox: messages that must reach Slack, tried until Slack takes them.

A service writes a message in the same transaction as the change it reports. After commit the
listener hands its id here; the scheduler in every worker also sweeps what is due, so a message
survives rate limits, Slack outages and restarts. A lease taken with a conditional UPDATE
makes each attempt belong to one worker only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from datetime import timedelta

from escalator.clock import Clock
from escalator.slack.gateway import SlackCallFailed
from escalator.store.database import Store, Transaction
from escalator.store.repositories import OutboxMessage

log = logging.getLogger(__name__)

# What a delivered message changes in the database, run in the transaction that marks it delivered.
# It returns the ids of the messages it queued next.
FollowUp = Callable[[Transaction], list[int]]
Handler = Callable[[OutboxMessage], FollowUp | None]


class DeliveryNotReady(Exception):
    """The message depends on one not delivered yet (a thread reply before its card): try again later."""


# A lease is this many Web API timeouts: enough for a delivery's few calls, so a live attempt keeps it,
# and short enough that a message held by a killed process is taken up again soon after a restart.
LEASE_IN_TIMEOUTS = 6
MAX_BACKOFF = timedelta(minutes=5)
# About a day of tries (the backoff reaches five minutes after eight): then it is given up, loudly.
MAX_ATTEMPTS = 300
BATCH = 50


class OutboxDispatcher:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        handlers: Mapping[str, Handler],
        api_timeout: float,
        on_delivered: Callable[[Transaction, OutboxMessage], None] | None = None,
        parallel: Executor | None = None,
    ) -> None:
        self._store = store
        # Slack answers in a tenth of a second or more: the delivery process sends several at once.
        # The claim keeps each escalation's messages of one kind in order all the same.
        self._parallel = parallel
        self._on_delivered = on_delivered
        self._lease = timedelta(seconds=api_timeout * LEASE_IN_TIMEOUTS)
        self._clock = clock
        self._handlers = dict(handlers)

    def deliver(self, message_ids: Iterable[int]) -> None:
        """Deliver these messages now, and whatever they queue next."""
        pending = list(message_ids)
        while pending:
            pending.extend(self._deliver_one(pending.pop(0)))

    def deliver_due(self) -> int:
        """One pass over every message that is due; returns how many were attempted."""
        with self._store.reading() as tx:
            due = tx.outbox.due_ids(self._clock.now(), BATCH)
        if self._parallel is None:
            self.deliver(due)
        else:
            list(self._parallel.map(lambda message_id: self.deliver([message_id]), due))
        return len(due)

    def _deliver_one(self, message_id: int) -> list[int]:
        with self._store.transaction() as tx:
            message = tx.outbox.claim(message_id, self._clock.now(), self._lease)
        if message is None:
            return []  # delivered, or another worker holds it
        handler = self._handlers.get(message.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for outbox message kind {message.kind!r}")
            follow_up = handler(message)
        except DeliveryNotReady as exc:
            self._retry_later(message, str(exc), None)
            return []
        except SlackCallFailed as exc:
            if exc.transient:
                self._retry_later(message, exc.error, exc.retry_after)
            else:
                log.error(
                    "gave up on outbox message %s (%s): Slack answered %s",
                    message.id,
                    message.kind,
                    exc.error,
                )
                with self._store.transaction() as tx:
                    tx.outbox.give_up(message.id, exc.error)
            return []
        except Exception as exc:  # a bug or the database: keep the message, try again later
            log.exception("outbox message %s (%s) failed", message.id, message.kind)
            self._retry_later(message, type(exc).__name__, None)
            return []
        try:
            with self._store.transaction() as tx:
                queued = follow_up(tx) if follow_up else []
                if self._on_delivered is not None:
                    self._on_delivered(tx, message)
                tx.outbox.mark_delivered(message.id, self._clock.now())
        except Exception:
            # Slack has it but we could not record that; the lease runs out and it is tried again.
            log.exception("outbox message %s (%s) was sent but not recorded", message.id, message.kind)
            return []
        return queued

    def _retry_later(self, message: OutboxMessage, error: str, retry_after: float | None) -> None:
        if message.attempts >= MAX_ATTEMPTS:
            log.error(
                "gave up on outbox message %s (%s) after %s attempts: %s",
                message.id,
                message.kind,
                message.attempts,
                error,
            )
            with self._store.transaction() as tx:
                tx.outbox.give_up(message.id, error)
            return
        if retry_after is not None:
            delay = timedelta(seconds=retry_after)
        else:
            delay = min(timedelta(seconds=2 ** min(message.attempts, 12)), MAX_BACKOFF)
        log.warning(
            "outbox message %s (%s) will be retried in %s: %s", message.id, message.kind, delay, error
        )
        with self._store.transaction() as tx:
            tx.outbox.retry_at(message.id, self._clock.now() + delay, error)
