"""Slack's answer leaves within its 3-second deadline whatever the database or Slack is doing.

A database held locked by another connection for 10 s: the form, the button and the reaction are each
answered in time, with "try again" where someone is waiting, and everything works once it is released.
Slack hanging on every call while 60 requests arrive at `python app.py`: every one is acknowledged in
time, though the work after each ack waits for Slack.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from app_process import serve_against, stop_app_process
from conftest import ALWAYS_OPEN_POLICY_YAML, SIGNING_SECRET, RunningApp
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from escalator.domain.escalation import Escalation, State
from escalator.slack.directory import SLACK_SLOW
from escalator.slack.listeners.errors import DATABASE_AWAY
from escalator.slack.listeners.views import SAVE_FAILED
from escalator.standin.sender import SlackSender, handoff_values
from escalator.standin.sender import text as typed
from escalator.standin.web_api import SlackStandIn

SLACK_DEADLINE = 3.0
SPECIALIST = "U0ALEX"
BILLING = "C0123BILL"
HELD_FOR = 10.0


@contextmanager
def database_held_locked(database_url: str, seconds: float) -> Iterator[threading.Thread]:
    """Another connection takes the locks every write (on PostgreSQL, every read too) needs, and lets go
    after `seconds`; yields the thread that lets go, once the locks are held."""
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        if database_url.startswith("sqlite"):
            connection = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")  # SQLite's one write lock
            held.set()
            done.wait(seconds)
            connection.rollback()
            connection.close()
            return
        engine = create_engine(database_url)
        with engine.connect() as connection, connection.begin():
            connection.execute(
                text("LOCK TABLE escalations, outbox, handled_requests IN ACCESS EXCLUSIVE MODE")
            )
            held.set()
            done.wait(seconds)
        engine.dispose()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(10)
    try:
        yield holder
    finally:
        done.set()
        holder.join(10)


def _in_time(response: requests.Response) -> requests.Response:
    assert response.status_code == 200, response.text
    assert response.elapsed.total_seconds() < SLACK_DEADLINE, response.elapsed
    return response


def _only_case(app: RunningApp) -> Escalation:
    with app.store.reading() as tx:
        (escalation,) = tx.session.scalars(select(Escalation))
    return escalation


def test_a_database_held_locked_answers_in_time_then_works_again(
    running_app: RunningApp, slack_api: SlackStandIn, database_url: str
):
    app = running_app
    assert app.slack.submit(handoff_values()).json()["response_action"] == "update"
    app.settle()
    case = _only_case(app)
    assert case.card_ts is not None

    with database_held_locked(database_url, HELD_FOR) as holder:
        started = time.monotonic()
        refused = _in_time(app.slack.submit(handoff_values()))
        assert refused.json() == {"response_action": "errors", "errors": {"summary": SAVE_FAILED}}

        _in_time(app.slack.press("claim", case.id, SPECIALIST))
        (told,) = slack_api.wait_for("response_url")
        assert (told.params["text"], told.params["response_type"]) == (DATABASE_AWAY, "ephemeral")

        _in_time(app.slack.reaction("eyes", SPECIALIST, BILLING, case.card_ts))
        (beside,) = slack_api.wait_for("chat.postEphemeral")
        assert (beside.params["user"], beside.params["text"]) == (SPECIALIST, DATABASE_AWAY)
        app.settle()
        assert time.monotonic() - started < HELD_FOR  # all of it while the lock was held
        holder.join(HELD_FOR + 5)

    # Released: nothing refused was stored, and the same requests now work.
    assert _only_case(app).state is State.open
    assert _in_time(app.slack.submit(handoff_values())).json()["response_action"] == "update"
    _in_time(app.slack.press("claim", case.id, SPECIALIST))
    app.settle()
    with app.store.reading() as tx:
        assert len(list(tx.session.scalars(select(Escalation)))) == 2
        claimed = tx.escalations.get(case.id or 0)
    assert claimed is not None and (claimed.state, claimed.owner_user_id) == (State.claimed, SPECIALIST)


def test_slack_hanging_on_every_call_never_delays_an_acknowledgement(
    tmp_path: Path, policy_file: Path, slack_api: SlackStandIn
):
    # Technical's specialists are a user group, which the app must ask Slack about.
    policy_file.write_text(
        ALWAYS_OPEN_POLICY_YAML.replace("    specialists: [U0TECH]\n", "    usergroup: S0TECH\n")
    )
    app, base = serve_against(tmp_path, slack_api, SLACK_API_TIMEOUT="20", ESCALATOR_WORKERS="1")
    sender = SlackSender(base, SIGNING_SECRET, slack_api.response_url)
    hanging = threading.Event()
    try:
        assert sender.submit(handoff_values()).json()["response_action"] == "update"
        slack_api.wait_for("chat.postMessage", 2)  # the card and the agent's notice
        (card,) = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == BILLING]
        slack_api.hang_while(hanging.is_set)
        hanging.set()

        # Each kind of request, 60 in all: every one holds a thread with Slack until it gives up.
        requests_to_send = [
            lambda: sender.command("customer cannot log in"),
            lambda: sender.press("claim", 1, SPECIALIST),
            lambda: sender.reaction("eyes", SPECIALIST, BILLING, card.response["ts"]),
            lambda: sender.submit(handoff_values()),
            lambda: sender.message_shortcut("refund please"),
            lambda: sender.submit_form("update_form", 1, {"update": typed("Looking into it")}, "U0TECH"),
        ] * 10
        with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
            answers = list(pool.map(lambda send: send(), requests_to_send))
        assert [a.status_code for a in answers] == [200] * len(requests_to_send)
        slowest = max(a.elapsed.total_seconds() for a in answers)
        assert slowest < SLACK_DEADLINE, slowest
        assert all(a.json()["response_action"] == "update" for a in answers[3::6])  # handoffs: stored
        # A case form needs to know who may act, which Slack is not saying: "try again", in time.
        assert all(a.json()["errors"] == {"update": SLACK_SLOW} for a in answers[5::6])
    finally:
        hanging.clear()
        stop_app_process(app)


def test_reading_never_waits_for_the_write_lock(
    running_app: RunningApp, slack_api: SlackStandIn, database_url: str
):
    """`/escalate stats` only reads: SQLite's write lock, held elsewhere, does not hold it up."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's readers never wait for writers' row locks")
    assert running_app.slack.submit(handoff_values()).json()["response_action"] == "update"
    running_app.settle()
    with database_held_locked(database_url, HELD_FOR):
        _in_time(running_app.slack.command("stats", user_id="U0SUPER"))
        (answer,) = slack_api.wait_for("response_url", timeout=2.0)
    assert answer.params["text"] != DATABASE_AWAY and "raised" in answer.params["text"].lower()
