"""Customers' personal details: masked in channels, purged after retention, forgotten on request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import POLICY_YAML, FakeClock, RunningApp, start_app
from sqlalchemy.exc import OperationalError
from test_ownership import ALEX, BILLING, STRANGER, current, history, pressed_and_settled, raise_escalation

from escalator.cli import main as escalator
from escalator.domain.escalation import Escalation, State
from escalator.domain.privacy import REMOVED
from escalator.policy import parse_policy
from escalator.services import privacy
from escalator.standin.sender import AGENT, text
from escalator.standin.sender import select as option
from escalator.standin.web_api import Call, SlackStandIn
from escalator.store.database import Store

PRIVATE_POLICY = (
    POLICY_YAML + 'privacy:\n  mask_account_in_channel: true\n  retain_for: 30d\n  purge_at: "03:00"\n'
)
ACCOUNT = "12345678"


@pytest.fixture
def app(store: Store, database_url: str, slack_api: SlackStandIn, clock: FakeClock) -> Iterator[RunningApp]:
    running = start_app(database_url, slack_api, clock, parse_policy(PRIVATE_POLICY))
    yield running
    running.close()


def _raise(app: RunningApp, slack_api: SlackStandIn, account: str = ACCOUNT) -> Escalation:
    return raise_escalation(
        app,
        slack_api,
        account_number=text(account),
        summary=text(f"Double charge on account {account}, invoice #789."),
    )


def _everything(call: Call) -> str:
    return json.dumps(call.params, ensure_ascii=False)


def _in_channels(slack_api: SlackStandIn) -> list[Call]:
    """What the bot said where more than the case's people can read it."""
    posted = slack_api.calls_to("chat.postMessage") + slack_api.calls_to("chat.update")
    return [c for c in posted if str(c.params["channel"]).startswith("C")]


def _close(app: RunningApp, slack_api: SlackStandIn, escalation: Escalation) -> None:
    pressed_and_settled(app, slack_api, "claim", escalation, ALEX)
    app.slack.submit_form("update_form", escalation.id, {"update": text(f"Called about {ACCOUNT}.")}, ALEX)
    handback = {"done": text("Reversed the duplicate charge."), "for_customer": text("Refund in 3 days.")}
    app.slack.submit_form("resolve_form", escalation.id, handback, ALEX)
    app.slack.submit_form("close_form", escalation.id, {"csat": option("4", "radio_buttons")}, AGENT)
    app.settle()
    assert current(app, escalation).state is State.closed


def test_channels_show_the_account_masked_and_the_owner_reads_the_full_note(
    app: RunningApp, slack_api: SlackStandIn
):
    escalation = _raise(app, slack_api)
    pressed_and_settled(app, slack_api, "claim", escalation, ALEX)
    app.slack.submit_form("update_form", escalation.id, {"update": text(f"Bank confirms {ACCOUNT}.")}, ALEX)
    app.settle()

    channel_calls = _in_channels(slack_api)
    assert channel_calls and all(ACCOUNT not in _everything(c) for c in channel_calls)
    card = slack_api.calls_to("chat.postMessage")[0]
    assert card.params["channel"] == BILLING
    assert "••5678" in _everything(card) and '"action_id": "full_note"' in _everything(card)
    assert any("Bank confirms ••5678" in _everything(c) for c in channel_calls)  # the thread note

    pressed_and_settled(app, slack_api, "full_note", escalation, ALEX)
    (modal,) = slack_api.calls_to("views.open")
    assert ACCOUNT in _everything(modal) and "Only you can see this" in _everything(modal)

    pressed_and_settled(app, slack_api, "full_note", escalation, STRANGER)
    assert len(slack_api.calls_to("views.open")) == 1
    assert "Only the agent who raised it" in slack_api.wait_for("response_url")[-1].params["text"]


