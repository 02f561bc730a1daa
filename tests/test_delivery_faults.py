"""Slack failing never loses an escalation: rate limits, 5xx, hangs, refused channels, restarts."""

from __future__ import annotations

import json

from conftest import FakeClock, RunningApp, make_settings
from sqlalchemy import select, text

from escalator.domain.escalation import Escalation
from escalator.policy import Policy
from escalator.standin.sender import AGENT, handoff_values
from escalator.standin.web_api import Reply, SlackStandIn
from escalator.store.tables import outbox
from escalator.wiring import build_worker


def _escalation(app: RunningApp) -> Escalation:
    with app.store.transaction() as tx:
        return tx.session.scalars(select(Escalation)).one()


def _posts_to(slack_api: SlackStandIn, channel: str) -> list:
    return [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == channel]


def _outbox_states(app: RunningApp) -> list[tuple[str, str]]:
    with app.store.transaction() as tx:
        return [(row.kind, row.status) for row in tx.session.execute(select(outbox).order_by(outbox.c.id))]


def test_a_rate_limit_is_honoured_and_the_card_posted_once(running_app: RunningApp, slack_api: SlackStandIn):
    slack_api.script("chat.postMessage", Reply.rate_limited(retry_after=30))

    assert running_app.slack.submit(handoff_values()).json()["response_action"] == "update"
    slack_api.wait_for("chat.postMessage", 1)
    running_app.settle()
    assert running_app.deliver_due() == 0  # not before Retry-After
    running_app.clock.advance(seconds=29)
    assert running_app.deliver_due() == 0
    running_app.clock.advance(seconds=3)  # Retry-After, and the jitter of at most a second
    running_app.deliver_due()

    assert len(_posts_to(slack_api, "C0123BILL")) == 2  # the refused attempt and the one that landed
    assert len(_posts_to(slack_api, AGENT)) == 1
    assert _escalation(running_app).card_ts is not None
    running_app.clock.advance(hours=1)
    assert running_app.deliver_due() == 0
    assert len(slack_api.calls_to("chat.postMessage")) == 3
    assert _outbox_states(running_app) == [
        ("post_card", "delivered"),
        ("tell_agent_next_steps", "delivered"),
        ("publish_home", "delivered"),
    ]


def test_server_errors_and_hangs_are_retried_and_the_card_is_never_posted_twice(
    running_app: RunningApp, slack_api: SlackStandIn
):
    slack_api.script("chat.postMessage", Reply.server_error(), Reply(delay=2.5, body={"ok": True}))

    running_app.slack.submit(handoff_values())
    slack_api.wait_for("chat.postMessage", 1)
    running_app.settle()
    running_app.clock.advance(seconds=2)
    running_app.deliver_due()  # second attempt: Slack takes the card but hangs past the timeout
    assert _escalation(running_app).card_ts is None
    running_app.clock.advance(seconds=4)
    running_app.deliver_due()  # third attempt: looks first, and finds the card the hang posted

    _refused, hung = _posts_to(slack_api, "C0123BILL")
    assert hung.response is not None
    assert (_escalation(running_app).card_channel_id, _escalation(running_app).card_ts) == (
        "C0123BILL",
        hung.response["ts"],
    )
    # The 503 proved nothing was posted: its retry posts without looking. The hang proved nothing
    # either way: its retry looks first.
    searches = slack_api.calls_to("conversations.history")
    assert [s.params["channel"] for s in searches] == ["C0123BILL"]
    assert len(slack_api.posted["C0123BILL"]) == 1  # what the channel shows: one card
    assert len(_posts_to(slack_api, AGENT)) == 1


def test_a_dm_whose_answer_was_lost_is_not_sent_again(running_app: RunningApp, slack_api: SlackStandIn):
    # The card goes through; the agent's "what happens next" is taken by Slack, but the answer is lost.
    slack_api.script("chat.postMessage", Reply(body={"ok": True}), Reply(delay=2.5, body={"ok": True}))

    running_app.slack.submit(handoff_values())
    slack_api.wait_for("chat.postMessage", 2)
    running_app.settle()
    running_app.clock.advance(minutes=5)
    running_app.deliver_due()

    dm = "D" + AGENT[1:]
    assert len(slack_api.posted[dm]) == 1
    assert len(_posts_to(slack_api, AGENT)) == 1
    assert slack_api.calls_to("conversations.open")[-1].params["users"] == AGENT
    assert ("tell_agent_next_steps", "delivered") in _outbox_states(running_app)


