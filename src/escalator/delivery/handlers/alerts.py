"""Telling the supervisors, once, of a message Slack refused for good or that ran out of tries."""

from __future__ import annotations

from escalator.delivery.handlers.base import Delivering, Handler
from escalator.delivery.poster import Sent
from escalator.domain.escalation import REFERENCE_PREFIX
from escalator.domain.messages import Message, recipient
from escalator.slack.rendering.card import render_delivery_failed
from escalator.store.repositories import OutboxMessage


def handlers(delivering: Delivering) -> dict[Message, Handler]:
    def delivery_failed(message: OutboxMessage) -> Sent | None:
        with delivering.store.reading() as tx:
            dead = tx.outbox.get(int(message.payload["message"]))
        if dead is None or dead.status != "dead":
            return None  # retried or dropped since
        case = f"{REFERENCE_PREFIX}{dead.escalation_id}" if dead.escalation_id else None
        to = recipient(dead.pace_key)
        notice = render_delivery_failed(dead.id, dead.kind, case, to, dead.error or "unknown_error")
        return delivering.poster.post(message, delivering.policy.supervisors.channel, notice.as_params())

    return {Message.delivery_failed: Handler(delivery_failed)}
