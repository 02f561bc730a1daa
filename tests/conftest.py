"""Fixtures: a database per test (SQLite always, PostgreSQL when TEST_DATABASE_URL is set), a Web API
stand-in, a movable clock, and the app served in-process exactly as a worker builds it."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))

from escalator.delivery.pacer import SLACK_LIMITS, Limit
from escalator.log_format import ContextThreadPool
from escalator.policy import Policy, parse_policy
from escalator.settings import Settings
from escalator.standin.sender import SlackSender
from escalator.standin.web_api import SlackStandIn
from escalator.store.database import Store
from escalator.wiring import Delivery, Worker, build_worker

ROOT = Path(__file__).resolve().parents[1]
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"

# The policy from the issue, verbatim in shape: two paths, business hours in London.
POLICY_YAML = """
timezone: Europe/London
business_hours:
  days: [mon, tue, wed, thu, fri]
  start: "09:00"
  end: "17:30"
priorities:
  P1: {acknowledge: 5m, first_update: 30m, resolve: 4h}
  P2: {acknowledge: 15m, first_update: 2h, resolve: 1d}
  P3: {acknowledge: 1h, first_update: 4h, resolve: 3d}
  P4: {acknowledge: 4h, first_update: 1d, resolve: 7d}
paths:
  billing:
    label: Billing
    channel: C0123BILL
    after_hours_channel: C0456OOH
    specialists: [U0ALEX, U0SAM]
    keywords: [refund, invoice, charge, chargeback]
  technical:
    label: Technical support
    channel: C0123TECH
    specialists: [U0TECH]
    keywords: [bug, error, crash, login]
supervisors:
  channel: C0123SUP
  users: [U0SUPER]
authority:
  agent: 50
  supervisor: 500
triggers:
  hierarchical: [supervisor, manager, "someone in charge"]
  priority: [chargeback, lawyer, regulator, cancel]
  incident: [outage, "everyone", breach, security]
reactions:
  claim: eyes
  resolve: white_check_mark
close_the_loop:
  remind_after: 1h
  repeat_every: 4h
  max_reminders: 3
digest:
  channel: C0123SUP
  at: "09:00"
"""

# The same policy without business hours or a digest: for tests on the real clock, so that neither the
# hour they run at nor a digest coming due changes what they see.
ALWAYS_OPEN_POLICY_YAML = POLICY_YAML.replace(
    POLICY_YAML[POLICY_YAML.index("business_hours:") : POLICY_YAML.index("priorities:")], ""
).replace('digest:\n  channel: C0123SUP\n  at: "09:00"\n', "")

# Wednesday 25 November 2026, 10:00 in London (UTC in winter): inside business hours.
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = WEDNESDAY_MORNING) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment

    def sleep(self, seconds: float) -> None:
        self.advance(seconds=seconds)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    """The policy `python app.py` reads in tests that start it (ESCALATOR_POLICY's default there)."""
    path = tmp_path / "policy.yml"
    path.write_text(ALWAYS_OPEN_POLICY_YAML)
    return path


@pytest.fixture
def policy() -> Policy:
    return parse_policy(POLICY_YAML)


def _postgres_schema_url(base: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, pool_pre_ping=True)  # survives a test that restarts the server
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'escalator.db'}"
        return
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set")
    yield from _postgres_schema_url(base.replace("postgresql://", "postgresql+psycopg://", 1))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set")
    yield from _postgres_schema_url(base.replace("postgresql://", "postgresql+psycopg://", 1))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def slack_api() -> Iterator[SlackStandIn]:
    stub = SlackStandIn().start()
    yield stub
    stub.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_url: str, database_url: str, policy_yaml: str
) -> Path:
    """The environment an admin sets, against the Web API at `api_url` and a migrated database, in
    `tmp_path` (the working directory); returns the policy file."""
    policy = tmp_path / "policy.yml"
    policy.write_text(policy_yaml)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "DATABASE_URL": database_url,
        "ESCALATOR_POLICY": str(policy),
    }.items():
        monkeypatch.setenv(name, value)
    return policy


def make_settings(database_url: str, slack_api: SlackStandIn, **extra: object) -> Settings:
    return Settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        DATABASE_URL=database_url,
        SLACK_API_URL=slack_api.url,
        _env_file=None,  # type: ignore[call-arg]
        **extra,  # type: ignore[arg-type]
    )


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class TrackingExecutor(ContextThreadPool):
    """Bolt's listener pool as a worker has it, counting the work in flight so tests can wait for it."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="bolt-test")
        self._lock = threading.Lock()
        self._in_flight = 0
        self.idle = threading.Event()
        self.idle.set()

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        with self._lock:
            self._in_flight += 1
            self.idle.clear()
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: object) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self.idle.set()


class RunningApp:
    """The app as one worker builds it, served over real HTTP on 127.0.0.1."""

    def __init__(
        self, worker: Worker, executor: TrackingExecutor, clock: FakeClock, response_url: str
    ) -> None:
        self.worker = worker
        self.executor = executor
        self.clock = clock
        self.store = worker.runtime.store
        self._server = make_server(
            "127.0.0.1", 0, worker.web, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.slack = SlackSender(f"http://127.0.0.1:{self._server.server_port}", SIGNING_SECRET, response_url)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the listeners have finished what they do after their ack."""
        if not self.executor.idle.wait(timeout):
            raise AssertionError("listeners still busy")

    @property
    def delivery(self) -> Delivery:
        assert self.worker.delivery is not None
        return self.worker.delivery

    def deliver_apart(self) -> None:
        """Listeners store and leave the rest, as HTTP mode's web workers do; `deliver_due` is then the
        delivery process's pass."""
        self.worker.runtime.after_commit = lambda _ids: None

    def deliver_due(self) -> int:
        """Deliver what is ready in the outbox, as the delivery loop does; returns how many were tried."""
        return self.delivery.engine.drain()

    def tick(self) -> None:
        """One tick of the delivery loop: the timers that are due, then what is ready to send."""
        self.delivery.tick()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.worker.close()


# Slack's limits, loose enough that a test's fake clock, which only moves when told, never has to wait
# for them; test_pacing.py holds the app to the real ones.
ROOMY_LIMITS = {key: Limit(per_second=1000.0, burst=1000) for key in SLACK_LIMITS}


def start_app(
    database_url: str,
    slack_api: SlackStandIn,
    clock: FakeClock,
    policy: Policy,
    limits: Mapping[str, Limit] = ROOMY_LIMITS,
) -> RunningApp:
    # A short Web API timeout so "Slack hangs" tests take a second, not ten.
    settings = make_settings(database_url, slack_api, SLACK_API_TIMEOUT=1.0)
    executor = TrackingExecutor(max_workers=8)
    slack_api.clock = lambda: clock.now().timestamp()
    worker = build_worker(settings, policy, clock, background=False, executor=executor, limits=limits)
    return RunningApp(worker, executor, clock, slack_api.response_url)


@pytest.fixture
def running_app(
    store: Store, database_url: str, slack_api: SlackStandIn, clock: FakeClock, policy: Policy
) -> Iterator[RunningApp]:
    app = start_app(database_url, slack_api, clock, policy)
    yield app
    app.close()


@pytest.fixture
def paced_app(
    store: Store, database_url: str, slack_api: SlackStandIn, clock: FakeClock, policy: Policy
) -> Iterator[RunningApp]:
    """The app held to Slack's real limits (on the fake clock)."""
    app = start_app(database_url, slack_api, clock, policy, limits=SLACK_LIMITS)
    yield app
    app.close()
