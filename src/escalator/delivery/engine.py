"""The delivery engine: one pass hands every ready message to a sender, most urgent first, and each
try of a message ends delivered, later, or dead.

A pass looks at the heads of lanes whose pace key Slack's limits let through now, a few per key, so a
backlog in one channel takes no turn from another. Taking a message takes its first call's turn with
it: a message is only held while it can go.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from escalator.clock import Clock
from escalator.delivery.handlers import Handler
from escalator.delivery.pacer import Paced, Pacer, outage_backoff
from escalator.delivery.queue import NoTurn, OutboxQueue, Taken
from escalator.domain.messages import Message
from escalator.slack.gateway import SlackCallFailed
from escalator.store.repositories import OutboxMessage

log = logging.getLogger(__name__)

BATCH = 100  # messages one pass looks at
# Of one pace key, as many as it can let through at once (a post burst): a pass skips the rest anyway.
PER_KEY = 3
# Failures before a message is given up: with outage_backoff, about a day of trying (an hour at 10 s,
# then every 5 minutes). A 429 or our own pacing never counts.
MAX_FAILURES = 640


class Engine:
    def __init__(
        self,
        queue: OutboxQueue,
        pacer: Pacer,
        handlers: Mapping[Message, Handler],
        clock: Clock,
        senders: Executor | None = None,
        sender_count: int = 1,
        on_done: Callable[[], None] = lambda: None,
    ) -> None:
        """With `senders`, a pass hands messages to them (up to `sender_count` at once) and returns;
        `on_done` is told each time one finishes, since its lane may have a next message ready.
        Without, a pass sends each message itself."""
        self._queue = queue
        self._pacer = pacer
        self._handlers = dict(handlers)
        self._clock = clock
        self._senders = senders
        self._free_senders = threading.BoundedSemaphore(sender_count)
        self._on_done = on_done

    def deliver(self, message_ids: Iterable[int]) -> None:
        """Deliver these messages now, in order, here, as far as Slack's limits and their lanes allow
        (the rest wait for a pass, as does everything if the database fails meanwhile)."""
        try:
            for message_id in message_ids:
                taken = self._queue.take(message_id)
                if isinstance(taken, Taken):
                    self._try(taken)
        except SQLAlchemyError as exc:
            log.warning("could not deliver at once (%s): the delivery loop will", type(exc).__name__)

    def run_pass(self) -> int:
        """Send what is ready now; returns how many messages were tried."""
        tried = 0
        held_back: set[str] = set()
        for message_id, key in self._queue.ready(BATCH, PER_KEY):
            if key in held_back:
                continue
            if self._senders is not None:
                self._free_senders.acquire()  # the next free sender: an urgent message goes first
            taken = self._queue.take(message_id)
            if not isinstance(taken, Taken):
                if isinstance(taken, NoTurn):
                    held_back.add(key)
                self._release()
                continue
            tried += 1
            if taken.key_failures:
                held_back.add(key)  # its key is failing: this one tries it, the others wait for the answer
            if self._senders is None:
                self._try(taken)
            else:
                self._senders.submit(self._send, taken)
        return tried

    def drain(self) -> int:
        """Passes until nothing more is ready (each message sent here); returns how many were tried."""
        tried = 0
        while passed := self.run_pass():
            tried += passed
        return tried

    def _send(self, taken: Taken) -> None:
        try:
            self._try(taken)
        finally:
            self._release()
            self._on_done()

    def _release(self) -> None:
        if self._senders is not None:
            self._free_senders.release()

    def _try(self, taken: Taken) -> None:
        message = taken.message
        handler = self._handlers[message.kind]
        try:
            with self._pacer.delivering(message.pace_key):
                sent = handler.send(message)
        except Paced as paced:
            self._later(message, paced.until - self._clock.now(), str(paced), doubt=False, counts=False)
        except SlackCallFailed as failed:
            self._failed(message, failed, handler)
        except Exception as exc:  # a bug, or the database: keep the message, try it again later
            log.exception("outbox message %s (%s) failed", message.id, message.kind.value)
            delay = outage_backoff(message.failures + 1)
            self._later(message, delay, type(exc).__name__, doubt=True, counts=True)
        else:
            try:
                if taken.key_failures:
                    self._pacer.recovered(message.pace_key)
                self._queue.delivered(message, sent, handler.record)
            except Exception:
                # Slack has it but we could not record that: the lease runs out, and the next try,
                # in doubt, finds the message in Slack instead of posting it again.
                log.exception("outbox message %s (%s) was sent but not recorded", message.id, message.kind)

    def _failed(self, message: OutboxMessage, failed: SlackCallFailed, handler: Handler) -> None:
        if failed.rate_limited:
            # The gateway has paused the key for every process; this message waits with them, and a
            # rate limit never counts towards giving up.
            self._later(message, failed.retry_after or 1.0, "ratelimited", doubt=False, counts=False)
            return
        if not failed.transient:
            self._bury(message, failed.error, handler)
            return
        if message.failures + 1 >= MAX_FAILURES:
            self._bury(message, f"gave up after {message.failures + 1} failed tries: {failed.error}", handler)
            return
        try:
            self._pacer.failing(failed.key)  # the whole key backs off, not just this message
        except Exception:
            log.exception("could not pause %s", failed.key)
        delay = outage_backoff(message.failures + 1)
        self._later(message, delay, failed.error, doubt=failed.maybe_done, counts=True)

    def _later(self, message: OutboxMessage, delay: float | timedelta, error: str, **how: bool) -> None:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
        at = self._clock.now() + timedelta(seconds=max(seconds, 0.0))
        log.info(
            "outbox message %s (%s) will be tried again in %.1f s: %s",
            message.id,
            message.kind,
            seconds,
            error,
        )
        try:
            self._queue.later(message, at, error, **how)
        except Exception:
            log.exception("could not reschedule outbox message %s; its lease will run out", message.id)

    def _bury(self, message: OutboxMessage, error: str, handler: Handler) -> None:
        try:
            self._queue.bury(message, error, handler.on_dead)
        except Exception:
            log.exception("could not give up on outbox message %s; its lease will run out", message.id)
