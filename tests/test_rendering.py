"""Templates render valid Block Kit within Slack's limits, and typed text stays text."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import POLICY_YAML, WEDNESDAY_MORNING
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from escalator.domain.escalation import Approval, CallbackVia, Escalation, EscalationType, Origin
from escalator.domain.handoff import MAX_LENGTH, HandoffField
from escalator.domain.routing import detect
from escalator.policy import Policy, Priority, parse_policy
from escalator.slack.rendering.approvals import render_approval_request, render_refund_decided
from escalator.slack.rendering.card import render_card, render_delivery_alert
from escalator.slack.rendering.intake import (
    ModalPrefill,
    render_escalate_modal,
    render_next_steps,
    render_saved_view,
)

HOSTILE = "<!channel> <!here> <@U0BOSS> <!subteam^S0ALL> <https://evil.example|click me> & more"


def _escalation(**changes: object) -> Escalation:
    base = Escalation(
        id=42,
        raised_at=WEDNESDAY_MORNING,
        agent_user_id="U0AGENT",
        origin=Origin.command,
        idempotency_key="view:V1",
        customer_name="Jane Doe",
        account_number="12345",
        summary="Double charge on invoice #789",
        steps_taken="Confirmed both charges",
        desired_outcome="Immediate reversal",
        customer_tone="Frustrated but polite",
        path_key="billing",
        escalation_type=EscalationType.functional,
        priority=Priority.P2,
        routed_channel_id="C0123BILL",
        after_hours=False,
        acknowledge_by=WEDNESDAY_MORNING + timedelta(minutes=15),
        first_update_by=WEDNESDAY_MORNING + timedelta(hours=2),
        resolve_by=WEDNESDAY_MORNING + timedelta(days=1),
    )
    return replace(base, **changes)


def _check_message(blocks: list[dict]) -> None:
    assert len(blocks) <= 50
    for block in blocks:
        Block.parse(block).to_dict()  # slack_sdk checks each element's limits here
        for text in _section_texts(block):
            assert len(text) <= 3000


def _section_texts(block: dict) -> list[str]:
    texts = [block["text"]["text"]] if block.get("type") == "section" and "text" in block else []
    texts += [field["text"] for field in block.get("fields", [])]
    return texts


def test_the_modal_is_a_valid_view(policy: Policy):
    prefill = ModalPrefill("refund for a chargeback", detect("refund for a chargeback", policy))
    view = render_escalate_modal(policy, prefill, '{"origin":"command"}')
    View(**view).to_dict()
    assert len(view["blocks"]) <= 100
    max_lengths = {b["block_id"]: b["element"].get("max_length") for b in view["blocks"] if "block_id" in b}
    assert max_lengths["summary"] == MAX_LENGTH[HandoffField.summary]
    assert all(1 <= length <= 3000 for length in max_lengths.values() if length)


def test_the_modal_prefill_is_cut_to_the_field_limit(policy: Policy):
    long_text = "refund " * 1000
    view = render_escalate_modal(policy, ModalPrefill(long_text, detect(long_text, policy)), "{}")
    summary = next(b for b in view["blocks"] if b.get("block_id") == "summary")
    assert len(summary["element"]["initial_value"]) == MAX_LENGTH[HandoffField.summary]


def test_card_shows_every_field_and_validates(policy: Policy):
    escalation = _escalation(
        refund_amount=Decimal("120.00"),
        approval=Approval.pending,
        deadline="Bill due tomorrow",
        deadline_at=WEDNESDAY_MORNING + timedelta(days=1),
        customer_consent=True,
    )
    card = render_card(escalation, policy, WEDNESDAY_MORNING)
    _check_message(card.blocks)
    shown = json.dumps(card.blocks, ensure_ascii=False)
    for expected in (
        "ESC-42 · P2 · Billing",
        "Jane Doe",
        "12345",
        "invoice #789",
        "Confirmed both charges",
        "Immediate reversal",
        "Frustrated but polite",
        "Bill due tomorrow",
        "120.00",
        "needs a supervisor",
        "Agreed to the escalation",
        "acknowledge within 15 min",
        "<@U0AGENT>",
        "<@U0ALEX>, <@U0SAM>",
        "Open",
    ):
        assert expected in shown, expected
    assert card.text.startswith("ESC-42 · P2 · Billing: Jane Doe")


def test_card_shows_the_promised_callback_and_the_handoffs(policy: Policy):
    at = WEDNESDAY_MORNING + timedelta(hours=4)
    promised = _escalation(callback_at=at, callback_via=CallbackVia.phone, handoffs=3)
    blocks = render_card(promised, policy, WEDNESDAY_MORNING).blocks
    _check_message(blocks)
    shown = json.dumps(blocks)
    assert f":telephone_receiver: Callback promised by phone, <!date^{int(at.timestamp())}^" in shown
    assert ":repeat: 3rd handoff" in shown and '"action_id": "callback_done"' in shown

    missed = replace(promised, callback_missed_at=at + timedelta(minutes=15), handoffs=1)
    shown = json.dumps(render_card(missed, policy, WEDNESDAY_MORNING).blocks, ensure_ascii=False)
    assert ":warning: Promised callback missed — phone, <!date^" in shown and "handoff" not in shown
    done = replace(missed, callback_done_at=at + timedelta(hours=1), callback_done_by="U0ALEX")
    shown = json.dumps(render_card(done, policy, WEDNESDAY_MORNING).blocks, ensure_ascii=False)
    assert "· done late by <@U0ALEX>" in shown and "callback_done" not in shown
    assert "Callback" not in json.dumps(render_card(_escalation(), policy, WEDNESDAY_MORNING).blocks)


def test_typed_text_can_never_ping_or_link(policy: Policy):
    escalation = _escalation(
        customer_name=HOSTILE[:150],
        summary=HOSTILE,
        steps_taken=HOSTILE,
        desired_outcome=HOSTILE,
        customer_tone=HOSTILE[:300],
        deadline=HOSTILE[:300],
        account_number="<!everyone>",
    )
    pending = replace(
        escalation,
        refund_amount=Decimal("1500"),
        refund_reason=HOSTILE,
        approval=Approval.pending,
        approval_level=2,
        key_account_tier="strategic",
    )
    chained = parse_policy(
        POLICY_YAML.replace(
            "  supervisor: 500\n",
            "  supervisor: 500\n  levels:\n    - name: Support manager\n      approvers: [U0MORGAN]\n",
        )
    )
    decided = replace(pending, approval=Approval.approved, approval_by="U0MORGAN")
    for message in (
        render_card(escalation, policy, WEDNESDAY_MORNING),
        render_next_steps(escalation, policy, WEDNESDAY_MORNING),
        render_delivery_alert(escalation, policy, WEDNESDAY_MORNING, "C0123BILL", "not_in_channel"),
        render_card(pending, chained, WEDNESDAY_MORNING),
        render_approval_request(pending, chained),
        render_refund_decided(decided, chained),
    ):
        _check_message(message.blocks)
        everything = message.text + json.dumps(message.blocks, ensure_ascii=False)
        for forged in (
            "<!channel>",
            "<!here>",
            "<@U0BOSS>",
            "<!subteam^S0ALL>",
            "<https://evil",
            "<!everyone>",
        ):
            assert forged not in everything
        if message.text.startswith(("ESC-42", ":warning: ESC-42")):
            assert "&lt;!channel&gt;" in everything  # shown as text, not dropped


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=2500), st.text(min_size=1, max_size=150))
def test_any_text_fits_slack_limits(summary: str, name: str):
    # Worst case for escaping: every character grows to five ("&amp;").
    policy = parse_policy(POLICY_YAML)
    _check_message(
        render_card(_escalation(summary=summary, customer_name=name), policy, WEDNESDAY_MORNING).blocks
    )


def test_worst_case_escaping_is_clipped_cleanly(policy: Policy):
    card = render_card(_escalation(summary="&" * 2500, steps_taken="<" * 2000), policy, WEDNESDAY_MORNING)
    _check_message(card.blocks)
    summary = next(t for b in card.blocks for t in _section_texts(b) if t.startswith("*Issue"))
    assert summary.endswith("&amp;…")


@pytest.mark.parametrize("kind", list(EscalationType))
def test_every_type_renders(policy: Policy, kind: EscalationType):
    _check_message(render_card(_escalation(escalation_type=kind), policy, WEDNESDAY_MORNING).blocks)
    View(**render_saved_view(_escalation(escalation_type=kind), policy)).to_dict()


def test_next_steps_when_the_channel_failed(policy: Policy):
    rerouted = _escalation(delivery_problem="not_in_channel", card_channel_id="C0123SUP", card_ts="1.2")
    text = json.dumps(render_next_steps(rerouted, policy, WEDNESDAY_MORNING).blocks)
    assert "the bot is not a member of the channel" in text and "supervisors instead" in text
    assert "/invite @Escalator" in text
    lost = _escalation(delivery_problem="channel_not_found")
    assert "Please call a supervisor now" in json.dumps(
        render_next_steps(lost, policy, WEDNESDAY_MORNING).blocks
    )
