"""Events API: reactions on cards claim, unclaim and resolve.

Each event is acknowledged at once and deduplicated by its event_id.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App

from escalator.domain.escalation import State
from escalator.domain.lifecycle import Action, Refused
from escalator.slack.gateway import SlackCallFailed
from escalator.slack.ids import ActionId
from escalator.slack.listeners.home import publish_home
from escalator.slack.payloads import ReactionEvent, describe
from escalator.slack.runtime import Runtime

log = logging.getLogger(__name__)


def register(app: App, runtime: Runtime) -> None:
    def reaction_added(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        runtime.after_ack(body, None, lambda: _on_reaction(runtime, body, added=True))

    def reaction_removed(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        runtime.after_ack(body, None, lambda: _on_reaction(runtime, body, added=False))

    def app_home_opened(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        event = body.get("event") or {}
        if event.get("tab") == "home" and isinstance(event.get("user"), str):
            user = event["user"]
            runtime.after_ack(body, None, lambda: publish_home(runtime, runtime.directory.actor(user)))

    app.event("reaction_added")(reaction_added)
    app.event("reaction_removed")(reaction_removed)
    app.event("app_home_opened")(app_home_opened)


def _on_reaction(runtime: Runtime, body: dict[str, Any], *, added: bool) -> None:
    try:
        reaction = ReactionEvent.model_validate(body.get("event"))
    except ValidationError as exc:
        log.warning("malformed reaction event: %s", describe(exc))
        return
    item = reaction.item
    claim, resolve = runtime.policy.reactions.claim, runtime.policy.reactions.resolve
    if item.type != "message" or not item.channel or not item.ts or reaction.reaction not in (claim, resolve):
        return
    escalation_id = runtime.ownership.find_by_card(item.channel, item.ts)
    if escalation_id is None:
        return  # not a card: ignored quietly
    actor = runtime.directory.actor(reaction.user)
    key = f"event:{body.get('event_id') or body.get('event_time')}"
    ownership = runtime.ownership
    try:
        if reaction.reaction == claim and added:
            outcome = ownership.claim(key, escalation_id, actor)
        elif reaction.reaction == claim:
            escalation = ownership.get(escalation_id)
            if (
                escalation is None
                or escalation.state is not State.claimed
                or escalation.owner_user_id != reaction.user
            ):
                return  # only the owner's own reaction on a claimed case counts; others come and go freely
            outcome = ownership.unclaim(key, escalation_id, actor)
        elif added:
            # Resolving asks for a handback note, and a reaction cannot open a form: offer a button.
            escalation = ownership.permitted(escalation_id, actor, Action.resolve)
            _tell(
                runtime,
                item.channel,
                reaction.user,
                f"Write the handback note to resolve {escalation.reference}.",
                button=(ActionId.resolve, "Write the handback note", escalation_id),
            )
            return
        else:
            return
    except Refused as refusal:
        _tell(runtime, item.channel, reaction.user, str(refusal))
        return
    runtime.after_commit(outcome.outbox_ids)


def _tell(
    runtime: Runtime, channel: str, user: str, text: str, button: tuple[ActionId, str, int] | None = None
) -> None:
    """A private word in the card's channel: only `user` sees it."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if button:
        action_id, label, escalation_id = button
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "style": "primary",
                        "action_id": action_id.value,
                        "value": str(escalation_id),
                        "text": {"type": "plain_text", "text": label},
                    }
                ],
            }
        )
    try:
        runtime.gateway.call("chat.postEphemeral", channel=channel, user=user, text=text, blocks=blocks)
    except SlackCallFailed as exc:
        log.warning("could not answer %s privately: %s", user, exc.error)
