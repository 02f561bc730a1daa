"""Handoffs through signed requests: each reassignment and move is counted (the bot's own re-escalation
too), the card says "🔁 2nd handoff" from the second on, and the digest shows the cases handed off
more than once and the paths that pass cases on most."""

from __future__ import annotations

from datetime import date, timedelta

from conftest import WEDNESDAY_MORNING, FakeClock, RunningApp
from test_ownership import ALEX, SAM, current, pressed_and_settled, raise_escalation
from test_timers import at, posts

from escalator.policy import Policy
from escalator.services.digest import Digests
from escalator.slack.rendering.digest import digest_as_text, render_digest
from escalator.standin.sender import select as option
from escalator.standin.sender import text
from escalator.standin.web_api import SlackStandIn


def test_reassign_move_and_breach_are_counted_on_the_card_and_in_the_digest(
    running_app: RunningApp, slack_api: SlackStandIn, policy: Policy
):
    app = running_app
    escalation = raise_escalation(app, slack_api)
    kept = raise_escalation(app, slack_api)  # ESC-2: claimed, never handed off
    pressed_and_settled(app, slack_api, "claim", kept, ALEX)
    pressed_and_settled(app, slack_api, "claim", escalation, ALEX)

    new_owner = {"new_owner": {"type": "users_select", "selected_user": SAM}}
    app.slack.submit_form("reassign_form", escalation.id, new_owner, ALEX)
    app.settle()
    assert current(app, escalation).handoffs == 1
    card = [c for c in slack_api.calls_to("chat.update") if c.params["ts"] == escalation.card_ts][-1]
    assert "Claimed by <@U0SAM>" in str(card.params["blocks"]) and "handoff" not in str(card.params)

    move = {"destination": option("technical"), "reason": text("It is a login problem after all.")}
    app.slack.submit_form("move_form", escalation.id, move, SAM)
    app.settle()
    assert current(app, escalation).handoffs == 2
    (technical_card,) = [c for c in posts(slack_api, "C0123TECH") if "thread_ts" not in c.params]
    assert ":repeat: 2nd handoff" in str(technical_card.params["blocks"])

    # Nobody in Technical acknowledges it in time: the bot re-escalates it, a handoff too.
    at(app, WEDNESDAY_MORNING + timedelta(minutes=15))
    moved = current(app, escalation)
    assert (moved.handoffs, moved.card_channel_id) == (3, "C0123SUP")
    (supervisors_card,) = posts(slack_api, "C0123SUP", "Hierarchical escalation")
    assert ":repeat: 3rd handoff" in str(supervisors_card.params["blocks"])
    with app.store.transaction() as tx:
        passed = [(e.action, e.from_path) for e in tx.history.of(escalation.id or 0) if e.from_path]
    assert passed == [("reassign", "billing"), ("move", "billing"), ("move", "technical")]

    digest = Digests(app.store, policy, FakeClock(WEDNESDAY_MORNING + timedelta(days=1))).build(
        date(2026, 11, 25)
    )
    assert (digest.handed_off_repeatedly, digest.passed_on) == (1, {"billing": 2, "technical": 1})
    shown = digest_as_text(render_digest(digest, policy))
    assert "*Handed off more than once:* 1 of 2 (50 %)" in shown
    assert "*Passed on most:* Billing 2, Technical support 1" in shown
