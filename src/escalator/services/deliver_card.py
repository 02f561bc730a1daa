"""What follows the card's delivery: remember where it landed, or route around a channel that failed.

These run inside the transaction that marks the outbox message delivered, so the follow-up message
is queued exactly once.
"""

from __future__ import annotations

from escalator.clock import Clock
from escalator.domain.escalation import Escalation
from escalator.domain.history import HistoryEntry
from escalator.policy import Policy
from escalator.services.messages import Message
from escalator.store.database import Store, Transaction
from escalator.store.repositories import OutboxMessage


def card_posted(tx: Transaction, clock: Clock, escalation_id: int, channel_id: str, ts: str) -> list[int]:
    """The card is in `channel_id` at `ts`; next, tell the agent. Returns the new outbox ids."""
    escalation = _get(tx, escalation_id)
    escalation.card_channel_id = channel_id
    escalation.card_ts = ts
    return [tx.outbox.add(Message.tell_agent_next_steps, clock.now(), escalation_id)]


def card_refused(
    tx: Transaction, policy: Policy, clock: Clock, escalation_id: int, channel_id: str, problem: str
) -> list[int]:
    """Slack refused `channel_id` for good (`channel_not_found`, `not_in_channel`, …).

    The case must not be lost: the card goes to the supervisors' channel with the problem; if that
    channel fails too, or was the one that failed, the agent is told to reach a supervisor directly.
    """
    escalation = _get(tx, escalation_id)
    escalation.delivery_problem = problem
    now = clock.now()
    if channel_id != policy.supervisors.channel:
        return [tx.outbox.add(Message.alert_supervisors, now, escalation_id, {"failed_channel": channel_id})]
    return [tx.outbox.add(Message.tell_agent_next_steps, now, escalation_id)]


def warm_transfer_made(
    tx: Transaction, clock: Clock, escalation_id: int, where: str, group_dm: str | None
) -> list[int]:
    """The introduction is posted: remember the group DM if there is one, then point the agent to it."""
    if group_dm:
        _get(tx, escalation_id).conversation_channel_id = group_dm
    return [tx.outbox.add(Message.tell_agent_owner, clock.now(), escalation_id, {"where": where})]


def load_history_entry(store: Store, entry_id: int) -> HistoryEntry:
    with store.reading() as tx:
        entry = tx.history.get(entry_id)
    if entry is None:
        raise LookupError(f"history entry {entry_id} does not exist")
    return entry


def load_escalation(store: Store, escalation_id: int) -> Escalation:
    with store.reading() as tx:
        return _get(tx, escalation_id)


def _get(tx: Transaction, escalation_id: int) -> Escalation:
    escalation = tx.escalations.get(escalation_id)
    if escalation is None:
        raise LookupError(f"escalation {escalation_id} does not exist")
    return escalation


def superseded(store: Store, message: OutboxMessage, *, for_user: bool = False) -> bool:
    """A later message of the same kind waits for the same escalation, or `for_user` the same person
    (and will show the newer state)."""
    with store.reading() as tx:
        return tx.outbox.newer_pending(message, for_user=for_user)
