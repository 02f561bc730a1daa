"""Inside the open handoff form: the account number, looked up as it is typed, says whether it is a
key account (and the priority it will be raised at)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from escalator.domain.handoff import HandoffField
from escalator.domain.key_accounts import key_account_for
from escalator.slack.gateway import SlackCallFailed
from escalator.slack.payloads import FormAction, parsed
from escalator.slack.rendering.intake import form_with_key_account
from escalator.slack.runtime import Runtime

log = logging.getLogger(__name__)


def register(app: App, runtime: Runtime) -> None:
    def on_account_number(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        runtime.after_ack(body, None, lambda: _show_key_account(runtime, body))

    app.action(HandoffField.account_number.value)(on_account_number)


def _show_key_account(runtime: Runtime, body: dict[str, Any]) -> None:
    action = parsed(FormAction, body, "form action")
    if action is None:
        return
    found = key_account_for(action.typed, None, runtime.policy)
    view = form_with_key_account(action.view.model_dump(), found)
    if view is None:
        return  # not a key account, and the form says nothing of one: no call
    try:
        # The hash makes Slack refuse the update if the form changed since this keystroke: a later
        # keystroke's update is on its way.
        runtime.gateway.call("views.update", view_id=action.view.id, hash=action.view.hash, view=view)
    except SlackCallFailed as exc:
        log.info("did not update the handoff form: %s", exc.error)
