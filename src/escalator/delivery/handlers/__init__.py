"""How each kind of message reaches Slack: rendered from the state at the moment it is sent, then
what Slack answered recorded with the message's delivery.

A handler never changes the state a service owns: it reads, calls Slack, and records where its message
landed (the card's channel and ts, a group DM) — in the transaction that marks the message delivered.
What a step must say next was queued by the service with the step itself, later in the same lane.
"""

from __future__ import annotations

from escalator.delivery.handlers import alerts, cases, digest, home, incidents, weekly_report
from escalator.delivery.handlers.base import Delivering, Handler
from escalator.domain.messages import Message

__all__ = ["Delivering", "Handler", "all_handlers"]


def all_handlers(delivering: Delivering) -> dict[Message, Handler]:
    handlers: dict[Message, Handler] = {}
    for family in (cases, incidents, digest, weekly_report, home, alerts):
        handlers.update(family.handlers(delivering))
    missing = set(Message) - set(handlers)
    if missing:
        raise LookupError(f"no handler for {sorted(missing)}")
    return handlers
