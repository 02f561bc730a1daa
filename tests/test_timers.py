"""Timers with a movable clock: SLA nudges and breaches, the customer's deadline, closing the loop,
snooze and mute, restarts. Each fires once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from conftest import POLICY_YAML, FakeClock, RunningApp, make_settings, start_app
from sqlalchemy import select
from test_ownership import ALEX, BILLING, current, pressed_and_settled, raise_escalation

from escalator.domain.escalation import Escalation, EscalationType, State
from escalator.policy import Policy, parse_policy
from escalator.standin.sender import AGENT, text
from escalator.standin.sender import select as option
from escalator.standin.web_api import Call, Reply, SlackStandIn
from escalator.store.tables import timers
from escalator.wiring import build_worker

NUDGE_TEXT = "is still waiting for a specialist"


def posts(slack_api: SlackStandIn, channel: str, containing: str = "") -> list[Call]:
    return [
        c
        for c in slack_api.calls_to("chat.postMessage")
        if c.params["channel"] == channel and containing in json.dumps(c.params, ensure_ascii=False)
    ]


def at(app: RunningApp, moment: datetime) -> None:
    """Move the clock to `moment` and run one scheduler tick, as the background thread would."""
    app.clock.set(moment)
    app.tick()


def test_acknowledge_nudge_then_breach_each_once(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)  # P2: acknowledge within 15 min, raised 10:00
    raised = escalation.raised_at

    at(running_app, raised + timedelta(minutes=11))
    assert posts(slack_api, BILLING, NUDGE_TEXT) == []
    at(running_app, raised + timedelta(minutes=11, seconds=15))  # 75 % of 15 min
    (nudge,) = posts(slack_api, BILLING, NUDGE_TEXT)
    assert "<@U0ALEX>, <@U0SAM>" in nudge.params["text"] and ":eyes:" in nudge.params["text"]
    at(running_app, raised + timedelta(minutes=12))
    assert len(posts(slack_api, BILLING, NUDGE_TEXT)) == 1

    at(running_app, raised + timedelta(minutes=15))
    moved = current(running_app, escalation)
    assert moved.escalation_type is EscalationType.hierarchical
    assert moved.card_channel_id == "C0123SUP" and moved.acknowledge_breached_at is not None
    (card,) = posts(slack_api, "C0123SUP", "Hierarchical escalation")
    assert ":warning: missed" in json.dumps(card.params["blocks"])
    with running_app.store.transaction() as tx:
        last = tx.history.of(escalation.id)[-1]
    assert (last.action, last.actor_user_id, last.target) == ("move", "escalator", "supervisors")
    note = next(c for c in posts(slack_api, "C0123SUP") if c.params.get("thread_ts") == moved.card_ts)
    assert note.params["text"].startswith("Escalator (automatically) re-escalated ESC-1 to the supervisors")
    at(running_app, raised + timedelta(minutes=16))
    assert len(posts(slack_api, "C0123SUP", "Hierarchical escalation")) == 1


def test_no_nudge_once_claimed(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)

    at(running_app, escalation.raised_at + timedelta(minutes=30))

    assert posts(slack_api, BILLING, NUDGE_TEXT) == []
    assert current(running_app, escalation).acknowledge_breached_at is None
    assert "acknowledged in 0 s" in json.dumps(slack_api.calls_to("chat.update")[-1].params["blocks"])


def test_first_update_nudge_and_return_to_the_queue(
    store, database_url: str, slack_api: SlackStandIn, clock: FakeClock
):
    policy = parse_policy(
        POLICY_YAML.replace(
            "P2: {acknowledge: 15m, first_update: 2h, resolve: 1d}",
            "P2: {acknowledge: 15m, first_update: 2h, resolve: 1d, unclaim_without_update: true}",
        )
    )
    app = start_app(database_url, slack_api, clock, policy)
    try:
        escalation = raise_escalation(app, slack_api)
        pressed_and_settled(app, slack_api, "claim", escalation, ALEX)
        at(app, escalation.raised_at + timedelta(minutes=90))  # 75 % of 2 h
        (nudge,) = posts(slack_api, ALEX, "give a first update by")
        buttons = [e["action_id"] for e in nudge.params["blocks"][1]["elements"]]
        assert buttons == ["post_update", "snooze_hour", "snooze_tomorrow", "mute"]

        at(app, escalation.raised_at + timedelta(hours=2))
        back = current(app, escalation)
        assert (back.state, back.owner_user_id) == (State.open, None)
        assert back.first_update_breached_at is not None
        assert posts(slack_api, ALEX, "went back to the queue")
    finally:
        app.close()


def test_a_first_update_stops_the_clock(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    running_app.slack.submit_form("update_form", escalation.id, {"update": text("On it")}, ALEX)
    running_app.settle()

    at(running_app, escalation.raised_at + timedelta(hours=3))

    assert posts(slack_api, ALEX, "first update") == []
    assert current(running_app, escalation).first_update_breached_at is None


def test_resolve_breach_tells_the_supervisors(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    running_app.slack.submit_form("update_form", escalation.id, {"update": text("On it")}, ALEX)
    running_app.settle()

    # "1d" is one working day: 10:00 Wednesday → 10:00 Thursday. The nudge comes at 75 % of it.
    at(running_app, datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    assert posts(slack_api, ALEX, "it should be resolved by")
    at(running_app, datetime(2026, 11, 26, 10, 0, tzinfo=UTC))
    (alert,) = posts(slack_api, "C0123SUP", "missed its resolve target")
    assert "Owner: <@U0ALEX>" in alert.params["text"]


def test_the_customers_deadline_is_a_promise_of_its_own(running_app: RunningApp, slack_api: SlackStandIn):
    deadline = int((datetime(2026, 11, 25, 13, 0, tzinfo=UTC)).timestamp())
    escalation = raise_escalation(
        running_app, slack_api, deadline_at={"type": "datetimepicker", "selected_date_time": deadline}
    )
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)

    at(running_app, datetime(2026, 11, 25, 11, 59, tzinfo=UTC))
    assert posts(slack_api, ALEX, "own deadline") == []
    at(running_app, datetime(2026, 11, 25, 12, 0, tzinfo=UTC))  # remind_before: 1h by default

    assert len(posts(slack_api, ALEX, "own deadline")) == 1
    assert "Bill due tomorrow" in posts(slack_api, AGENT, "own deadline")[0].params["text"]


def _resolved(app: RunningApp, slack_api: SlackStandIn) -> Escalation:
    escalation = raise_escalation(app, slack_api)
    pressed_and_settled(app, slack_api, "claim", escalation, ALEX)
    app.slack.submit_form(
        "resolve_form", escalation.id, {"done": text("Fixed"), "for_customer": text("Done")}, ALEX
    )
    app.settle()
    return current(app, escalation)


def test_close_the_loop_reminders_then_the_supervisors(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = _resolved(running_app, slack_api)
    resolved = escalation.resolved_at
    assert resolved is not None

    for hours, count in ((0.9, 0), (1, 1), (4.9, 1), (5, 2), (9, 3), (12.9, 3)):
        at(running_app, resolved + timedelta(hours=hours))
        assert len(posts(slack_api, AGENT, "Have you told the customer?")) == count, hours
    reminder = posts(slack_api, AGENT, "Have you told the customer?")[-1]
    assert "Reminder 3 of 3" in reminder.params["text"]
    assert "I wanted to check that your billing issue is resolved" in reminder.params["text"]
    assert posts(slack_api, "C0123SUP", "has not closed the loop") == []
    at(running_app, resolved + timedelta(hours=13))
    assert len(posts(slack_api, "C0123SUP", "has not closed the loop")) == 1
    at(running_app, resolved + timedelta(days=3))
    assert len(posts(slack_api, "C0123SUP", "has not closed the loop")) == 1


def test_closing_the_case_cancels_its_reminders(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = _resolved(running_app, slack_api)
    running_app.slack.submit_form("close_form", escalation.id, {"csat": option("5", "radio_buttons")}, AGENT)
    running_app.settle()

    at(running_app, escalation.resolved_at + timedelta(days=2))

    assert posts(slack_api, AGENT, "Have you told the customer?") == []
    with running_app.store.transaction() as tx:
        statuses = {row.kind: row.status for row in tx.session.execute(select(timers))}
    assert statuses["close_the_loop"] == "cancelled"


def test_snooze_and_mute_from_the_reminder(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = _resolved(running_app, slack_api)
    resolved = escalation.resolved_at
    at(running_app, resolved + timedelta(hours=1))
    (reminder,) = posts(slack_api, AGENT, "Have you told the customer?")
    snooze = next(e for e in reminder.params["blocks"][1]["elements"] if e["action_id"] == "snooze_hour")

    running_app.slack.interaction(_press_payload(running_app, "snooze_hour", snooze["value"], AGENT))
    assert "Snoozed: I'll remind you again" in slack_api.wait_for("response_url")[-1].params["text"]
    at(running_app, resolved + timedelta(hours=1, minutes=59))
    assert len(posts(slack_api, AGENT, "Have you told the customer?")) == 1
    at(running_app, resolved + timedelta(hours=2))
    assert len(posts(slack_api, AGENT, "Have you told the customer?")) == 2  # the same reminder, later

    running_app.slack.interaction(_press_payload(running_app, "mute", snooze["value"], AGENT))
    assert "Muted" in slack_api.wait_for("response_url", 2)[-1].params["text"]
    for hours in (6, 10, 14):  # reminders 2 and 3 come and go unseen; then the supervisors hear of it
        at(running_app, resolved + timedelta(hours=hours))
    assert len(posts(slack_api, AGENT, "Have you told the customer?")) == 2
    assert len(posts(slack_api, "C0123SUP", "has not closed the loop")) == 1  # muting hides nothing from them


def _press_payload(app: RunningApp, action_id: str, value: str, user: str) -> dict:
    return {
        "type": "block_actions",
        "user": {"id": user},
        "trigger_id": "1.2.trigger",
        "response_url": app.slack.response_url + "/reminder",
        "actions": [{"action_id": action_id, "value": value, "action_ts": f"{datetime.now().timestamp()}"}],
    }


def test_business_hours_hold_the_clock_over_the_weekend(
    store, database_url: str, slack_api: SlackStandIn, policy: Policy
):
    clock = FakeClock(datetime(2026, 11, 27, 17, 28, tzinfo=UTC))  # Friday, two minutes before closing
    app = start_app(database_url, slack_api, clock, policy)
    try:
        escalation = raise_escalation(app, slack_api, priority=option("P1"))  # acknowledge within 5 min
        assert current(app, escalation).routed_channel_id == BILLING
        at(app, datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
        assert posts(slack_api, BILLING, NUDGE_TEXT) == []
        # 2 min on Friday, then 1 min 45 s on Monday: 75 % of 5 min.
        at(app, datetime(2026, 11, 30, 9, 1, 45, tzinfo=UTC))
        assert len(posts(slack_api, BILLING, NUDGE_TEXT)) == 1
    finally:
        app.close()


def test_a_timer_due_while_the_app_was_down_fires_once_after_start(
    running_app: RunningApp, slack_api: SlackStandIn, database_url: str, policy: Policy, clock: FakeClock
):
    escalation = raise_escalation(running_app, slack_api)
    running_app.close()  # the app is stopped before anything is due

    clock.set(escalation.raised_at + timedelta(hours=1))
    for _ in range(2):  # two starts, each ticking twice: still one nudge
        worker = build_worker(make_settings(database_url, slack_api), policy, clock, background=False)
        worker.delivery.tick()  # type: ignore[union-attr]
        worker.delivery.tick()  # type: ignore[union-attr]
        worker.close()

    assert len(posts(slack_api, BILLING, NUDGE_TEXT)) == 1
    assert len(posts(slack_api, "C0123SUP", "Hierarchical escalation")) == 1


def test_a_failing_slack_call_does_not_hold_up_other_timers(running_app: RunningApp, slack_api: SlackStandIn):
    first = raise_escalation(running_app, slack_api)
    raise_escalation(running_app, slack_api)
    slack_api.script("chat.postMessage", Reply.server_error())

    at(running_app, first.raised_at + timedelta(minutes=12))

    # The first nudge met a 503 and waits for its retry; the second went out.
    nudges = posts(slack_api, BILLING, NUDGE_TEXT)
    assert len(nudges) == 2 and "ESC-2" in nudges[1].params["text"]
    at(running_app, first.raised_at + timedelta(minutes=12, seconds=10))
    assert {("ESC-1" in n.params["text"]) for n in posts(slack_api, BILLING, NUDGE_TEXT)} == {True, False}
    assert len(posts(slack_api, BILLING, NUDGE_TEXT)) == 3
