"""Promised callbacks through signed requests: the form records one, the owner (or the agent while
nobody owns the case) is reminded before it, "Called back" marks it made, and a missed one shows on
the card, in App Home and in the digest."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from conftest import WEDNESDAY_MORNING, FakeClock, RunningApp
from test_digest import _raise
from test_home import _home_of, _open_home
from test_ownership import ALEX, BILLING, calls_after, current, history, pressed_and_settled, raise_escalation
from test_timers import at, posts

from escalator.domain.escalation import CallbackVia, Escalation, EscalationType
from escalator.domain.lifecycle import Actor, Refused
from escalator.policy import Policy, Priority
from escalator.services.digest import Digests
from escalator.services.ownership import Ownership
from escalator.slack.rendering.digest import digest_as_text, render_digest
from escalator.standin.readable import blocks_text, view_text
from escalator.standin.sender import AGENT, handoff_values, text
from escalator.standin.sender import select as option
from escalator.standin.web_api import Call, SlackStandIn
from escalator.store.database import Store

CALLBACK_AT = WEDNESDAY_MORNING + timedelta(minutes=20)  # 10:20: reminded at 10:05, missed at 10:35
REMINDER = "promised a callback by phone"


def _callback(moment: datetime = CALLBACK_AT, via: str | None = "phone") -> dict[str, Any]:
    return {
        "callback_at": {"type": "datetimepicker", "selected_date_time": int(moment.timestamp())},
        "callback_via": option(via),
    }


def _readable(call: Call) -> str:
    return "\n".join(blocks_text(call.params.get("blocks") or [], names=lambda ref: f"@{ref}"))


def _promised(app: RunningApp, slack_api: SlackStandIn) -> Escalation:
    return raise_escalation(app, slack_api, **_callback())


def test_the_form_records_a_callback_and_asks_for_both_halves(
    running_app: RunningApp, slack_api: SlackStandIn
):
    app = running_app
    only_how = app.slack.submit(handoff_values(callback_via=option("email"))).json()
    assert only_how["response_action"] == "errors"
    assert set(only_how["errors"]) == {"callback_at"} and "by email" in only_how["errors"]["callback_at"]
    only_when = app.slack.submit(handoff_values(**_callback(via=None))).json()
    assert set(only_when["errors"]) == {"callback_via"} and "phone, email or chat" in str(only_when)
    past = app.slack.submit(handoff_values(**_callback(WEDNESDAY_MORNING - timedelta(minutes=1)))).json()
    assert "has passed" in past["errors"]["callback_at"]
    assert slack_api.calls_to("chat.postMessage") == []

    escalation = _promised(app, slack_api)

    assert (escalation.callback_at, escalation.callback_via) == (CALLBACK_AT, CallbackVia.phone)
    card = posts(slack_api, BILLING)[0]
    assert "📞 Callback promised by phone, Wed 25 Nov 10:20:00 UTC" in _readable(card)
    assert "[Called back]" in _readable(card)
    (next_steps,) = posts(slack_api, AGENT, "What happens next")
    assert "Callback promised by phone Wed 25 Nov 10:20:00 UTC: I'll remind whoever owns the case 15 min" in (
        _readable(next_steps)
    )


def test_the_agent_is_reminded_while_nobody_owns_the_case(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = _promised(running_app, slack_api)

    at(running_app, CALLBACK_AT - timedelta(minutes=16))
    assert posts(slack_api, AGENT, REMINDER) == []
    at(running_app, CALLBACK_AT - timedelta(minutes=15))  # callbacks.remind_before: 15m by default

    (reminder,) = posts(slack_api, AGENT, REMINDER)
    assert "Nobody owns *ESC-1*" in reminder.params["text"]
    buttons = [e["action_id"] for e in reminder.params["blocks"][1]["elements"]]
    assert buttons == ["callback_done", "snooze_hour", "snooze_tomorrow", "mute"]
    assert posts(slack_api, ALEX, REMINDER) == []
    assert current(running_app, escalation).callback_done_at is None


def test_the_owner_is_reminded_and_marks_it_called_back_once(
    running_app: RunningApp, slack_api: SlackStandIn
):
    app = running_app
    escalation = _promised(app, slack_api)
    pressed_and_settled(app, slack_api, "claim", escalation, ALEX)

    at(app, CALLBACK_AT - timedelta(minutes=15))
    (reminder,) = posts(slack_api, ALEX, REMINDER)
    assert "You own *ESC-1*" in reminder.params["text"]
    assert posts(slack_api, AGENT, REMINDER) == []  # the owner makes the call

    updates = len(slack_api.calls_to("chat.update"))
    pressed_and_settled(app, slack_api, "callback_done", escalation, ALEX)  # from the reminder
    made = current(app, escalation)
    assert made.callback_done_by == ALEX and made.callback_done_at == app.clock.now()
    assert ("callback_done", ALEX, None) in history(app, escalation)
    card = calls_after(slack_api, updates, "chat.update")[-1]
    assert "Callback promised by phone, Wed 25 Nov 10:20:00 UTC · done by @U0ALEX" in _readable(card)
    assert "[Called back]" not in _readable(card)

    pressed_and_settled(app, slack_api, "callback_done", escalation, AGENT)  # the agent, too late
    assert "already marked made" in slack_api.wait_for("response_url")[-1].params["text"]
    at(app, CALLBACK_AT + timedelta(minutes=15))
    assert current(app, escalation).callback_missed_at is None
    assert posts(slack_api, ALEX, "Promised callback missed") == []


def test_a_missed_callback_shows_on_the_card_in_app_home_and_in_the_digest(
    running_app: RunningApp, slack_api: SlackStandIn, policy: Policy
):
    app = running_app
    escalation = _promised(app, slack_api)
    pressed_and_settled(app, slack_api, "claim", escalation, ALEX)
    at(app, CALLBACK_AT + timedelta(minutes=14))
    assert current(app, escalation).callback_missed_at is None

    at(app, CALLBACK_AT + timedelta(minutes=15))  # callbacks.missed_after: 15m by default
    app.settle()

    missed = current(app, escalation)
    assert missed.callback_missed_at == CALLBACK_AT + timedelta(minutes=15)
    card = [c for c in slack_api.calls_to("chat.update") if c.params["ts"] == escalation.card_ts][-1]
    assert "⚠️ Promised callback missed — phone, Wed 25 Nov 10:20:00 UTC" in _readable(card)
    assert len(posts(slack_api, ALEX, "Promised callback missed")) == 1
    assert len(posts(slack_api, AGENT, "Promised callback missed")) == 1
    thread = [c for c in posts(slack_api, BILLING) if c.params.get("thread_ts") == escalation.card_ts]
    assert "marked the promised callback missed on ESC-1" in thread[-1].params["text"]

    _open_home(app, ALEX)
    home = "\n".join(view_text(_home_of(slack_api, ALEX).params["view"], names=lambda ref: f"@{ref}"))
    assert "Missed callbacks" in home and "⚠️ Promised callback missed — phone" in home

    digest = Digests(app.store, policy, FakeClock(WEDNESDAY_MORNING + timedelta(days=1))).build(
        date(2026, 11, 25)
    )
    assert "*Missed callbacks:* 1 (<https://slack.com/archives/C0123BILL/p" in digest_as_text(
        render_digest(digest, policy)
    )
    assert [e.reference for e in digest.missed_callbacks] == ["ESC-1"]

    # Called back late, from App Home: the card says so, and App Home no longer lists it.
    app.slack.interaction(
        {
            "type": "block_actions",
            "user": {"id": ALEX},
            "trigger_id": "1.2.t",
            "view": {"id": "V0HOME", "type": "home"},
            "actions": [
                {"action_id": "callback_done", "type": "button", "value": "1", "action_ts": "1764.000200"}
            ],
        }
    )
    app.settle()
    assert "done late by @U0ALEX" in _readable(slack_api.calls_to("chat.update")[-1])
    assert "Missed callbacks" not in str(_home_of(slack_api, ALEX).params["view"])


def test_closing_the_loop_counts_as_the_customer_contacted(running_app: RunningApp, slack_api: SlackStandIn):
    app = running_app
    escalation = _promised(app, slack_api)
    pressed_and_settled(app, slack_api, "claim", escalation, ALEX)
    handback = {"done": text("Reversed"), "for_customer": text("Reversed; 3–5 days")}
    app.slack.submit_form("resolve_form", escalation.id, handback, ALEX)
    app.settle()
    app.slack.submit_form("close_form", escalation.id, {"csat": option("5", "radio_buttons")}, AGENT)
    app.settle()

    closed = current(app, escalation)
    assert closed.callback_done_by == AGENT and closed.callback_done_at is not None
    at(app, CALLBACK_AT + timedelta(hours=1))
    assert posts(slack_api, ALEX, REMINDER) == [] and current(app, escalation).callback_missed_at is None


def test_a_case_without_a_promise_has_no_callback_to_mark(store: Store, policy: Policy):
    clock = FakeClock()
    escalation_id = _raise(
        store, policy, clock, clock.now(), "billing", EscalationType.functional, Priority.P2, "1", "Double"
    )
    own = Ownership(store, policy, clock)
    with pytest.raises(Refused, match="ESC-1 has no promised callback"):
        own.callback_done("k:agent", escalation_id, Actor(AGENT))
    with pytest.raises(Refused, match="Only the agent who raised it or its owner or the supervisors"):
        own.callback_done("k:stranger", escalation_id, Actor("U0STRANGER"))
