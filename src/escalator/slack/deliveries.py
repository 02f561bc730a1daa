"""How each kind of outbox message reaches Slack: render from state, send through the gateway."""

from __future__ import annotations

from escalator.clock import Clock
from escalator.policy import Policy
from escalator.services.deliver_card import card_posted, card_refused, load_escalation
from escalator.services.messages import Message
from escalator.slack.gateway import SlackCallFailed, SlackGateway
from escalator.slack.outbox import FollowUp, Handler
from escalator.slack.render import SlackMessage, render_card, render_delivery_alert, render_next_steps
from escalator.store.database import Store
from escalator.store.repositories import OutboxMessage


class Deliveries:
    def __init__(self, gateway: SlackGateway, store: Store, policy: Policy, clock: Clock) -> None:
        self._gateway = gateway
        self._store = store
        self._policy = policy
        self._clock = clock

    def handlers(self) -> dict[str, Handler]:
        return {
            Message.post_card: self.post_card,
            Message.alert_supervisors: self.alert_supervisors,
            Message.tell_agent_next_steps: self.tell_agent_next_steps,
        }

    def post_card(self, message: OutboxMessage) -> FollowUp | None:
        escalation = load_escalation(self._store, _escalation_id(message))
        if escalation.card_posted:
            return None
        return self._post_card_to(
            escalation.routed_channel_id, render_card(escalation, self._policy), _escalation_id(message)
        )

    def alert_supervisors(self, message: OutboxMessage) -> FollowUp | None:
        escalation = load_escalation(self._store, _escalation_id(message))
        if escalation.card_posted:
            return None
        alert = render_delivery_alert(
            escalation, self._policy, str(message.payload.get("failed_channel", ""))
        )
        return self._post_card_to(self._policy.supervisors.channel, alert, _escalation_id(message))

    def tell_agent_next_steps(self, message: OutboxMessage) -> FollowUp | None:
        escalation = load_escalation(self._store, _escalation_id(message))
        # A DM from the app (the channel is the user's ID) stays in the agent's Messages tab.
        self._send(escalation.agent_user_id, render_next_steps(escalation, self._policy))
        return None

    def _post_card_to(self, channel: str, card: SlackMessage, escalation_id: int) -> FollowUp:
        try:
            response = self._send(channel, card)
        except SlackCallFailed as exc:
            if exc.transient:
                raise
            problem = exc.error
            return lambda tx: card_refused(tx, self._policy, self._clock, escalation_id, channel, problem)
        posted_channel, ts = str(response["channel"]), str(response["ts"])
        return lambda tx: card_posted(tx, self._clock, escalation_id, posted_channel, ts)

    def _send(self, channel: str, message: SlackMessage) -> dict:
        return self._gateway.call(
            "chat.postMessage", channel=channel, unfurl_links=False, unfurl_media=False, **message.as_params()
        )


def _escalation_id(message: OutboxMessage) -> int:
    if message.escalation_id is None:
        raise LookupError(f"outbox message {message.id} names no escalation")
    return message.escalation_id
