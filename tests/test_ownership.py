"""Ownership through signed requests: claim, warm transfer, update, resolve, close; refusals; retries."""

from __future__ import annotations

import json
from typing import Any

from conftest import RunningApp
from sqlalchemy import select

from escalator.domain.escalation import Escalation, State
from escalator.domain.history import HistoryEntry
from escalator.standin.sender import AGENT, handoff_values, text
from escalator.standin.sender import select as option
from escalator.standin.web_api import Call, SlackStandIn

ALEX, SAM, SUPER, STRANGER = "U0ALEX", "U0SAM", "U0SUPER", "U0STRANGER"
BILLING = "C0123BILL"


def raise_escalation(app: RunningApp, slack_api: SlackStandIn, **overrides: Any) -> Escalation:
    """Raise an escalation through the form and wait until its card and the agent's note are out."""
    before = len(slack_api.calls_to("chat.postMessage"))
    assert app.slack.submit(handoff_values(**overrides)).json()["response_action"] == "update"
    slack_api.wait_for("chat.postMessage", before + 2)
    app.settle()
    with app.store.transaction() as tx:
        return tx.session.scalars(select(Escalation).order_by(Escalation.id.desc())).first()  # type: ignore[return-value]


def current(app: RunningApp, escalation: Escalation) -> Escalation:
    with app.store.transaction() as tx:
        found = tx.escalations.get(escalation.id or 0)
    assert found is not None
    return found


def history(app: RunningApp, escalation: Escalation) -> list[tuple[str, str, str | None]]:
    with app.store.transaction() as tx:
        entries = tx.history.of(escalation.id or 0)
    return [(e.action, e.actor_user_id, e.note) for e in entries]


def calls_after(slack_api: SlackStandIn, count: int, method: str, **match: Any) -> list[Call]:
    calls = slack_api.calls_to(method)[count:]
    return [c for c in calls if all(c.params.get(k) == v for k, v in match.items())]


def shown(call: Call) -> str:
    return json.dumps(call.params.get("blocks", []), ensure_ascii=False) + str(call.params.get("text", ""))


def pressed_and_settled(
    app: RunningApp, slack_api: SlackStandIn, action_id: str, escalation: Escalation, user: str
) -> None:
    assert app.slack.press(action_id, escalation.id or 0, user).status_code == 200
    app.settle()


