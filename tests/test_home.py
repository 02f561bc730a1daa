"""The App Home tab: a person's escalations and reminders, the team's for supervisors."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from conftest import RunningApp
from slack_sdk.models.views import View
from test_ownership import ALEX, SUPER, pressed_and_settled, raise_escalation

from escalator.standin.sender import AGENT, text
from escalator.standin.web_api import Call, SlackStandIn


def _home_of(slack_api: SlackStandIn, user: str) -> Call:
    return [c for c in slack_api.calls_to("views.publish") if c.params["user_id"] == user][-1]


def _shown(call: Call) -> str:
    return json.dumps(call.params["view"], ensure_ascii=False)


def _choose_from_home_menu(app: RunningApp, user: str, option: str) -> None:
    """Pick an option of a reminder's overflow menu on the App Home tab, as Slack sends it."""
    app.slack.interaction(
        {
            "type": "block_actions",
            "user": {"id": user},
            "trigger_id": "1.2.t",
            "view": {"id": "V0HOME", "type": "home"},
            "actions": [
                {
                    "action_id": "reminder_menu",
                    "type": "overflow",
                    "action_ts": f"{time.time():.6f}",
                    "selected_option": {"value": option, "text": {"type": "plain_text", "text": option}},
                }
            ],
        }
    )
    app.settle()


def _open_home(app: RunningApp, user: str) -> None:
    app.slack.event(
        {
            "type": "app_home_opened",
            "user": user,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": "1764000001.000200",
        }
    )
    app.settle()


def test_opening_home_shows_your_escalations(running_app: RunningApp, slack_api: SlackStandIn):
    raise_escalation(running_app, slack_api)
    _open_home(running_app, AGENT)

    home = _home_of(slack_api, AGENT)
    View(**home.params["view"]).to_dict()
    shown = _shown(home)
    assert "*Raised by you*" in shown and "ESC-1" in shown and "Jane Doe" in shown
    assert "Open — waiting for a specialist" in shown and "acknowledge within 15 min" in shown
    assert "The team" not in shown  # the agent is no supervisor


def test_home_follows_changes_and_shows_the_team_to_supervisors(
    running_app: RunningApp, slack_api: SlackStandIn
):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)

    owner_home = _shown(_home_of(slack_api, ALEX))  # published on the change, without opening
    assert "*Owned by you*" in owner_home and "Claimed by <@U0ALEX>" in owner_home
    _open_home(running_app, SUPER)
    team = _shown(_home_of(slack_api, SUPER))
    assert "The team" in team
    assert "*Today:* 1 raised · 0 resolved · 0 closed" in team
    assert "*Open and unclaimed:* 0" in team


def test_a_reminder_can_be_snoozed_from_home(running_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    running_app.slack.submit_form(
        "resolve_form", escalation.id, {"done": text("Fixed"), "for_customer": text("Ok")}, ALEX
    )
    running_app.settle()
    _open_home(running_app, AGENT)
    view = _home_of(slack_api, AGENT).params["view"]
    menu = next(b["accessory"] for b in view["blocks"] if b.get("accessory", {}).get("type") == "overflow")
    assert "close the loop with the customer" in json.dumps(view)
    snooze = next(o["value"] for o in menu["options"] if o["value"].startswith("snooze_hour|"))
    publishes = len(slack_api.calls_to("views.publish"))

    _choose_from_home_menu(running_app, AGENT, snooze)

    assert len(slack_api.calls_to("views.publish")) == publishes + 1
    with running_app.store.transaction() as tx:
        (pending,) = [t for t in tx.timers.pending(escalation.id) if t.kind == "close_the_loop"]
    assert pending.due_at == running_app.clock.now() + timedelta(hours=1)


def test_snoozing_a_reminder_before_it_arrives_only_postpones_it(
    running_app: RunningApp, slack_api: SlackStandIn
):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    with running_app.store.transaction() as tx:
        (nudge,) = [t for t in tx.timers.pending(escalation.id) if t.kind == "resolve_nudge"]
    value = f"{escalation.id}:resolve_nudge:1"

    _choose_from_home_menu(running_app, ALEX, f"snooze_hour|{value}")

    with running_app.store.transaction() as tx:
        (later,) = [t for t in tx.timers.pending(escalation.id) if t.kind == "resolve_nudge"]
    assert later.due_at == nudge.due_at  # it was due later than an hour from now: unchanged