def test_the_nightly_purge_erases_finished_cases_past_retention_and_keeps_the_metrics(
    app: RunningApp, slack_api: SlackStandIn, clock: FakeClock
):
    finished = _raise(app, slack_api)
    _close(app, slack_api, finished)
    still_open = _raise(app, slack_api, account="99990000")
    dms_before = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == AGENT]

    clock.advance(days=29)
    app.tick()
    assert current(app, finished).personal_data_removed_at is None  # not yet 30 days
    clock.advance(days=2)
    clock.set(clock.now().replace(hour=2, minute=0))  # 02:00 UTC is 02:00 in London in winter
    app.tick()
    assert current(app, finished).personal_data_removed_at is None  # not before 03:00
    clock.advance(hours=1, minutes=5)
    app.tick()

    erased = current(app, finished)
    assert erased.personal_data_removed_at is not None
    assert (erased.customer_name, erased.account_number, erased.summary) == (REMOVED, REMOVED, REMOVED)
    assert (erased.state, erased.csat, erased.closed_at) == (
        State.closed,
        4,
        current(app, finished).closed_at,
    )
    notes = [note for action, _, note in history(app, finished) if note]
    assert notes[-1].startswith("the retention period (30 days) is over")
    assert all(note == REMOVED for note in notes[:-1])
    assert current(app, still_open).account_number == "99990000"

    card_now = [c for c in slack_api.calls_to("chat.update") if c.params["ts"] == erased.card_ts][-1]
    assert "Jane Doe" not in _everything(card_now) and "personal details were erased" in _everything(card_now)
    overwritten = {(c.params["channel"], c.params["ts"]) for c in slack_api.calls_to("chat.update")}
    for dm in dms_before:
        if dm.response and dm.response.get("ts") and "ESC-1" in _everything(dm):
            assert (dm.response["channel"], dm.response["ts"]) in overwritten
    for channel_message in slack_api.posted[BILLING]:
        if channel_message.get("thread_ts") == erased.card_ts:
            assert (BILLING, channel_message["ts"]) in overwritten

    # Once a day: the next tick finds nothing more to do.
    updates = len(slack_api.calls_to("chat.update"))
    app.tick()
    assert len(slack_api.calls_to("chat.update")) == updates


def test_forget_erases_one_customer_everywhere(
    app: RunningApp,
    slack_api: SlackStandIn,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    first = _raise(app, slack_api)
    second = _raise(app, slack_api)
    other = _raise(app, slack_api, account="55554444")
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert escalator(["forget", "--account", ACCOUNT]) == 0
    assert "erased the customer's personal details from ESC-1, ESC-2" in capsys.readouterr().out
    app.tick()  # the running app's next tick overwrites the Slack messages

    for escalation in (first, second):
        assert current(app, escalation).account_number == REMOVED
        assert not any(
            ACCOUNT in _everything(c)
            for c in slack_api.calls_to("chat.update")
            if c.params["ts"] == escalation.card_ts
        )
    assert current(app, other).account_number == "55554444"
    erase_entries: list[Any] = [h for h in history(app, first) if h[0] == "erase"]
    assert erase_entries == [("erase", "escalator", "at the customer's request")]

    assert escalator(["forget", "--account", ACCOUNT]) == 0
    assert "no escalation holds account" in capsys.readouterr().out


def test_a_night_whose_purge_met_a_database_error_is_purged_on_the_next_tick(
    app: RunningApp, slack_api: SlackStandIn, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
):
    finished = _raise(app, slack_api)
    _close(app, slack_api, finished)
    clock.advance(days=31)
    clock.set(clock.now().replace(hour=3, minute=5))

    def unreachable(*_args: Any) -> None:
        raise OperationalError("UPDATE escalations", {}, Exception("the database went away"))

    monkeypatch.setattr(privacy, "erase_cases", unreachable)
    with pytest.raises(OperationalError):
        app.tick()  # as the delivery loop's tick meets it: logged, and tried again next tick
    monkeypatch.undo()
    app.tick()

    assert current(app, finished).personal_data_removed_at is not None
