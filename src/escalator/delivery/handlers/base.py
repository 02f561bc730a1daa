"""What every handler is made of, and works with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from escalator.clock import Clock
from escalator.delivery.poster import Poster, Sent
from escalator.domain.escalation import Escalation
from escalator.policy import Policy
from escalator.slack.directory import Directory
from escalator.slack.gateway import SlackGateway
from escalator.store.database import Store, Transaction
from escalator.store.repositories import OutboxMessage


@dataclass(frozen=True)
class Handler:
    """`send` renders the message from the state now and makes its calls: where it landed, or None when
    there was nothing (left) to send. `record` stores what Slack answered, in the transaction that marks
    the message delivered. `on_dead` records what it means that the message will never arrive."""

    send: Callable[[OutboxMessage], Sent | None]
    record: Callable[[Transaction, OutboxMessage, Sent], None] | None = None
    on_dead: Callable[[Transaction, OutboxMessage, str], None] | None = None


@dataclass(frozen=True)
class Delivering:
    """What every handler works with."""

    gateway: SlackGateway
    poster: Poster
    store: Store
    policy: Policy
    clock: Clock
    directory: Directory

    def files_in_thread(self, channel: str, thread: str, title: str) -> bool:
        """Whether a thread already shows a file with this title (files carry no metadata): how a
        retried upload whose first try's answer was lost finds out it is done."""
        replies = self.gateway.call("conversations.replies", channel=channel, ts=thread, limit=50)
        return any(
            shared.get("title") == title
            for reply in replies.get("messages") or []
            for shared in reply.get("files") or []
        )

    def escalation(self, message: OutboxMessage) -> Escalation:
        if message.escalation_id is None:
            raise LookupError(f"outbox message {message.id} names no escalation")
        with self.store.reading() as tx:
            escalation = tx.escalations.get(message.escalation_id)
        if escalation is None:
            raise LookupError(f"escalation {message.escalation_id} does not exist")
        return escalation
