"""`python app.py` as a deployer runs it: gunicorn workers in HTTP mode, migrations on start, clear
configuration errors with exit status 2."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_process import free_port, run_app, serve_against, start_app_process, stop_app_process
from conftest import ALWAYS_OPEN_POLICY_YAML, BOT_TOKEN, POLICY_YAML, SIGNING_SECRET

from escalator.standin.sender import AGENT, SlackSender, handoff_values
from escalator.standin.web_api import Reply, SlackStandIn
from escalator.store.database import Store


def test_missing_configuration_exits_2_with_one_clear_message(tmp_path: Path):
    result = run_app(tmp_path, SLACK_SIGNING_SECRET="s")
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_policy_exits_2_naming_the_key(tmp_path: Path):
    (tmp_path / "policy.yml").write_text(POLICY_YAML.replace("    channel: C0123BILL\n", ""))
    result = run_app(tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    assert result.returncode == 2
    assert "paths.billing.channel: field required" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_variable_exits_2_naming_it(tmp_path: Path):
    result = run_app(tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", PORT="http")
    assert result.returncode == 2
    assert "PORT is invalid" in result.stderr


@pytest.fixture
def served(tmp_path: Path, slack_api: SlackStandIn, database_url: str) -> Iterator[tuple[SlackSender, str]]:
    # Without business hours the real clock cannot send the card to the after-hours channel.
    (tmp_path / "policy.yml").write_text(ALWAYS_OPEN_POLICY_YAML)
    process, base = serve_against(tmp_path, slack_api, DATABASE_URL=database_url, ESCALATOR_WORKERS="2")
    try:
        yield SlackSender(base, SIGNING_SECRET, slack_api.response_url), database_url
    finally:
        stop_app_process(process)


def test_http_mode_serves_the_whole_intake(served: tuple[SlackSender, str], slack_api: SlackStandIn):
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
    served: tuple[SlackSender, str], slack_api: SlackStandIn
):
    sender, _ = served
    slack_api.script("chat.postMessage", Reply.rate_limited(retry_after=1))
    sender.submit(handoff_values())
    posts = slack_api.wait_for("chat.postMessage", 3, timeout=20)
    assert [p.params["channel"] for p in posts] == ["C0123BILL", "C0123BILL", AGENT]


def test_a_refused_bot_token_exits_2_naming_it(tmp_path: Path, slack_api: SlackStandIn):
    (tmp_path / "policy.yml").write_text(POLICY_YAML)
    slack_api.script("auth.test", Reply.error("invalid_auth"))
    result = run_app(
        tmp_path, SLACK_BOT_TOKEN="xoxb-revoked", SLACK_SIGNING_SECRET="s", SLACK_API_URL=slack_api.url
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN was refused by Slack (invalid_auth)" in result.stderr
    assert "Traceback" not in result.stderr
    assert "xoxb-revoked" not in result.stderr


def test_a_refused_app_token_exits_2_naming_it(tmp_path: Path, slack_api: SlackStandIn):
    (tmp_path / "policy.yml").write_text(POLICY_YAML)
    slack_api.script("apps.connections.open", Reply.error("invalid_auth"))
    result = run_app(
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
    process, _ = start_app_process(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",
        ESCALATOR_WORKERS="1",
        SLACK_API_TIMEOUT="1",
    )
    assert "could not reach Slack to check SLACK_BOT_TOKEN" in stop_app_process(process)


def test_timers_run_in_real_time_with_second_scale_targets(tmp_path: Path, slack_api: SlackStandIn):
    policy = ALWAYS_OPEN_POLICY_YAML.replace(
        "P2: {acknowledge: 15m, first_update: 2h, resolve: 1d}",
        "P2: {acknowledge: 2s, first_update: 4s, resolve: 8s}",
    )
    (tmp_path / "policy.yml").write_text(policy)
    process, base = serve_against(
        tmp_path,
        slack_api,
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
        stop_app_process(process)
    nudges = [
        p for p in slack_api.calls_to("chat.postMessage") if "still waiting" in str(p.params.get("text"))
    ]
    assert len([n for n in nudges if n.params["channel"] == "C0123BILL"]) == 1  # two workers, one nudge
