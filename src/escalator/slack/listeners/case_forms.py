"""Submissions of the small forms about one escalation: update, resolve, reassign, move, cancel, close."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App
from sqlalchemy.exc import SQLAlchemyError

from escalator.domain.lifecycle import Actor, Refused
from escalator.services.ownership import Outcome
from escalator.slack.directory import BEFORE_ACK, SLACK_SLOW, DirectoryUnavailable
from escalator.slack.ids import CallbackId
from escalator.slack.payloads import ViewSubmission, describe
from escalator.slack.runtime import Runtime

log = logging.getLogger(__name__)

_Submit = Callable[[Runtime, ViewSubmission, str, int, Actor], Outcome]


def _update(rt: Runtime, form: ViewSubmission, key: str, e: int, actor: Actor) -> Outcome:
    return rt.ownership.post_update(key, e, actor, _required(form, "update"))


def _resolve(rt: Runtime, form: ViewSubmission, key: str, e: int, actor: Actor) -> Outcome:
    return rt.ownership.resolve(key, e, actor, _required(form, "done"), _required(form, "for_customer"))


def _reassign(rt: Runtime, form: ViewSubmission, key: str, e: int, actor: Actor) -> Outcome:
    new_owner = form.value("new_owner")
    if not isinstance(new_owner, str):
        raise _Missing("new_owner")
    return rt.ownership.reassign(
        key, e, actor, new_owner, rt.directory.actor(new_owner, within=BEFORE_ACK).usergroups
    )


def _move(rt: Runtime, form: ViewSubmission, key: str, e: int, actor: Actor) -> Outcome:
    destination = form.value("destination")
    if not isinstance(destination, str):
        raise _Missing("destination")
    return rt.ownership.move(key, e, actor, destination, _required(form, "reason"))


def _cancel(rt: Runtime, form: ViewSubmission, key: str, e: int, actor: Actor) -> Outcome:
    return rt.ownership.cancel(key, e, actor, _required(form, "reason"))


def _close(rt: Runtime, form: ViewSubmission, key: str, e: int, actor: Actor) -> Outcome:
    rating = form.value("csat")
    if not isinstance(rating, str) or not rating.isdigit():
        raise _Missing("csat")
    return rt.ownership.close(key, e, actor, int(rating), form.text("comment") or None)


# Each form: how it is submitted, and the input next to which a refusal is shown.
_FORMS: dict[CallbackId, tuple[_Submit, str]] = {
    CallbackId.update_form: (_update, "update"),
    CallbackId.resolve_form: (_resolve, "done"),
    CallbackId.reassign_form: (_reassign, "new_owner"),
    CallbackId.move_form: (_move, "destination"),
    CallbackId.cancel_form: (_cancel, "reason"),
    CallbackId.close_form: (_close, "csat"),
}


class _Missing(Exception):
    """A required input came back empty (Slack checks this too, but payloads can be forged)."""

    def __init__(self, block_id: str) -> None:
        super().__init__(block_id)
        self.block_id = block_id


def _required(form: ViewSubmission, block_id: str) -> str:
    text = form.text(block_id)
    if not text:
        raise _Missing(block_id)
    return text


def register(app: App, runtime: Runtime) -> None:
    def on_submit(ack: Ack, body: dict[str, Any]) -> None:
        try:
            form = ViewSubmission.model_validate(body)
            submit, first_input = _FORMS[CallbackId(form.view.callback_id)]
        except (ValidationError, ValueError) as exc:
            log.warning(
                "malformed form submission: %s", describe(exc) if isinstance(exc, ValidationError) else exc
            )
            ack()
            return
        escalation_id = form.escalation_id()
        if escalation_id is None:
            ack()
            return
        try:
            outcome = submit(
                runtime,
                form,
                f"view:{form.view.id}",
                escalation_id,
                runtime.directory.actor(form.user.id, within=BEFORE_ACK),
            )
        except _Missing as missing:
            ack(response_action="errors", errors={missing.block_id: "Please fill this in."})
            return
        except Refused as refusal:
            ack(response_action="errors", errors={first_input: str(refusal)})
            return
        except DirectoryUnavailable:
            ack(response_action="errors", errors={first_input: SLACK_SLOW})
            return
        except SQLAlchemyError:
            log.exception("could not store a form submission")
            ack(response_action="errors", errors={first_input: "I couldn't save this just now: try again."})
            return
        ack()
        runtime.after_commit(outcome.outbox_ids)

    for callback in _FORMS:
        app.view_submission(callback.value)(on_submit)
