"""The delivery process (`escalator deliver`): the timers every tick, and a pass over the outbox whenever
a commit rings the bell, a sender finishes, or something comes due. Any number may run, on any number
of machines: leases hand each message to one, the pacer's shared state keeps them all under Slack's
limits, and row locks fire each timer once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from escalator.clock import Clock
from escalator.delivery.engine import BATCH, Engine
from escalator.delivery.queue import OutboxQueue
from escalator.metrics import CONTENT_TYPE, DatabaseFigures, render_metrics
from escalator.scheduler import Scheduler
from escalator.store.database import Store
from escalator.store.wakeup import OutboxListener

log = logging.getLogger(__name__)

_FORGET_AFTER = timedelta(days=1)


class DeliveryLoop:
    def __init__(
        self,
        scheduler: Scheduler,
        engine: Engine,
        queue: OutboxQueue,
        listener: OutboxListener,
        store: Store,
        clock: Clock,
        tick: float,
    ) -> None:
        self._scheduler = scheduler
        self._engine = engine
        self._queue = queue
        self._listener = listener
        self._store = store
        self._clock = clock
        self._tick = tick
        self._stopping = threading.Event()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._started_at = clock.now()
        self._last_round = time.monotonic()

    def run(self) -> None:
        """Until `stop`: whatever this round of the loop is doing, it finishes first."""
        database_away = False
        next_tick = 0.0
        while not self._stopping.is_set():
            wait = self._tick
            try:
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self._tick
                    self.tick()
                tried = self._engine.run_pass()
                wait = 0.0 if tried >= BATCH else self._until_next(next_tick)
                if database_away:
                    log.warning("the database is back: timers and deliveries resume")
                database_away = False
            except OperationalError as exc:  # the database is away: say so once, and keep trying
                if not database_away:
                    log.warning(
                        "the database is unreachable (%s); retrying every tick", type(exc.orig).__name__
                    )
                database_away = True
            except Exception:
                log.exception("the delivery loop failed; trying again next tick")
            self._last_round = time.monotonic()
            try:
                self._listener.wait(wait)
            except Exception:  # whatever the bell does, the loop goes on: it polls every tick anyway
                log.exception("waiting for new messages failed")
                time.sleep(min(wait, self._tick))

    def tick(self) -> None:
        """What comes due with time, and a word that this process is alive."""
        self._scheduler.run_due()
        now = self._clock.now()
        with self._store.transaction() as tx:
            tx.processes.alive(self.name, self._started_at, now)
            tx.processes.forget_before(now - _FORGET_AFTER)

    def stop(self) -> None:
        self._stopping.set()
        self._engine.stop()
        self._listener.nudge()

    def nudge(self) -> None:
        """Something may be ready: a sender finished (its lane may have a next message)."""
        self._listener.nudge()

    def said_goodbye(self) -> None:
        try:
            with self._store.transaction() as tx:
                tx.processes.stopped(self.name)
        except SQLAlchemyError:
            pass  # its row is forgotten a day later

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self._last_round < 3 * self._tick + 60

    def _until_next(self, next_tick: float) -> float:
        wait = next_tick - time.monotonic()
        wake = self._queue.next_wake()
        if wake is not None:
            wait = min(wait, (wake - self._clock.now()).total_seconds())
        return max(wait, 0.01)


def run_delivery_process(
    loop: DeliveryLoop,
    senders: Executor,
    closing: Iterable[Callable[[], None]],
    probes: Callable[[], object] | None = None,
) -> None:
    """`escalator deliver`, in this process's main thread: until SIGTERM or SIGINT, then the deliveries
    in flight finish (nothing acknowledged is lost: an unfinished message's lease runs out and another
    try takes it up)."""

    def stop(signum: int, _frame: object) -> None:
        log.info("delivery process: %s, finishing what is in flight", signal.Signals(signum).name)
        loop.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = probes() if probes else None
    log.info("delivery process %s started", loop.name)
    loop.run()
    senders.shutdown(wait=True)
    loop.said_goodbye()
    if server is not None:
        server.shutdown()  # type: ignore[attr-defined]
    for close in closing:
        close()
    log.info("delivery process %s stopped", loop.name)


class DeliveryProbes:
    """`/healthz` and `/metrics` of a delivery process, for an orchestrator's liveness probe and for
    Prometheus (`escalator deliver --port`)."""

    def __init__(self, loop: DeliveryLoop, store: Store, figures: DatabaseFigures) -> None:
        self._loop = loop
        self._store = store
        self._figures = figures

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            data = render_metrics(self._figures)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(data)))])
            return [data]
        if path == "/healthz":
            database = self._store.ping()
            healthy = database and self._loop.healthy
            body = json.dumps(
                {
                    "status": "ok" if healthy else "unavailable",
                    "database": "ok" if database else "down",
                    "delivering": "ok" if self._loop.healthy else "stuck",
                }
            ).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
