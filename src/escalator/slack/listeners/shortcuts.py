"""The "Escalate this message" message shortcut: the handoff form, pre-filled from the message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from escalator.domain.escalation import Origin
from escalator.slack.ids import CallbackId
from escalator.slack.listeners.handoff_form import open_handoff_form
from escalator.slack.payloads import FormOrigin, MessageShortcut, parsed
from escalator.slack.runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    def escalate_message(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        runtime.after_ack(body, respond, lambda: _escalate_message(runtime, body, respond))

    app.shortcut(CallbackId.escalate_message.value)(escalate_message)


def _escalate_message(runtime: Runtime, body: dict[str, Any], respond: Respond) -> None:
    shortcut = parsed(MessageShortcut, body, "message shortcut payload")
    if shortcut is None:
        return
    origin = FormOrigin(
        origin=Origin.shortcut, channel_id=shortcut.channel.id, message_ts=shortcut.message.ts
    )
    problem = open_handoff_form(runtime, shortcut.trigger_id, shortcut.message.text, origin)
    if problem:
        respond(text=problem, response_type="ephemeral")
