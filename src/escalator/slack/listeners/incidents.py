"""Incidents in Slack: the suggestion's Declare and Dismiss, the incident card's Post update and
Resolve (with their forms), and an agent's "Not part of INC-3". Each acks first."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, Respond
from sqlalchemy.exc import SQLAlchemyError

from escalator.domain.lifecycle import Refused
from escalator.domain.timers import TimerKind
from escalator.slack.directory import BEFORE_ACK, SLACK_SLOW, DirectoryUnavailable
from escalator.slack.gateway import SlackCallFailed
from escalator.slack.ids import CallbackId, IncidentActionId
from escalator.slack.payloads import ViewSubmission, button_press, describe
from escalator.slack.rendering.incidents import render_incident_form, render_incident_resolving
from escalator.slack.runtime import Runtime

log = logging.getLogger(__name__)

_FORMS = {
    IncidentActionId.post_update: CallbackId.incident_update_form,
    IncidentActionId.resolve: CallbackId.incident_resolve_form,
}


def register(app: App, runtime: Runtime) -> None:
    def on_button(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        runtime.after_ack(body, respond, lambda: _on_button(runtime, body, respond))

    def on_form(ack: Ack, body: dict[str, Any]) -> None:
        try:
            form = ViewSubmission.model_validate(body)
        except ValidationError as exc:
            log.warning("malformed incident form: %s", describe(exc))
            ack()
            return
        incident_id = form.escalation_id()  # the incident's id, in private_metadata
        status, line = form.text("status"), form.text("customer_line")
        if incident_id is None or not status or not line:
            missing = "status" if not status else "customer_line"
            ack(response_action="errors", errors={missing: "Please fill this in."})
            return
        try:
            actor = runtime.directory.actor(form.user.id, within=BEFORE_ACK)
        except DirectoryUnavailable:
            ack(response_action="errors", errors={"status": SLACK_SLOW})
            return
        change = (
            runtime.incidents.resolve
            if form.view.callback_id == CallbackId.incident_resolve_form
            else runtime.incidents.post_status
        )
        try:
            outcome = change(f"view:{form.view.id}", incident_id, actor, status, line)
        except Refused as refusal:
            ack(response_action="errors", errors={"status": str(refusal)})
            return
        except SQLAlchemyError:
            log.exception("could not store an incident form")
            ack(response_action="errors", errors={"status": "I couldn't save this just now: try again."})
            return
        if outcome is None or not outcome.resolving:
            ack()
            runtime.after_commit(outcome.outbox_ids if outcome else [])
            return
        ack(response_action="update", view=render_incident_resolving(outcome.incident, outcome.resolving))
        runtime.after_commit(outcome.outbox_ids)
        # Its cases, resolved now rather than at the delivery process's next tick (which resolves
        # whatever is left if this process stops half-way).
        kinds, count = (TimerKind.incident_resolved,), outcome.resolving
        runtime.after_ack(body, None, lambda: runtime.after_commit(runtime.reminders.fire_due(kinds, count)))

    for action_id in IncidentActionId:
        app.action(action_id.value)(on_button)
    for callback in _FORMS.values():
        app.view_submission(callback.value)(on_form)


def _on_button(runtime: Runtime, body: dict[str, Any], respond: Respond) -> None:
    pressed = button_press(body, "incident button press")
    if pressed is None:
        return
    press, target = pressed  # the suggestion's, the incident's or the case's id
    action = IncidentActionId(press.action.action_id)
    actor = runtime.directory.actor(press.user.id)
    try:
        if action is IncidentActionId.declare:
            declared = runtime.incidents.declare(press.identity, target, actor)
            runtime.after_commit(declared.outbox_ids if declared else [])
        elif action is IncidentActionId.dismiss:
            runtime.after_commit(runtime.incidents.dismiss(press.identity, target, actor))
        elif action is IncidentActionId.leave:
            runtime.after_commit(runtime.incidents.leave(press.identity, target, actor))
            respond(
                text="Done: it is out of the incident, and gets its own card for the specialists.",
                response_type="ephemeral",
                replace_original=False,
            )
        else:
            incident = runtime.incidents.permitted(target, actor)
            view = render_incident_form(_FORMS[action], incident)
            runtime.gateway.call("views.open", trigger_id=press.trigger_id, view=view)
    except Refused as refusal:
        respond(text=str(refusal), response_type="ephemeral", replace_original=False)
    except SlackCallFailed as exc:
        log.warning("could not open an incident form: %s", exc.error)
        respond(text="Sorry, I couldn't open the form just now. Please try again.", response_type="ephemeral")
