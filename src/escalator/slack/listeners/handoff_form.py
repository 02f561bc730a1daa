"""Opening the handoff form, shared by the slash command and the message shortcut."""

from __future__ import annotations

import logging

from escalator.domain.routing import detect
from escalator.slack.gateway import SlackCallFailed
from escalator.slack.payloads import FormOrigin
from escalator.slack.rendering.intake import ModalPrefill, render_escalate_modal
from escalator.slack.runtime import Runtime

log = logging.getLogger(__name__)


def open_handoff_form(runtime: Runtime, trigger_id: str, text: str, origin: FormOrigin) -> str | None:
    """Open the form pre-filled from `text`; on failure, the sentence to tell the agent."""
    prefill = ModalPrefill(summary=text.strip() or None, detection=detect(text, runtime.policy))
    open_incidents = runtime.incidents.open_ones() if runtime.policy.incident else []
    view = render_escalate_modal(runtime.policy, prefill, origin.dump(), open_incidents)
    try:
        runtime.gateway.call("views.open", trigger_id=trigger_id, view=view)
    except SlackCallFailed as exc:
        log.warning("could not open the handoff form: %s", exc.error)
        if exc.error in ("expired_trigger_id", "exchanged_trigger_id"):
            return "Slack took too long to open the form. Please try again."
        return "Sorry, I couldn't open the escalation form just now. Please try again in a moment."
    return None
