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
from escalator.delivery.poster import Sent
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
        self._stopping = threading.Event()

    @property
    def queue(self) -> OutboxQueue:
        return self._queue

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
            if self._stopping.is_set():
                break  # stopping: what is in flight finishes, nothing new starts
            if key in held_back:
                continue
            if self._senders is not None:
                self._free_senders.acquire()  # the next free sender: an urgent message goes first
            try:
                taken = self._queue.take(message_id)
            except BaseException:
                self._release()
                raise
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

    def stop(self) -> None:
        """Start nothing new (a pass in progress ends at its next message)."""
        self._stopping.set()

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
        with self._pacer.delivering(message.pace_key, taken.deadline) as attempt:
            try:
                sent = handler.send(message)
            except Paced as paced:
                self._later(message, paced.until - self._clock.now(), str(paced), doubt=False, counts=False)
            except SlackCallFailed as failed:
                self._failed(message, failed, handler, doubt=attempt.reached_slack)
            except _WONT_CHANGE as exc:  # the message itself is wrong (a bug): another try would be too
                log.exception("outbox message %s (%s) cannot be sent", message.id, message.kind.value)
                self._bury(message, f"{type(exc).__name__} (see the delivery process's log)", handler)
            except Exception as exc:  # the database, say: keep the message, try it again later
                log.exception("outbox message %s (%s) failed", message.id, message.kind.value)
                self._failed_for_now(message, type(exc).__name__, handler, doubt=attempt.reached_slack)
            else:
                self._done(taken, sent, handler)
            if not attempt.used:  # nothing was sent on the turn that came with the message
                self._give_back(message.pace_key)

    def _done(self, taken: Taken, sent: Sent | None, handler: Handler) -> None:
        message = taken.message
        try:
            if taken.key_failures:
                self._pacer.recovered(message.pace_key)
            self._queue.delivered(message, sent, handler.record)
        except Exception:
            # Slack has it but we could not record that: the lease runs out, and the next try,
            # in doubt, finds the message in Slack instead of posting it again.
            log.exception("outbox message %s (%s) was sent but not recorded", message.id, message.kind)

    def _failed(self, message: OutboxMessage, failed: SlackCallFailed, handler: Handler, doubt: bool) -> None:
        if failed.rate_limited:
            # The gateway has paused the key for every process; this message waits with them, and a
            # rate limit never counts towards giving up.
            self._later(message, failed.retry_after or 1.0, "ratelimited", doubt=doubt, counts=False)
            return
        if not failed.transient:
            self._bury(message, failed.error, handler)
            return
        try:
            self._pacer.failing(failed.key)  # the whole key backs off, not just this message
        except Exception:
            log.exception("could not pause %s", failed.key)
        self._failed_for_now(message, failed.error, handler, doubt=doubt)

    def _failed_for_now(self, message: OutboxMessage, error: str, handler: Handler, doubt: bool) -> None:
        """Try again later, unless it has failed for about a day. `doubt`: a post of this try went
        through, or may have (its answer lost), so the next try looks before posting."""
        if message.failures + 1 >= MAX_FAILURES:
            self._bury(message, f"gave up after {message.failures + 1} failed tries: {error}", handler)
            return
        delay = outage_backoff(message.failures + 1)
        self._later(message, delay, error, doubt=doubt, counts=True)

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

    def _give_back(self, key: str) -> None:
        try:
            self._pacer.give_back(key)
        except Exception:
            log.exception("could not give back a turn on %s", key)


# Errors of the message's own making: its case or history entry gone, its payload not what its kind
# needs, a value it cannot render. Trying again would fail the same way.
_WONT_CHANGE = (LookupError, TypeError, ValueError)
