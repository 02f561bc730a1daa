"""PostgreSQL stops and starts again under the running app.

While it is away every Slack request is still answered inside Slack's 3-second deadline, with a
"try again in a moment" where someone is waiting; what was acked before is delivered once it is back.
The test really stops a server: a throwaway cluster of its own, beside the local one (so the rest of
the suite, in parallel workers, keeps its database), which needs root and Debian's pg_createcluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests
from conftest import FakeClock, RunningApp, start_app
from sqlalchemy import select

from escalator.domain.escalation import Escalation, State
from escalator.policy import Policy
from escalator.slack.listeners.errors import DATABASE_AWAY
from escalator.standin.sender import AGENT, handoff_values
from escalator.standin.web_api import Reply, SlackStandIn
from escalator.store.database import Store

SPECIALIST = "U0ALEX"
SLACK_DEADLINE = 3.0


def _version() -> str | None:
    clusters = Path("/etc/postgresql")
    if os.geteuid() != 0 or not shutil.which("pg_createcluster") or not clusters.is_dir():
        return None
    versions = sorted(p.name for p in clusters.iterdir())
    return versions[0] if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(*command: str) -> None:
    subprocess.run(command, check=True, timeout=120, capture_output=True)


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Cluster:
    """A PostgreSQL server of this test's own, to stop and start."""

    def __init__(self, version: str, name: str, port: int) -> None:
        self.version, self.name = version, name
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _ctl(self, action: str, *extra: str) -> None:
        _run("pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action, *extra)

    @contextmanager
    def stopped(self) -> Iterator[None]:
        self._ctl("stop", "-m", "fast")
        try:
            yield
        finally:
            self._ctl("start")
            _wait_until_up(self.url)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    version = _version()
    if version is None:
        pytest.skip("needs root and Debian's PostgreSQL tools (pg_createcluster) to run a server of its own")
    name, port = f"outage_{uuid.uuid4().hex[:8]}", _free_port()
    _run("pg_createcluster", version, name, "--port", str(port), "--start", "--", "--auth=trust")
    try:
        server = Cluster(version, name, port)
        _wait_until_up(server.url)
        yield server
    finally:
        _run("pg_dropcluster", "--stop", version, name)


def _within_deadline(response: requests.Response) -> requests.Response:
    assert response.status_code == 200, response.text
    assert response.elapsed.total_seconds() < SLACK_DEADLINE
    return response


def _escalations(app: RunningApp) -> list[Escalation]:
    with app.store.transaction() as tx:
        return list(tx.session.scalars(select(Escalation).order_by(Escalation.id)))


def test_a_postgres_restart_is_survived(
    cluster: Cluster, slack_api: SlackStandIn, clock: FakeClock, policy: Policy
):
    postgres_url = cluster.url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = Store(postgres_url)
    schema.migrate()
    schema.dispose()
    app = start_app(postgres_url, slack_api, clock, policy)
    try:
        # A case is stored and acked, but Slack makes its card wait: it is still in the outbox.
        slack_api.script("chat.postMessage", Reply.rate_limited(retry_after=5))
        assert app.slack.submit(handoff_values()).json()["response_action"] == "update"
        app.settle()
        (waiting,) = _escalations(app)
        health = app.slack.events_url.replace("/slack/events", "/healthz")

        with cluster.stopped():
            refused = _within_deadline(app.slack.submit(handoff_values()))
            assert refused.json()["response_action"] == "errors"
            assert "press Escalate again" in refused.json()["errors"]["summary"]

            _within_deadline(app.slack.press("claim", waiting.id, SPECIALIST))
            app.settle()
            (told,) = slack_api.wait_for("response_url")
            assert told.params["text"] == DATABASE_AWAY
            assert told.params["response_type"] == "ephemeral"

            _within_deadline(app.slack.reaction("eyes", SPECIALIST, "C0123BILL", "1764000000.000009"))
            app.settle()
            (beside,) = slack_api.wait_for("chat.postEphemeral")
            assert (beside.params["user"], beside.params["text"]) == (SPECIALIST, DATABASE_AWAY)

            assert requests.get(health, timeout=SLACK_DEADLINE).status_code == 503

        assert requests.get(health, timeout=SLACK_DEADLINE).status_code == 200
        clock.advance(seconds=6)
        app.tick()  # the scheduler's next tick after the restart
        (card,) = [
            c
            for c in slack_api.calls_to("chat.postMessage")
            if c.params["channel"] == "C0123BILL" and c.response and c.response.get("ts")
        ]

        # Nothing the outage refused was stored; what was acked before it is whole, and works.
        (escalation,) = _escalations(app)
        assert escalation.card_ts == card.response["ts"]
        _within_deadline(app.slack.press("claim", escalation.id, SPECIALIST))
        app.settle()
        assert _escalations(app)[0].state is State.claimed
        assert len(slack_api.posted["D" + AGENT[1:]]) >= 1  # the agent heard what happens next
    finally:
        app.close()
