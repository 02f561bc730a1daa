"""The app process dies or is stopped mid-work: the card still reaches its channel exactly once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from app_process import kill_tree, serve_against, stop_app_process
from conftest import ALWAYS_OPEN_POLICY_YAML, SIGNING_SECRET

from escalator.standin.sender import SlackSender, handoff_values
from escalator.standin.web_api import Reply, SlackStandIn


def _serve(tmp_path: Path, slack_api: SlackStandIn, **env: str):  # type: ignore[no-untyped-def]
    return serve_against(
        tmp_path,
        slack_api,
        **{"DATABASE_URL": f"sqlite:///{tmp_path / 'escalator.db'}", "ESCALATOR_WORKERS": "1", **env},
    )


def _card(tmp_path: Path) -> tuple[str | None, str]:
    """The stored card's ts, and the state of the outbox message that posts it."""
    with sqlite3.connect(tmp_path / "escalator.db") as db:
        (ts,) = db.execute("SELECT card_ts FROM escalations").fetchone()
        (status,) = db.execute("SELECT status FROM outbox WHERE kind = 'post_card'").fetchone()
    return ts, status


def _wait_for_card(tmp_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (ts := _card(tmp_path)[0]) is None:
        assert time.monotonic() < deadline, "the card was never recorded"
        time.sleep(0.1)
    return ts


def test_killed_while_slack_takes_the_card_it_is_posted_once_after_restart(
    tmp_path: Path, slack_api: SlackStandIn
):
    (tmp_path / "policy.yml").write_text(ALWAYS_OPEN_POLICY_YAML)
    # Slack takes the card, but its answer is slow: the process dies before it arrives.
    slack_api.script("chat.postMessage", Reply(delay=8, body={"ok": True}))
    process, base = _serve(tmp_path, slack_api, SLACK_API_TIMEOUT="1")
    SlackSender(base, SIGNING_SECRET, slack_api.response_url).submit(handoff_values())
    slack_api.wait_for("chat.postMessage")
    kill_tree(process.pid)  # the supervisor, the web and delivery processes: no goodbyes
    process.wait(timeout=10)
    assert _card(tmp_path) == (None, "pending")

    restarted, _ = _serve(tmp_path, slack_api, SLACK_API_TIMEOUT="1")
    try:
        ts = _wait_for_card(tmp_path, timeout=30)  # once the dead worker's lease has run out
    finally:
        stop_app_process(restarted)

    (card,) = [m for m in slack_api.posted["C0123BILL"] if "thread_ts" not in m]
    assert card["ts"] == ts
    assert len([c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == "C0123BILL"]) == 1
    assert _card(tmp_path) == (ts, "delivered")


def test_sigterm_finishes_the_card_in_flight_before_exiting(tmp_path: Path, slack_api: SlackStandIn):
    (tmp_path / "policy.yml").write_text(ALWAYS_OPEN_POLICY_YAML)
    slack_api.script("chat.postMessage", Reply(delay=2, body={"ok": True}))
    process, base = _serve(tmp_path, slack_api, SLACK_API_TIMEOUT="5")
    answer = SlackSender(base, SIGNING_SECRET, slack_api.response_url).submit(handoff_values())
    assert answer.json()["response_action"] == "update"
    slack_api.wait_for("chat.postMessage")  # the card is on its way, after the ack

    stop_app_process(process)  # SIGTERM, and a clean exit

    ts, status = _card(tmp_path)
    assert ts is not None and status == "delivered"
    assert [m["ts"] for m in slack_api.posted["C0123BILL"]] == [ts]