def test_claim_update_resolve_close(running_app: RunningApp, slack_api: SlackStandIn):
    app = running_app
    escalation = raise_escalation(app, slack_api)
    card_ts = escalation.card_ts

    # Claim by reaction: the card changes in place, the thread says so, the warm transfer begins.
    assert app.slack.reaction("eyes", ALEX, BILLING, card_ts).status_code == 200
    updated = slack_api.wait_for("chat.update")[-1]
    assert (updated.params["channel"], updated.params["ts"]) == (BILLING, card_ts)
    assert "Claimed by <@U0ALEX>" in shown(updated)
    # The footer names who may claim while it is open, and only its owner once it is claimed.
    posted = next(c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == BILLING)
    assert "Billing specialists: <@U0ALEX>, <@U0SAM> · react with :eyes: to claim" in shown(posted)
    assert "Owner: <@U0ALEX> · react with :white_check_mark: to resolve" in shown(updated)
    assert "<@U0SAM>" not in shown(updated)
    assert '"action_id": "post_update"' in shown(updated) and '"action_id": "claim"' not in shown(updated)
    app.settle()
    thread = [c for c in slack_api.calls_to("chat.postMessage") if c.params.get("thread_ts") == card_ts]
    assert "<@U0ALEX> claimed ESC-1 · open → claimed" in shown(thread[0])
    intro = shown(thread[1])
    assert "Hi <@U0ALEX>. <@U0AGENT> has *Jane Doe*" in intro and "invoice #789" in intro
    assert "Two charges confirmed" in intro and "Bill due tomorrow" in intro
    told = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == AGENT][-1]
    assert "<@U0ALEX> has *ESC-1*" in shown(told)
    assert current(app, escalation).state is State.claimed

    # Post an update: a small form, recorded and counted as the first update.
    app.slack.press("post_update", escalation.id, ALEX)
    form = slack_api.wait_for("views.open")[-1].params["view"]
    assert form["callback_id"] == "update_form" and form["private_metadata"] == str(escalation.id)
    update = {"update": text("Refund request filed with the bank; answer expected by 3pm.")}
    assert app.slack.submit_form("update_form", escalation.id, update, ALEX).text == ""
    app.settle()
    assert current(app, escalation).first_update_at is not None
    assert "Refund request filed with the bank" in shown(slack_api.calls_to("chat.postMessage")[-1])

    # Resolve with a handback note: the agent gets it privately, with the buttons to close the loop.
    app.slack.press("resolve", escalation.id, ALEX)
    assert slack_api.wait_for("views.open", 2)[-1].params["view"]["callback_id"] == "resolve_form"
    handback = {
        "done": text("Reversed the duplicate charge."),
        "for_customer": text("The duplicate charge is reversed; allow 3–5 working days."),
    }
    app.slack.submit_form("resolve_form", escalation.id, handback, ALEX)
    app.settle()
    to_agent = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == AGENT][-1]
    assert "Reversed the duplicate charge" in shown(to_agent) and "allow 3–5 working days" in shown(to_agent)
    buttons = [
        e["action_id"] for b in to_agent.params["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == ["close_loop", "customer_unreachable", "reopen"]
    assert current(app, escalation).state is State.resolved

    # Only the agent (or a supervisor) closes, with how the customer felt.
    app.slack.press("close_loop", escalation.id, ALEX)
    refusal = slack_api.wait_for("response_url")[-1]
    assert "Only the agent who raised it or the supervisors" in refusal.params["text"]
    app.slack.press("close_loop", escalation.id, AGENT)
    assert slack_api.wait_for("views.open", 3)[-1].params["view"]["callback_id"] == "close_form"
    app.slack.submit_form("close_form", escalation.id, {"csat": option("4", "radio_buttons")}, AGENT)
    app.settle()
    closed = current(app, escalation)
    assert (closed.state, closed.csat) == (State.closed, 4)
    assert "Closed · customer satisfaction 4/5" in shown(slack_api.calls_to("chat.update")[-1])
    assert [a for a, _, _ in history(app, escalation)] == [
        "raise",
        "claim",
        "post_update",
        "resolve",
        "close",
    ]


def test_only_specialists_and_supervisors_may_claim(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)

    running_app.slack.press("claim", escalation.id, STRANGER)
    (refusal,) = slack_api.wait_for("response_url")
    assert refusal.params["text"] == "Only its specialists or the supervisors can do that on ESC-1."
    assert refusal.params["response_type"] == "ephemeral"
    running_app.slack.reaction("eyes", STRANGER, BILLING, escalation.card_ts)
    (private,) = slack_api.wait_for("chat.postEphemeral")
    assert private.params["user"] == STRANGER and private.params["channel"] == BILLING
    assert current(running_app, escalation).state is State.open
    assert slack_api.calls_to("chat.update") == []


def test_a_second_claim_is_told_who_has_it(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)

    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    running_app.slack.reaction("eyes", SAM, BILLING, escalation.card_ts)
    (private,) = slack_api.wait_for("chat.postEphemeral")

    assert private.params["text"] == "ESC-1 is already claimed by <@U0ALEX>."
    assert current(running_app, escalation).owner_user_id == ALEX
    # Sam taking his reaction off again changes nothing: it was never his claim.
    running_app.slack.reaction("eyes", SAM, BILLING, escalation.card_ts, added=False)
    running_app.settle()
    assert current(running_app, escalation).owner_user_id == ALEX


def test_a_retried_event_is_applied_once(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    updates_before = len(slack_api.calls_to("chat.update"))

    first = running_app.slack.reaction("eyes", ALEX, BILLING, escalation.card_ts, event_id="Ev0CLAIM")
    running_app.settle()
    retry = running_app.slack.reaction(
        "eyes",
        ALEX,
        BILLING,
        escalation.card_ts,
        event_id="Ev0CLAIM",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    running_app.settle()

    assert first.status_code == retry.status_code == 200
    assert [a for a, _, _ in history(running_app, escalation)] == ["raise", "claim"]
    assert len(slack_api.calls_to("chat.update")) == updates_before + 1
    assert slack_api.calls_to("chat.postEphemeral") == []


def test_the_owner_taking_back_their_reaction_returns_the_case(
    running_app: RunningApp, slack_api: SlackStandIn
):
    escalation = raise_escalation(running_app, slack_api)
    running_app.slack.reaction("eyes", ALEX, BILLING, escalation.card_ts)
    running_app.settle()

    running_app.slack.reaction("eyes", ALEX, BILLING, escalation.card_ts, added=False)
    running_app.settle()

    assert current(running_app, escalation).state is State.open
    assert "Open — waiting for a specialist" in shown(slack_api.calls_to("chat.update")[-1])
    assert [a for a, _, _ in history(running_app, escalation)] == ["raise", "claim", "unclaim"]


def test_the_resolve_reaction_offers_the_handback_form(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)

    running_app.slack.reaction("white_check_mark", ALEX, BILLING, escalation.card_ts)
    (offer,) = slack_api.wait_for("chat.postEphemeral")

    assert offer.params["user"] == ALEX
    button = offer.params["blocks"][1]["elements"][0]
    assert (button["action_id"], button["value"]) == ("resolve", str(escalation.id))
    assert current(running_app, escalation).state is State.claimed


def test_permissions_are_enforced_on_the_server(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)

    # Buttons anyone can see; the server decides. A forged form submission is refused too.
    for action, user in (("resolve", SAM), ("post_update", AGENT), ("reassign", STRANGER), ("cancel", SAM)):
        running_app.slack.press(action, escalation.id, user)
    refusals = slack_api.wait_for("response_url", 4)
    assert all(r.params["text"].startswith("Only ") for r in refusals)
    forged = running_app.slack.submit_form(
        "resolve_form", escalation.id, {"done": text("x"), "for_customer": text("y")}, SAM
    )
    assert forged.json()["errors"]["done"].startswith("Only its owner or the supervisors")
    assert current(running_app, escalation).state is State.claimed
    assert slack_api.calls_to("views.open") == []


def test_reactions_on_other_messages_are_ignored(running_app: RunningApp, slack_api: SlackStandIn):
    raise_escalation(running_app, slack_api)
    calls = len(slack_api.calls)

    assert running_app.slack.reaction("eyes", ALEX, BILLING, "1111111111.000001").status_code == 200
    assert running_app.slack.reaction("tada", ALEX, BILLING, "1764000000.000001").status_code == 200
    running_app.settle()

    assert len(slack_api.calls) == calls


def test_reassign_to_another_specialist(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)

    refused = running_app.slack.submit_form(
        "reassign_form",
        escalation.id,
        {"new_owner": {"type": "users_select", "selected_user": STRANGER}},
        ALEX,
    )
    assert "is not one of the specialists" in refused.json()["errors"]["new_owner"]
    running_app.slack.submit_form(
        "reassign_form", escalation.id, {"new_owner": {"type": "users_select", "selected_user": SAM}}, ALEX
    )
    running_app.settle()

    assert current(running_app, escalation).owner_user_id == SAM
    thread = [
        c for c in slack_api.calls_to("chat.postMessage") if c.params.get("thread_ts") == escalation.card_ts
    ]
    assert "<@U0ALEX> reassigned ESC-1 to <@U0SAM>" in shown(thread[-2])
    assert "Hi <@U0SAM>." in shown(thread[-1])


def test_escalate_up_moves_the_card_to_the_supervisors_and_keeps_the_history(
    running_app: RunningApp, slack_api: SlackStandIn
):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)

    running_app.slack.submit_form(
        "move_form",
        escalation.id,
        {
            "destination": option("supervisors"),
            "reason": text("Customer asks for a goodwill credit."),
        },
        ALEX,
    )
    running_app.settle()

    moved = current(running_app, escalation)
    assert (moved.state, moved.owner_user_id, moved.card_channel_id) == (State.open, None, "C0123SUP")
    retired = [c for c in slack_api.calls_to("chat.update") if c.params["ts"] == escalation.card_ts][-1]
    assert "re-escalated to <#C0123SUP>" in shown(retired)
    new_card = next(c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == "C0123SUP")
    assert "Hierarchical escalation" in shown(new_card)
    note = next(
        c for c in slack_api.calls_to("chat.postMessage") if c.params.get("thread_ts") == moved.card_ts
    )
    assert "re-escalated ESC-1 to the supervisors" in shown(note) and "goodwill credit" in shown(note)
    assert [a for a, _, _ in history(running_app, escalation)] == ["raise", "claim", "move"]
    # The specialists no longer claim it; a supervisor does.
    running_app.slack.press("claim", escalation.id, SAM)
    assert "Only its specialists or the supervisors" in slack_api.wait_for("response_url")[-1].params["text"]
    pressed_and_settled(running_app, slack_api, "claim", escalation, SUPER)
    assert current(running_app, escalation).owner_user_id == SUPER


def test_the_agent_cancels_with_a_reason(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)

    running_app.slack.submit_form(
        "cancel_form", escalation.id, {"reason": text("Raised twice by mistake")}, AGENT
    )
    running_app.settle()

    assert current(running_app, escalation).state is State.cancelled
    card = slack_api.calls_to("chat.update")[-1]
    assert "Cancelled: Raised twice by mistake" in shown(card) and '"type": "actions"' not in shown(card)


def test_a_refund_over_the_agents_limit_needs_a_supervisor(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(
        running_app,
        slack_api,
        escalation_type=option("hierarchical", "radio_buttons"),
        refund_amount={"type": "number_input", "value": "120"},
        refund_reason=text("Charged twice for invoice #789"),
    )
    card = slack_api.calls_to("chat.postMessage")[0]
    assert '"action_id": "approve"' in shown(card) and "needs a supervisor's approval" in shown(card)

    running_app.slack.press("approve", escalation.id, AGENT)
    assert "Only the supervisors" in slack_api.wait_for("response_url")[-1].params["text"]
    pressed_and_settled(running_app, slack_api, "approve", escalation, SUPER)

    assert "approved by <@U0SUPER>" in shown(slack_api.calls_to("chat.update")[-1])
    assert [a for a, _, _ in history(running_app, escalation)] == ["raise", "approve"]


def test_above_the_supervisors_limit_management_decides(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(
        running_app,
        slack_api,
        escalation_type=option("hierarchical", "radio_buttons"),
        refund_amount={"type": "number_input", "value": "900"},
        refund_reason=text("Charged twice for invoice #789"),
    )
    card = slack_api.calls_to("chat.postMessage")[0]
    assert "management must decide" in shown(card) and '"action_id": "approve"' not in shown(card)

    running_app.slack.press("approve", escalation.id, SUPER)
    assert "management must decide" in slack_api.wait_for("response_url")[-1].params["text"]


def test_every_transition_is_in_the_history(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    running_app.slack.submit_form(
        "resolve_form", escalation.id, {"done": text("Fixed"), "for_customer": text("All fixed")}, ALEX
    )
    running_app.settle()
    pressed_and_settled(running_app, slack_api, "reopen", escalation, AGENT)

    with running_app.store.transaction() as tx:
        entries: list[HistoryEntry] = tx.history.of(escalation.id or 0)
    assert [(e.action, e.actor_user_id, e.from_state, e.to_state) for e in entries] == [
        ("raise", AGENT, None, "open"),
        ("claim", ALEX, "open", "claimed"),
        ("resolve", ALEX, "claimed", "resolved"),
        ("reopen", AGENT, "resolved", "claimed"),
    ]
    assert entries[2].note == "Fixed"


def test_history_command_prints_the_audit_trail(
    running_app: RunningApp, slack_api: SlackStandIn, database_url: str, monkeypatch, capsys
):
    from escalator.cli import main

    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    running_app.slack.submit_form(
        "update_form", escalation.id, {"update": text("Called the bank.\nWaiting.")}, ALEX
    )
    running_app.settle()
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert main(["history", "esc-1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ESC-1 · billing · P2 · functional · claimed, owner U0ALEX"
    assert out[1].startswith("2026-11-25 10:00:00 UTC  U0AGENT") and out[1].endswith("→ open")
    assert "U0ALEX" in out[2] and "claim" in out[2] and out[2].endswith("open → claimed")
    assert out[3].split()[4] == "post_update" and out[4:] == ["    Called the bank.", "    Waiting."]
    assert main(["history", "ESC-99"]) == 1
    assert "there is no ESC-99" in capsys.readouterr().err
    assert main(["history", "INC-3"]) == 2


def test_the_warm_transfer_can_be_a_group_dm(store, database_url: str, slack_api: SlackStandIn, clock):
    from conftest import POLICY_YAML, start_app

    from escalator.policy import parse_policy

    policy = parse_policy(POLICY_YAML + "warm_transfer: group_dm\n")
    app = start_app(database_url, slack_api, clock, policy)
    try:
        escalation = raise_escalation(app, slack_api)
        pressed_and_settled(app, slack_api, "claim", escalation, ALEX)
    finally:
        app.close()

    (opened,) = slack_api.calls_to("conversations.open")
    assert opened.params["users"] == "U0AGENT,U0ALEX"
    intro = next(c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == "C0GROUPDM1")
    assert "Hi <@U0ALEX>. <@U0AGENT> has *Jane Doe*" in shown(intro) and "thread_ts" not in intro.params
    pointer = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == AGENT][-1]
    assert "Talk to them in <#C0GROUPDM1>" in shown(pointer)
    with store.transaction() as tx:
        assert tx.escalations.get(escalation.id).conversation_channel_id == "C0GROUPDM1"


def test_members_of_the_paths_user_group_may_claim(store, database_url: str, slack_api: SlackStandIn, clock):
    from conftest import POLICY_YAML, start_app

    from escalator.policy import parse_policy

    policy = parse_policy(POLICY_YAML.replace("specialists: [U0ALEX, U0SAM]", "usergroup: S0BILLING"))
    slack_api.usergroups["S0BILLING"] = ["U0GROUPY"]
    app = start_app(database_url, slack_api, clock, policy)
    try:
        escalation = raise_escalation(app, slack_api)
        app.slack.press("claim", escalation.id, ALEX)
        assert "Only its specialists" in slack_api.wait_for("response_url")[-1].params["text"]
        pressed_and_settled(app, slack_api, "claim", escalation, "U0GROUPY")
        assert current(app, escalation).owner_user_id == "U0GROUPY"
    finally:
        app.close()
    lookups = slack_api.calls_to("usergroups.users.list")
    assert lookups and all(c.params == {"usergroup": "S0BILLING"} for c in lookups)


def test_a_long_update_still_fits_in_the_thread(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    update = "\n".join(["1 > 0 & 2 < 3"] * 140)[:2000]

    running_app.slack.submit_form("update_form", escalation.id, {"update": text(update)}, ALEX)
    running_app.settle()

    note = slack_api.calls_to("chat.postMessage")[-1]
    section = note.params["blocks"][0]["text"]["text"]
    assert note.params.get("thread_ts") == escalation.card_ts
    assert len(section) <= 3000 and section.startswith("<@U0ALEX> posted an update on ESC-1")
    assert "&gt; 0 &amp; 2 &lt; 3" in section


def test_a_refund_waiting_at_resolve_can_still_be_decided(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(
        running_app,
        slack_api,
        escalation_type=option("hierarchical", "radio_buttons"),
        refund_amount={"type": "number_input", "value": "120"},
        refund_reason=text("Charged twice for invoice #789"),
    )
    pressed_and_settled(running_app, slack_api, "claim", escalation, SUPER)
    running_app.slack.submit_form(
        "resolve_form", escalation.id, {"done": text("Credited"), "for_customer": text("Credited")}, SUPER
    )
    running_app.settle()

    pressed_and_settled(running_app, slack_api, "decline", escalation, SUPER)

    assert current(running_app, escalation).approval.value == "declined"
