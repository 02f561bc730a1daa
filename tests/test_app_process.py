"""`python app.py` as a deployer runs it: gunicorn workers in HTTP mode, migrations on start, clear
configuration errors with exit status 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import ALWAYS_OPEN_POLICY_YAML, BOT_TOKEN, POLICY_YAML, ROOT, SIGNING_SECRET
from slack_api_stub import Reply, SlackApiStub
from slack_requests import AGENT, SlackSender, handoff_values

from escalator.store.database import Store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ESCALATOR_", "DATABASE_URL"))}
    env.update(extra)
    return env


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_configuration_exits_2_with_one_clear_message(tmp_path: Path):
    result = _run(tmp_path, SLACK_SIGNING_SECRET="s")
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_policy_exits_2_naming_the_key(tmp_path: Path):
    (tmp_path / "policy.yml").write_text(POLICY_YAML.replace("    channel: C0123BILL\n", ""))
    result = _run(tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    assert result.returncode == 2
    assert "paths.billing.channel: field required" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_variable_exits_2_naming_it(tmp_path: Path):
    result = _run(tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", PORT="http")
    assert result.returncode == 2
    assert "PORT is invalid" in result.stderr


def _start(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    """Start `python app.py` and wait until /healthz answers 200."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        cwd=tmp_path,
        env=_env(tmp_path, PORT=str(port), **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("app did not start:\n" + (process.stderr.read() if process.stderr else ""))
        time.sleep(0.1)


def _stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as a deployer's supervisor sends it; the app must exit cleanly. Returns its log."""
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=30)
    assert process.returncode == 0, log
    return log


@pytest.fixture
def served(tmp_path: Path, slack_api: SlackApiStub, database_url: str) -> Iterator[tuple[SlackSender, str]]:
    # Without business hours the real clock cannot send the card to the after-hours channel.
    (tmp_path / "policy.yml").write_text(ALWAYS_OPEN_POLICY_YAML)
    process, base = _start(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api.url,
        DATABASE_URL=database_url,
        ESCALATOR_WORKERS="2",
        ESCALATOR_TICK="0.2",
    )
    try:
        yield SlackSender(base, SIGNING_SECRET, slack_api.response_url), database_url
    finally:
        _stop(process)


def test_http_mode_serves_the_whole_intake(served: tuple[SlackSender, str], slack_api: SlackApiStub):
    sender, database_url = served

    started = time.monotonic()
    assert sender.command("refund please").status_code == 200
    assert time.monotonic() - started < 3
    slack_api.wait_for("views.open")
    assert sender.submit(handoff_values()).json()["response_action"] == "update"
    card, note = slack_api.wait_for("chat.postMessage", 2)

    assert (card.params["channel"], note.params["channel"]) == ("C0123BILL", AGENT)
    assert slack_api.calls_to("auth.test")  # each worker checks its token through SLACK_API_URL
    assert Store(database_url).schema_is_current()


def test_a_card_refused_for_now_is_delivered_by_the_background_sweep(
    served: tuple[SlackSender, str], slack_api: SlackApiStub
):
    sender, _ = served
    slack_api.script("chat.postMessage", Reply.rate_limited(retry_after=1))
    sender.submit(handoff_values())
    posts = slack_api.wait_for("chat.postMessage", 3, timeout=20)
    assert [p.params["channel"] for p in posts] == ["C0123BILL", "C0123BILL", AGENT]


def test_a_refused_bot_token_exits_2_naming_it(tmp_path: Path, slack_api: SlackApiStub):
    (tmp_path / "policy.yml").write_text(POLICY_YAML)
    slack_api.script("auth.test", Reply.error("invalid_auth"))
    result = _run(
        tmp_path, SLACK_BOT_TOKEN="xoxb-revoked", SLACK_SIGNING_SECRET="s", SLACK_API_URL=slack_api.url
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN was refused by Slack (invalid_auth)" in result.stderr
    assert "Traceback" not in result.stderr
    assert "xoxb-revoked" not in result.stderr


def test_a_refused_app_token_exits_2_naming_it(tmp_path: Path, slack_api: SlackApiStub):
    (tmp_path / "policy.yml").write_text(POLICY_YAML)
    slack_api.script("apps.connections.open", Reply.error("invalid_auth"))
    result = _run(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=slack_api.url,
        SLACK_APP_TOKEN="xapp-1-bad",
        DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}",
    )
    assert result.returncode == 2, result.stderr
    assert "SLACK_APP_TOKEN was refused by Slack (invalid_auth)" in result.stderr
    # Socket Mode asks for its WebSocket URL through SLACK_API_URL too.
    assert slack_api.calls_to("apps.connections.open")


def test_the_app_starts_while_slack_is_unreachable(tmp_path: Path):
    (tmp_path / "policy.yml").write_text(POLICY_YAML)
    process, _ = _start(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=f"http://127.0.0.1:{_free_port()}/api/",
        ESCALATOR_WORKERS="1",
        SLACK_API_TIMEOUT="1",
    )
    assert "could not reach Slack to check SLACK_BOT_TOKEN" in _stop(process)


def test_timers_run_in_real_time_with_second_scale_targets(tmp_path: Path, slack_api: SlackApiStub):
    policy = ALWAYS_OPEN_POLICY_YAML.replace(
        "P2: {acknowledge: 15m, first_update: 2h, resolve: 1d}",
        "P2: {acknowledge: 2s, first_update: 4s, resolve: 8s}",
    )
    (tmp_path / "policy.yml").write_text(policy)
    process, base = _start(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api.url,
        ESCALATOR_WORKERS="2",
        ESCALATOR_TICK="0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'rt.db'}",
    )
    try:
        sender = SlackSender(base, SIGNING_SECRET, slack_api.response_url)
        started = time.monotonic()
        sender.submit(handoff_values())
        posts = slack_api.wait_for("chat.postMessage", 5, timeout=20)  # card, note, nudge, new card, note
        channels = [p.params["channel"] for p in posts]
        texts = [str(p.params.get("text")) for p in posts]
        nudge = next(i for i, t in enumerate(texts) if "still waiting for a specialist" in t)
        assert channels[nudge] == "C0123BILL"
        moved = next(i for i, p in enumerate(posts) if p.params["channel"] == "C0123SUP")
        assert "Hierarchical" in json.dumps(posts[moved].params["blocks"])
        assert time.monotonic() - started < 15
    finally:
        _stop(process)
    nudges = [
        p for p in slack_api.calls_to("chat.postMessage") if "still waiting" in str(p.params.get("text"))
    ]
    assert len([n for n in nudges if n.params["channel"] == "C0123BILL"]) == 1  # two workers, one nudge
