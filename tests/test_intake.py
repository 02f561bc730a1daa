"""Intake through signed HTTP requests: /escalate → form → stored escalation → card → agent told."""

from __future__ import annotations

import json

from conftest import RunningApp
from sqlalchemy import select

from escalator.domain.escalation import Escalation, EscalationType, State
from escalator.standin.sender import AGENT, handoff_values, text
from escalator.standin.sender import select as option
from escalator.standin.web_api import SlackStandIn


def _stored(app: RunningApp) -> list[Escalation]:
    with app.store.transaction() as tx:
        return list(tx.session.scalars(select(Escalation).order_by(Escalation.id)))


def _blocks_text(call) -> str:
    return json.dumps(call.params.get("blocks", []), ensure_ascii=False)


def test_slash_command_acks_and_opens_the_prefilled_form(running_app: RunningApp, slack_api: SlackStandIn):
    response = running_app.slack.command("Customer disputes an invoice and threatens a chargeback")

    assert response.status_code == 200
    assert response.text == ""
    (call,) = slack_api.wait_for("views.open")
    view = call.params["view"]
    assert call.params["trigger_id"].endswith(".trigger")
    assert view["callback_id"] == "escalate_form"
    blocks = {block.get("block_id"): block for block in view["blocks"]}
    assert (
        blocks["summary"]["element"]["initial_value"]
        == "Customer disputes an invoice and threatens a chargeback"
    )
    assert blocks["path"]["element"]["initial_option"]["value"] == "billing"
    assert blocks["escalation_type"]["element"]["initial_option"]["value"] == "priority"
    assert blocks["priority"]["element"]["initial_option"]["value"] == "P2"
    for field in (
        "customer_name",
        "account_number",
        "steps_taken",
        "desired_outcome",
        "customer_tone",
        "deadline",
        "deadline_at",
        "refund_amount",
        "refund_reason",
        "customer_consent",
    ):
        assert field in blocks
    assert [o["value"] for o in blocks["path"]["element"]["options"]] == ["billing", "technical"]


def test_message_shortcut_opens_the_form_with_the_message(running_app: RunningApp, slack_api: SlackStandIn):
    response = running_app.slack.message_shortcut("Login error 503 since this morning, the customer is stuck")

    assert response.status_code == 200
    (call,) = slack_api.wait_for("views.open")
    blocks = {block.get("block_id"): block for block in call.params["view"]["blocks"]}
    assert blocks["summary"]["element"]["initial_value"].startswith("Login error 503")
    assert blocks["path"]["element"]["initial_option"]["value"] == "technical"
    metadata = json.loads(call.params["view"]["private_metadata"])
    assert metadata == {"origin": "shortcut", "channel_id": "C0AGENTS", "message_ts": "1764000000.000100"}


def test_submission_stores_then_posts_the_card_then_tells_the_agent(
    running_app: RunningApp, slack_api: SlackStandIn
):
    response = running_app.slack.submit(handoff_values())

    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "update"
    assert "ESC-1" in json.dumps(answer["view"])
    (escalation,) = _stored(running_app)
    assert escalation.reference == "ESC-1"
    assert escalation.customer_name == "Jane Doe"
    assert escalation.state is State.open
    assert escalation.routed_channel_id == "C0123BILL"

    card, note = slack_api.wait_for("chat.postMessage", 2)
    assert card.params["channel"] == "C0123BILL"
    shown = _blocks_text(card)
    for expected in (
        "ESC-1",
        "Jane Doe",
        "12345",
        "invoice #789",
        "Two charges confirmed",
        "Immediate reversal",
        "Frustrated but polite",
        "Bill due tomorrow",
        "<@U0AGENT>",
        "acknowledge within 15 min",
        "<@U0ALEX>",
        "<@U0SAM>",
    ):
        assert expected in shown, expected
    assert note.params["channel"] == AGENT
    told = _blocks_text(note)
    assert "What happens next" in told and "15 min" in told and "<#C0123BILL>" in told
    (escalation,) = _stored(running_app)
    assert escalation.card_channel_id == "C0123BILL"
    assert escalation.card_ts == card_ts(slack_api)


def card_ts(slack_api: SlackStandIn) -> str:
    return "1764000000.000001"


def test_missing_fields_and_authority_are_shown_inline(running_app: RunningApp, slack_api: SlackStandIn):
    values = handoff_values(
        customer_name=text(""),
        refund_amount={"type": "number_input", "value": "120"},
    )
    response = running_app.slack.submit(values)

    answer = response.json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"customer_name", "escalation_type", "refund_reason"}
    assert "Say why" in answer["errors"]["refund_reason"]
    assert "beyond an agent's authority" in answer["errors"]["escalation_type"]
    assert _stored(running_app) == []
    assert slack_api.calls_to("chat.postMessage") == []


def test_hierarchical_escalation_goes_to_the_supervisors(running_app: RunningApp, slack_api: SlackStandIn):
    values = handoff_values(
        escalation_type=option("hierarchical", "radio_buttons"),
        refund_amount={"type": "number_input", "value": "120"},
        refund_reason=text("Charged twice for invoice #789"),
    )
    assert running_app.slack.submit(values).json()["response_action"] == "update"

    card, _note = slack_api.wait_for("chat.postMessage", 2)
    assert card.params["channel"] == "C0123SUP"
    assert "needs a supervisor's approval" in _blocks_text(card)
    (escalation,) = _stored(running_app)
    assert escalation.escalation_type is EscalationType.hierarchical


def test_the_same_submission_twice_makes_one_escalation(running_app: RunningApp, slack_api: SlackStandIn):
    first = running_app.slack.submit(handoff_values(), view_id="V0SAME")
    second = running_app.slack.submit(handoff_values(), view_id="V0SAME")

    assert first.json()["response_action"] == second.json()["response_action"] == "update"
    assert len(_stored(running_app)) == 1
    slack_api.wait_for("chat.postMessage", 2)
    running_app.deliver_due()
    assert len(slack_api.calls_to("chat.postMessage")) == 2
