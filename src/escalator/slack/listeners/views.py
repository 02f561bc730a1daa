"""The handoff form's submission: check it, store it, then deliver the card after the ack."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App
from sqlalchemy.exc import SQLAlchemyError

from escalator.domain.handoff import HandoffField, check_handoff
from escalator.log_format import note_escalation
from escalator.services.incidents import IncidentChoice
from escalator.services.raise_escalation import RaiseEscalation, raise_escalation
from escalator.slack.ids import CallbackId
from escalator.slack.payloads import FormOrigin, ViewSubmission, describe, parse_escalation_id
from escalator.slack.rendering.intake import INCIDENT_BLOCK, NOT_AN_INCIDENT, render_saved_view
from escalator.slack.runtime import Runtime

log = logging.getLogger(__name__)

SAVE_FAILED = "I couldn't save this just now. Nothing is lost: press Escalate again in a moment."


def register(app: App, runtime: Runtime) -> None:
    def submit_handoff(ack: Ack, body: dict[str, Any]) -> None:
        try:
            submission = ViewSubmission.model_validate(body)
        except ValidationError as exc:
            log.warning("malformed view submission: %s", describe(exc))
            ack(response_action="errors", errors={HandoffField.summary.value: SAVE_FAILED})
            return
        handoff, problems = check_handoff(submission.handoff_form(), runtime.policy, runtime.clock.now())
        if handoff is None:
            ack(response_action="errors", errors={field.value: text for field, text in problems.items()})
            return
        origin = FormOrigin.load(submission.view.private_metadata)
        command = RaiseEscalation(
            handoff=handoff,
            agent_user_id=submission.user.id,
            team_id=submission.team.id if submission.team else None,
            origin=origin.origin,
            idempotency_key=f"view:{submission.view.id}",
            source_channel_id=origin.channel_id,
            source_message_ts=origin.message_ts,
            incident=_incident_choice(submission.value(INCIDENT_BLOCK)),
        )
        # Stored before the ack, so the agent only sees "saved" for a case that is.
        try:
            raised = raise_escalation(runtime.store, runtime.policy, runtime.clock, command)
        except SQLAlchemyError:
            log.exception("could not store an escalation")
            ack(response_action="errors", errors={HandoffField.summary.value: SAVE_FAILED})
            return
        note_escalation(raised.escalation.id)
        saved = render_saved_view(raised.escalation, runtime.policy, raised.incident)
        ack(response_action="update", view=saved)
        runtime.after_commit(raised.outbox_ids)

    app.view_submission(CallbackId.escalate_form.value)(submit_handoff)


def _incident_choice(picked: object) -> IncidentChoice:
    """The form's incident menu: an open incident's id, "none", or nothing picked (match it for me)."""
    if picked == NOT_AN_INCIDENT:
        return IncidentChoice(none=True)
    return IncidentChoice(join=parse_escalation_id(picked) if isinstance(picked, str) else None)
