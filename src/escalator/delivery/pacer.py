"""One pacer for every Web API call: Slack's published limits, kept across all processes and machines.

Slack limits each method per workspace ("tiers", in calls a minute) and `chat.postMessage` per channel
(about one a second, short bursts allowed). The state lives in the database (`store/rates.py`), so every
web worker, delivery process and machine shares one budget. The delivery engine takes a message's first
turn together with the message itself (`OutboxQueue.take`); the handler's further calls wait their turn
here, briefly, or hand the message back for later. Listeners' calls cannot wait (a form must open within
seconds): they go at once and are counted, so the background leaves them room.

A 429's `Retry-After`, or an outage (5xx, timeouts), pauses the key for everyone, with jitter, so that
processes do not all come back at the same instant.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from escalator.clock import Clock
from escalator.store.database import Store, Transaction
from escalator.store.rates import Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """`per_second` calls a second on average, `burst` of them at once."""

    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        return self.interval * (self.burst - 1)


def tier(per_minute: int, burst: int) -> Limit:
    """A Web API tier: any minute holds at most `per_minute` calls, bursts included."""
    return Limit((per_minute - burst) / 60.0, burst)


# "1 per second per channel, short bursts >1 allowed"; a little slower than one a second on average, so
# the network's jitter never brings two posts closer than Slack counts.
POST_PER_CONVERSATION = Limit(per_second=1 / 1.02, burst=3)
TIER_1 = Limit(per_second=1 / 60, burst=1)  # "1+ per minute": no burst to spare
TIER_2, TIER_3, TIER_4 = tier(20, 3), tier(50, 5), tier(100, 10)

# Pace keys (see escalator.domain.messages): posts are paced per conversation ("post:C0123"), the rest
# per method. Tiers from each method's page on Slack's documentation.
SLACK_LIMITS: Mapping[str, Limit] = {
    "post": POST_PER_CONVERSATION,  # chat.postMessage: Special, per channel
    "edit": TIER_3,  # chat.update
    "home": TIER_4,  # views.publish
    "upload": TIER_4,  # files.getUploadURLExternal and files.completeUploadExternal
    "chat.postEphemeral": TIER_4,
    "chat.delete": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.open": TIER_3,
    "conversations.info": TIER_3,
    "conversations.list": TIER_2,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.push": TIER_4,
    "usergroups.users.list": TIER_2,
    "usergroups.list": TIER_2,
    "users.info": TIER_4,
    "users.list": TIER_2,
    "users.lookupByEmail": TIER_3,
    "reactions.add": TIER_3,
    "auth.test": TIER_4,  # Special: "hundreds of requests per minute"
    "apps.connections.open": TIER_1,
}
UNKNOWN_METHOD = TIER_2  # "most methods allow at least 20 requests per minute"

_CALL_KEYS = {
    "chat.update": "edit",
    "views.publish": "home",
    "files.getUploadURLExternal": "upload",
    "files.completeUploadExternal": "upload",
}
# At most this much longer than Retry-After, picked at random: processes paused together do not all
# come back at the same instant.
JITTER = 1.0
# Calls that add something people see (a message, a file): done twice, it shows twice.
_SHOWS_SOMETHING_NEW = ("post:", "upload")
# The longest a handler's later call waits its turn before the message is handed back for later.
MAX_WAIT = 2.0
# An outage: the key is tried again after 1, 2, 4, 8 s, then every 10 s (so a recovery is found within
# seconds), and every 5 minutes once it has failed for about an hour.
OUTAGE_BACKOFF_CAP = 10.0
LONG_OUTAGE_AFTER = 360
LONG_OUTAGE_BACKOFF = 300.0


def call_key(method: str, params: Mapping[str, Any]) -> str:
    """The pace key a Web API call counts against."""
    if method == "chat.postMessage":
        return f"post:{params.get('channel')}"
    return _CALL_KEYS.get(method, method)


def outage_backoff(failures: int) -> float:
    """Seconds before trying again after `failures` failures in a row."""
    if failures >= LONG_OUTAGE_AFTER:
        return LONG_OUTAGE_BACKOFF
    return min(2.0 ** max(failures - 1, 0), OUTAGE_BACKOFF_CAP)


class Paced(Exception):
    """The message's next call could not go for a while: hand it back, due `until` (not a failure)."""

    def __init__(self, key: str, until: datetime) -> None:
        super().__init__(f"{key} is paced until {until:%H:%M:%S}")
        self.key = key
        self.until = until


@dataclass
class Attempt:
    """One try of a message, as its calls go: `prepaid` is the key whose turn came with the message;
    no call starts after `deadline` (past it, the message's lease could run out mid-call and another
    try take it); `reached_slack` once a post went through, or may have."""

    prepaid: str | None
    deadline: datetime | None = None
    used: bool = False
    reached_slack: bool = False


_attempt: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("attempt", default=None)


