"""The real app, assembled as a worker is, against the built-in Slack stand-in: `escalator demo`'s stage.

One process serves `/slack/events` and delivers beside it (as Socket Mode does), on a throwaway SQLite
file, with the demo policy. Its clock is the machine's, moved on when the story skips to the next morning.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from escalator.policy import Policy, load_policy
from escalator.settings import Settings
from escalator.standin.sender import SlackSender
from escalator.standin.web_api import SlackStandIn
from escalator.standin.workspace import example_workspace
from escalator.store.database import Store
from escalator.wiring import Worker, build_worker, configure_logging, prepare_start


class MovableClock:
    """The machine's time, plus however far the story has jumped ahead."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def sleep(self, seconds: float) -> None:
        threading.Event().wait(seconds)

    def jump_to(self, moment: datetime) -> None:
        with self._lock:
            self._offset = moment - datetime.now(UTC)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Stage:
    """What the story plays on: the app, its Slack, its clock, and where it writes."""

    folder: Path
    stand_in: SlackStandIn
    slack: SlackSender
    clock: MovableClock
    policy: Policy  # with the IDs its names were found to have
    worker: Worker
    app_url: str
    _server: WSGIServer
    _restore_logging: Callable[[], None]

    @property
    def database(self) -> Path:
        return self.folder / "escalator.db"

    @property
    def log(self) -> Path:
        return self.folder / "escalator.log"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.worker.close()
        self.stand_in.stop()
        self._restore_logging()


def open_stage(folder: Path) -> Stage:
    """The app started against the stand-in, on a new database in `folder` (one left by an earlier
    run is replaced: the story's day and its digest start afresh)."""
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in ("escalator.db", "escalator.db-wal", "escalator.db-shm"):
        (folder / leftover).unlink(missing_ok=True)
    policy_path = folder / "policy.yml"
    with resources.as_file(resources.files("escalator.demo") / "policy.yml") as packaged:
        shutil.copyfile(packaged, policy_path)
    restore_logging = _log_to(folder / "escalator.log")
    stand_in = SlackStandIn(example_workspace()).start()
    try:
        return _start(folder, policy_path, stand_in, restore_logging)
    except BaseException:  # prepare_start exits on a bad configuration: leave nothing running
        stand_in.stop()
        restore_logging()
        raise


def _start(
    folder: Path, policy_path: Path, stand_in: SlackStandIn, restore_logging: Callable[[], None]
) -> Stage:
    settings = Settings(
        SLACK_BOT_TOKEN="xoxb-escalator-demo",
        SLACK_SIGNING_SECRET=secrets.token_hex(16),
        SLACK_APP_TOKEN=None,
        DATABASE_URL=f"sqlite:///{folder / 'escalator.db'}",
        ESCALATOR_POLICY=policy_path,
        SLACK_API_URL=stand_in.url,
        ESCALATOR_TICK=0.2,
        SLACK_API_TIMEOUT=5.0,
        ESCALATOR_API_TOKEN=None,
        _env_file=None,  # type: ignore[call-arg]
    )
    # The same start as `python app.py`: the token with Slack, migrations, the names, the checks.
    policy = prepare_start(settings, load_policy(policy_path))
    clock = MovableClock(_this_morning(policy))
    stand_in.clock = lambda: clock.now().timestamp()
    worker = build_worker(settings, policy, clock)
    server = make_server("127.0.0.1", 0, worker.web, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    app_url = f"http://127.0.0.1:{server.server_port}"
    slack = SlackSender(app_url, settings.SLACK_SIGNING_SECRET, stand_in.response_url)
    return Stage(folder, stand_in, slack, clock, policy, worker, app_url, server, restore_logging)


def found_names(stage: Stage) -> dict[str, str]:
    """The policy's names with the IDs the app found for them at start."""
    store = Store(f"sqlite:///{stage.database}")
    try:
        with store.reading() as tx:
            known = tx.names.known(list(load_policy(stage.folder / "policy.yml").names()))
    finally:
        store.dispose()
    return {name: slack_id for (_, name), slack_id in known.items()}


def _this_morning(policy: Policy) -> datetime:
    """Today at 08:30 where the team works: the day's digest is not due until 09:00."""
    local = datetime.now(policy.zone).replace(hour=8, minute=30, second=0, microsecond=0)
    return local.astimezone(UTC)


def next_morning(policy: Policy, after: datetime) -> datetime:
    """The digest's time the day after `after`, where the team works."""
    assert policy.digest is not None
    local = (after.astimezone(policy.zone) + timedelta(days=1)).replace(
        hour=policy.digest.at.hour, minute=policy.digest.at.minute, second=1, microsecond=0
    )
    return local.astimezone(UTC)


def _log_to(path: Path) -> Callable[[], None]:
    """The app's log lines go to a file (the terminal is the story's); returns what puts them back."""
    configure_logging()
    root = logging.getLogger()
    before = list(root.handlers)
    for handler in before:
        root.removeHandler(handler)
    to_file = logging.FileHandler(path, encoding="utf-8")
    root.addHandler(to_file)
    configure_logging()  # formats the file's lines like any other

    def restore() -> None:
        root.removeHandler(to_file)
        to_file.close()
        for handler in before:
            root.addHandler(handler)

    return restore
