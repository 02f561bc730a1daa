"""What `GET /metrics` shows, in Prometheus's text format.

Two kinds of figures:
- what each process counts as it goes (requests from Slack, time to ack, Web API calls); with several
  processes (gunicorn's workers and the delivery process) these are kept in prometheus-client's
  multiprocess files, which any worker adds up when scraped;
- what the database knows (messages waiting, timers due and late, escalations by state and path, SLA
  breaches), read at scrape time, so every worker answers the same and a restart loses nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from escalator.clock import Clock
from escalator.store.database import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# A timer this long past its time has not been fired by a tick that should have: the deliverer is
# stopped, stuck, or cannot reach the database.
TIMER_LATE_AFTER = timedelta(minutes=1)
# A delivery process says it is alive every tick; one silent this long is stopped or stuck.
DELIVERY_SILENT_AFTER = timedelta(minutes=1)

# Every metric here has labels: a labelled metric makes its values when first used, after
# share_between_processes has chosen where they live.
_PROCESS = CollectorRegistry()
SLACK_REQUESTS = Counter(
    "escalator_slack_requests",
    "Requests from Slack, by listener and HTTP status answered.",
    ["listener", "status"],
    registry=_PROCESS,
)
TIME_TO_ACK = Histogram(
    "escalator_slack_ack_seconds",
    "Time from a request reaching the app to its acknowledgement, by listener (Slack allows 3 s).",
    ["listener"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
    registry=_PROCESS,
)
API_CALLS = Counter(
    "escalator_slack_api_calls",
    "Web API calls, by method and outcome (ok, ratelimited, error).",
    ["method", "outcome"],
    registry=_PROCESS,
)


def share_between_processes(directory: str | None = None) -> Path:
    """Keep this process's figures, and its children's, in files that any of them adds up when scraped.

    Called in HTTP mode before gunicorn forks its workers. Uses PROMETHEUS_MULTIPROC_DIR when set (it
    is emptied: figures from an earlier run would be added to this one's), else a new temporary folder.
    """
    chosen = directory or os.environ.get(MULTIPROCESS_VARIABLE)
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="escalator-metrics-"))
    os.environ[MULTIPROCESS_VARIABLE] = str(path)
    values.ValueClass = values.MultiProcessValue()
    return path


def forget_shared(path: Path) -> None:
    """Remove a temporary folder made by share_between_processes, when the server stops."""
    if path.name.startswith("escalator-metrics-"):
        shutil.rmtree(path, ignore_errors=True)


def _shared() -> bool:
    return bool(os.environ.get(MULTIPROCESS_VARIABLE)) and values.ValueClass is not values.MutexValue


class DatabaseFigures:
    """Figures read from the database at scrape time."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("escalator_database_up", "1 when the database answered this scrape, else 0.")
        now = self._clock.now()
        try:
            with self._store.reading() as tx:
                figures = tx.gauges.read(now, now - TIMER_LATE_AFTER, now - DELIVERY_SILENT_AFTER)
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        waiting = GaugeMetricFamily(
            "escalator_outbox_waiting", "Slack messages stored and not yet delivered (retries included)."
        )
        waiting.add_metric([], figures.outbox_waiting)
        yield waiting
        oldest = GaugeMetricFamily(
            "escalator_outbox_oldest_waiting_seconds",
            "How long the oldest undelivered Slack message has waited (0 when none waits).",
        )
        # A message queued for later (a spaced card update) waits from its due time, not before it.
        oldest.add_metric(
            [], max(0.0, (now - figures.oldest_waiting).total_seconds()) if figures.oldest_waiting else 0.0
        )
        yield oldest
        given_up = GaugeMetricFamily(
            "escalator_outbox_given_up",
            "Dead Slack messages: refused for good, or out of tries (`escalator outbox list`).",
        )
        given_up.add_metric([], figures.outbox_given_up)
        yield given_up
        delivering = GaugeMetricFamily(
            "escalator_delivery_processes",
            f"Delivery processes heard from in the last {int(DELIVERY_SILENT_AFTER.total_seconds())} s.",
        )
        delivering.add_metric([], figures.delivery_processes)
        yield delivering
        due = GaugeMetricFamily("escalator_timers_due", "Timers (SLA, reminders) whose time has come.")
        due.add_metric([], figures.timers_due)
        yield due
        late = GaugeMetricFamily(
            "escalator_timers_late",
            f"Timers still unfired {int(TIMER_LATE_AFTER.total_seconds())} s after their time.",
        )
        late.add_metric([], figures.timers_late)
        yield late
        escalations = GaugeMetricFamily(
            "escalator_escalations", "Escalations by state and path.", labels=["state", "path"]
        )
        for (state, path), count in sorted(figures.escalations.items()):
            escalations.add_metric([state, path], count)
        yield escalations
        breaches = CounterMetricFamily(
            "escalator_sla_breaches",
            "SLA targets missed (acknowledge, first_update, resolve), by target and priority.",
            labels=["target", "priority"],
        )
        for (target, priority), count in sorted(figures.breaches.items()):
            breaches.add_metric([target, priority], count)
        yield breaches
        incidents = GaugeMetricFamily(
            "escalator_incidents", "Incidents by state (open, resolved).", labels=["state"]
        )
        for state, count in sorted(figures.incidents.items()):
            incidents.add_metric([state], count)
        yield incidents


def render_metrics(database: DatabaseFigures) -> bytes:
    """The whole exposition: every process's counts, then the database's figures."""
    if _shared():
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = _PROCESS
    read = CollectorRegistry()
    read.register(database)
    return generate_latest(counted) + generate_latest(read)