class Pacer:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        limits: Mapping[str, Limit] = SLACK_LIMITS,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._clock = clock
        self._limits = limits
        self._jitter = jitter
        self._counts = _Counting(self)
        self._failing: set[str] = set()  # keys this process saw fail, to reset when they work again

    def limit(self, key: str) -> Limit:
        if key.startswith("post:"):
            return self._limits["post"]
        return self._limits.get(key, UNKNOWN_METHOD)

    def turn(self, tx: Transaction, key: str) -> Turn:
        """Take one call's turn on `key` in `tx`, if it is free now."""
        limit = self.limit(key)
        return tx.rates.take(key, self._now(), limit.interval, limit.tolerance)

    def give_back(self, key: str) -> None:
        """A turn taken with a message that made no call on it (nothing left to send): it is not spent."""
        with self._store.transaction() as tx:
            tx.rates.give_back(key, self.limit(key).interval)

    @contextlib.contextmanager
    def delivering(self, prepaid: str | None, deadline: datetime | None = None) -> Iterator[Attempt]:
        """Calls made inside are a delivery's: the first on `prepaid` has its turn already, the others
        wait theirs (raising Paced when that would be long, or would pass `deadline`)."""
        attempt = Attempt(prepaid, deadline)
        token = _attempt.set(attempt)
        try:
            yield attempt
        finally:
            _attempt.reset(token)

    def before_call(self, key: str) -> None:
        attempt = _attempt.get()
        if attempt is None:
            self._counts.add(key)  # a listener's call goes now: counted in the background
            return
        if attempt.deadline is not None and self._clock.now() >= attempt.deadline:
            raise Paced(f"{key} (this try's time is up)", self._clock.now())
        if attempt.prepaid == key and not attempt.used:
            attempt.used = True
            return
        self._wait_turn(key, attempt.deadline)

    def after_call(self, key: str, reached: bool | None) -> None:
        """How a call ended: Slack did it (True), did not (False), or may have (None, its answer lost)."""
        attempt = _attempt.get()
        if attempt is not None and reached is not False and key.startswith(_SHOWS_SOMETHING_NEW):
            attempt.reached_slack = True
        if reached and key in self._failing:
            self._failing.discard(key)
            self.recovered(key)

    def rate_limited(self, key: str, retry_after: float) -> datetime:
        """Slack answered 429: nobody calls on `key` before Retry-After (and a little jitter) is over."""
        until = self._now() + retry_after + self._jitter() * min(JITTER, 0.1 * retry_after + 0.1)
        try:
            with self._store.side_write() as tx:
                tx.rates.pause(key, until)
        except SQLAlchemyError as exc:
            log.warning("could not record Slack's pause of %s: %s", key, type(exc).__name__)
        log.warning("Slack rate-limited %s: paused for %.1f s for every process", key, until - self._now())
        return _moment(until)

    def failing(self, key: str) -> None:
        """A call on `key` failed for now (5xx, timeout, no connection). From the second in a row it is
        an outage: the key pauses for everyone, backing off, so Slack gets one try at a time."""
        self._failing.add(key)
        with self._store.transaction() as tx:
            failures = tx.rates.failed(key)
            if failures >= 2:
                until = self._now() + outage_backoff(failures - 1) * (1 + 0.2 * self._jitter())
                tx.rates.pause(key, until)

    def recovered(self, key: str) -> None:
        with self._store.transaction() as tx:
            tx.rates.recovered(key)

    def next_free(self, keys: list[str]) -> datetime | None:
        with self._store.reading() as tx:
            free = tx.rates.next_free(keys, self._now())
        return None if free is None else _moment(free)

    def counted(self, timeout: float = 5.0) -> bool:
        """Wait until the listeners' calls counted so far are written; False if that took too long."""
        return self._counts.written(timeout)

    def _wait_turn(self, key: str, deadline: datetime | None) -> None:
        waited = 0.0
        while True:
            with self._store.transaction() as tx:
                turn = self.turn(tx, key)
            if turn.granted:
                return
            until = self._clock.now() + timedelta(seconds=turn.wait)
            if waited + turn.wait > MAX_WAIT or (deadline is not None and until >= deadline):
                raise Paced(key, until)
            self._clock.sleep(turn.wait)
            waited += turn.wait

    def _now(self) -> float:
        return self._clock.now().timestamp()


class _Counting:
    """Listeners' calls, counted by a thread of their own so that no call waits on the database for it:
    one write per `BATCH_WINDOW` at most, however many calls there were. What piles up while the
    database is away is dropped (it only ever counted calls)."""

    BATCH_WINDOW = 0.05  # seconds; a burst of calls is counted together, a moment later
    _MAX_WAITING = 10_000

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer
        self._waiting: list[tuple[str, float]] = []
        self._writing = 0  # calls taken from the list and not yet written
        self._lock = threading.Lock()
        self._arrived = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, key: str) -> None:
        moment = self._pacer._now()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._write, name="pacer-counts", daemon=True)
                self._thread.start()
            if len(self._waiting) < self._MAX_WAITING:
                self._waiting.append((key, moment))
        self._arrived.set()

    def written(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._waiting and not self._writing:
                    return True
            time.sleep(0.01)
        return False

    def _write(self) -> None:
        while True:
            self._arrived.wait()
            time.sleep(self.BATCH_WINDOW)
            with self._lock:
                self._arrived.clear()
                batch, self._waiting = self._waiting, []
                self._writing = len(batch)
            if not batch:
                continue
            by_key: dict[str, list[float]] = {}
            for key, at in batch:
                by_key.setdefault(key, []).append(at)
            try:
                with self._pacer._store.side_write() as tx:
                    for key, moments in by_key.items():
                        limit = self._pacer.limit(key)
                        tx.rates.count(key, max(moments), limit.interval * len(moments), limit.tolerance)
            except SQLAlchemyError as exc:
                log.debug("could not count calls (%s); dropped", type(exc).__name__)
            finally:
                with self._lock:
                    self._writing = 0


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
