"""Durable timers and deliveries, ticking in every worker process.

Each tick fires the timers that are due (their state lives in the database, so a timer due while the
app was down fires once when it is back) and then delivers what waits in the outbox. Every worker
ticks; row locks and leases make sure each timer fires and each message goes out once.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from sqlalchemy.exc import OperationalError

from escalator.services.digest import Digests
from escalator.services.privacy import RetentionPurge
from escalator.services.reminders import Reminders
from escalator.slack.directory import Directory
from escalator.slack.outbox import OutboxDispatcher

log = logging.getLogger(__name__)


class Wake(Protocol):
    """A threading.Event, or a multiprocessing one shared between the web workers and the deliverer."""

    def set(self) -> None: ...
    def clear(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class Scheduler:
    def __init__(
        self,
        reminders: Reminders,
        digests: Digests,
        retention: RetentionPurge,
        outbox: OutboxDispatcher,
        directory: Directory,
        tick: float,
        wake: Wake | None = None,
    ) -> None:
        self._reminders = reminders
        self._digests = digests
        self._retention = retention
        self._outbox = outbox
        self._directory = directory
        self._tick = tick
        self._stopping = threading.Event()
        # Set by a web worker after it stored something to deliver: the next tick starts at once.
        self._wake: Wake = wake or threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        self._outbox.deliver(self._reminders.fire_due())
        self._outbox.deliver(self._digests.start_if_due())
        self._outbox.deliver(self._retention.purge_if_due())
        self._outbox.deliver_due()
        self._directory.refresh_stale()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the tick in progress, then stop."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        database_away = False
        while not self._stopping.is_set():
            self._wake.clear()  # a wake-up from now on is for the next tick
            try:
                self.tick()
                if database_away:
                    log.warning("the database is back: timers and deliveries resume")
                database_away = False
            except OperationalError as exc:  # the database is away: say so once, and keep ticking
                if not database_away:
                    log.warning(
                        "the database is unreachable (%s); retrying every tick", type(exc.orig).__name__
                    )
                database_away = True
            except Exception:
                log.exception("scheduler tick failed")
            self._wake.wait(self._tick)
