"""Buttons on cards and in private messages. Each acks first; permissions are checked on the server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, Respond

from escalator.domain.escalation import Escalation
from escalator.domain.lifecycle import Action, Actor, Refused
from escalator.domain.timers import TimerKind
from escalator.services.ownership import Outcome
from escalator.slack.gateway import SlackCallFailed
from escalator.slack.ids import ActionId
from escalator.slack.listeners.home import publish_home
from escalator.slack.payloads import BlockActions, button_press
from escalator.slack.rendering.card import render_full_note
from escalator.slack.rendering.ownership import (
    render_cancel_form,
    render_close_form,
    render_move_form,
    render_reassign_form,
    render_resolve_form,
    render_update_form,
)
from escalator.slack.runtime import Runtime
from escalator.slack.text import slack_date

log = logging.getLogger(__name__)

_Step = Callable[[Runtime, str, int, Actor], Outcome]

# Buttons that act at once.
_STEPS: dict[ActionId, _Step] = {
    ActionId.claim: lambda rt, key, e, actor: rt.ownership.claim(key, e, actor),
    ActionId.unclaim: lambda rt, key, e, actor: rt.ownership.unclaim(key, e, actor),
    ActionId.reopen: lambda rt, key, e, actor: rt.ownership.reopen(key, e, actor),
    ActionId.customer_unreachable: lambda rt, key, e, actor: rt.ownership.customer_unreachable(key, e, actor),
    ActionId.callback_done: lambda rt, key, e, actor: rt.ownership.callback_done(key, e, actor),
    ActionId.approve: lambda rt, key, e, actor: rt.ownership.decide_refund(key, e, actor, approve=True),
    ActionId.decline: lambda rt, key, e, actor: rt.ownership.decide_refund(key, e, actor, approve=False),
}

# Buttons that first ask for something in a small form.
_FORMS: dict[ActionId, tuple[Action, Callable[[Escalation, Runtime], dict[str, Any]]]] = {
    ActionId.post_update: (Action.post_update, lambda e, rt: render_update_form(e)),
    ActionId.resolve: (Action.resolve, lambda e, rt: render_resolve_form(e)),
    ActionId.reassign: (Action.reassign, lambda e, rt: render_reassign_form(e)),
    ActionId.move: (Action.move, lambda e, rt: render_move_form(e, rt.policy)),
    ActionId.cancel: (Action.cancel, lambda e, rt: render_cancel_form(e)),
    ActionId.close_loop: (Action.close, lambda e, rt: render_close_form(e)),
    ActionId.full_note: (Action.read_note, lambda e, rt: render_full_note(e, rt.policy, rt.clock.now())),
}


def register(app: App, runtime: Runtime) -> None:
    def on_button(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        runtime.after_ack(body, respond, lambda: _on_button(runtime, body, respond))

    def on_reminder_button(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        runtime.after_ack(body, respond, lambda: _on_reminder_button(runtime, body, respond))

    reminder_buttons = (ActionId.snooze_hour, ActionId.snooze_tomorrow, ActionId.mute, ActionId.reminder_menu)
    for action_id in ActionId:
        app.action(action_id.value)(on_reminder_button if action_id in reminder_buttons else on_button)


def _on_button(runtime: Runtime, body: dict[str, Any], respond: Respond) -> None:
    pressed = button_press(body, "button press")
    if pressed is None:
        return
    press, escalation_id = pressed
    action_id = ActionId(press.action.action_id)
    actor = runtime.directory.actor(press.user.id)
    try:
        if action_id in _STEPS:
            outcome = _STEPS[action_id](runtime, press.identity, escalation_id, actor)
            runtime.after_commit(outcome.outbox_ids)
            return
        action, render_form = _FORMS[action_id]
        escalation = runtime.ownership.permitted(escalation_id, actor, action)
        _open(runtime, press.trigger_id, render_form(escalation, runtime), respond)
    except Refused as refusal:
        if body.get("view", {}).get("type") == "home":
            publish_home(runtime, actor)  # no thread to answer in: the tab shows how things stand
        else:
            respond(text=str(refusal), response_type="ephemeral", replace_original=False)


def _on_reminder_button(runtime: Runtime, body: dict[str, Any], respond: Respond) -> None:
    """Snooze a reminder (an hour, or until tomorrow) or mute the nudges for one case."""
    try:
        press = BlockActions.model_validate(body)
        target = press.reminder()
        if target is None:
            raise ValueError("not a reminder the app wrote")
        which, escalation_id, kind, reminder = target
        timer = TimerKind(kind)
    except (ValidationError, ValueError):
        log.warning("malformed reminder button press")
        return
    actor = runtime.directory.actor(press.user.id)
    try:
        if which == ActionId.mute:
            escalation = runtime.reminders.mute(press.identity, escalation_id, actor)
            answer = f":no_bell: Muted: no more nudges about {escalation.reference} for you."
        else:
            tomorrow = which == ActionId.snooze_tomorrow
            until = runtime.reminders.snooze(press.identity, escalation_id, actor, timer, reminder, tomorrow)
            answer = f":zzz: Snoozed: I'll remind you again {slack_date(until)}."
    except Refused as refusal:
        answer = str(refusal)
    if body.get("view", {}).get("type") == "home":
        publish_home(runtime, actor)  # the Home tab has no thread to answer in: it shows the change
    else:
        respond(text=answer, response_type="ephemeral", replace_original=False)


def _open(runtime: Runtime, trigger_id: str, view: dict[str, Any], respond: Respond) -> None:
    try:
        runtime.gateway.call("views.open", trigger_id=trigger_id, view=view)
    except SlackCallFailed as exc:
        log.warning("could not open a form: %s", exc.error)
        respond(
            text="Sorry, I couldn't open the form just now. Please try again.",
            response_type="ephemeral",
            replace_original=False,
        )