def test_a_missing_channel_goes_to_the_supervisors_and_the_agent_learns_what_to_do(
    running_app: RunningApp, slack_api: SlackStandIn
):
    slack_api.script("chat.postMessage", Reply.error("channel_not_found"))

    running_app.slack.submit(handoff_values())
    _card, alert, note = slack_api.wait_for("chat.postMessage", 3)

    assert alert.params["channel"] == "C0123SUP"
    assert "could not be posted to <#C0123BILL>" in alert.params["text"]
    assert "Jane Doe" in json.dumps(alert.params["blocks"])
    assert note.params["channel"] == AGENT
    told = json.dumps(note.params["blocks"])
    assert "supervisors instead" in told and "/invite @Escalator" in told
    escalation = _escalation(running_app)
    assert (escalation.card_channel_id, escalation.delivery_problem) == ("C0123SUP", "channel_not_found")


def test_when_no_channel_takes_it_the_agent_is_told_to_call_a_supervisor(
    running_app: RunningApp, slack_api: SlackStandIn
):
    slack_api.script("chat.postMessage", Reply.error("not_in_channel"), Reply.error("not_in_channel"))

    running_app.slack.submit(handoff_values())
    *_, note = slack_api.wait_for("chat.postMessage", 3)

    assert note.params["channel"] == AGENT
    assert "Please call a supervisor now" in json.dumps(note.params["blocks"])
    assert _escalation(running_app).card_ts is None


def test_a_form_that_cannot_open_is_explained_to_the_agent(running_app: RunningApp, slack_api: SlackStandIn):
    slack_api.script("views.open", Reply.server_error())

    running_app.slack.command("refund")
    (reply,) = slack_api.wait_for("response_url")

    assert "couldn't open the escalation form" in reply.params["text"]
    assert reply.params["response_type"] == "ephemeral"


def test_a_database_failure_keeps_the_form_open_with_a_message(
    running_app: RunningApp, slack_api: SlackStandIn
):
    with running_app.store.engine.begin() as connection:
        for table in ("mutes", "timers", "outbox", "escalation_events", "escalations"):
            connection.execute(text(f"DROP TABLE {table}"))

    answer = running_app.slack.submit(handoff_values()).json()

    assert answer["response_action"] == "errors"
    assert "press Escalate again" in answer["errors"]["summary"]
    assert slack_api.calls_to("chat.postMessage") == []


def test_a_card_waiting_for_slack_survives_a_restart(
    running_app: RunningApp, slack_api: SlackStandIn, database_url: str, policy: Policy, clock: FakeClock
):
    slack_api.script("chat.postMessage", Reply.server_error())
    running_app.slack.submit(handoff_values())
    slack_api.wait_for("chat.postMessage", 1)
    running_app.settle()
    running_app.worker.close()  # the worker stops with the card still undelivered

    clock.advance(minutes=1)
    restarted = build_worker(make_settings(database_url, slack_api), policy, clock, background=False)
    try:
        restarted.delivery.engine.drain()  # type: ignore[union-attr]
        restarted.delivery.engine.drain()  # type: ignore[union-attr]
    finally:
        restarted.close()

    assert len(_posts_to(slack_api, "C0123BILL")) == 2
    assert len(_posts_to(slack_api, AGENT)) == 1


def test_acks_stay_fast_while_slack_hangs(running_app: RunningApp, slack_api: SlackStandIn):
    """Slack's own deadline is 3 s; every Web API call here hangs past the app's timeout."""
    hang = Reply(delay=2.5, body={"ok": True})
    slack_api.script("views.open", hang)
    slack_api.script("chat.postMessage", hang, hang, hang)

    opened = running_app.slack.command("refund")
    submitted = running_app.slack.submit(handoff_values())
    running_app.settle()
    pressed = running_app.slack.press("claim", _escalation(running_app).id, "U0ALEX")

    for response in (opened, submitted, pressed):
        assert response.status_code == 200
        # Waiting on the Web API would take its whole timeout (1 s here): the hang comes after the ack.
        assert response.elapsed.total_seconds() < 1.0
    assert submitted.json()["response_action"] == "update"
    running_app.settle()
    assert _escalation(running_app).owner_user_id == "U0ALEX"  # the case was kept, and claimed
