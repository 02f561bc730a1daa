"""A callback promised to the customer on the handoff form (seed: "who will call them, when, and how")."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from escalator.domain.escalation import Escalation, State
from escalator.policy import Policy


class CallbackStatus(StrEnum):
    none = "none"  # no callback was promised
    pending = "pending"  # promised, its time not yet missed
    missed = "missed"  # not marked done within `callbacks.missed_after` of its time
    done = "done"  # the customer was contacted (marked, or the loop closed)


def callback_status(escalation: Escalation) -> CallbackStatus:
    if escalation.callback_at is None:
        return CallbackStatus.none
    if escalation.callback_done_at is not None:
        return CallbackStatus.done
    if escalation.callback_missed_at is not None:
        return CallbackStatus.missed
    return CallbackStatus.pending


def callback_outstanding(escalation: Escalation) -> bool:
    """Promised and not yet made, on a case still being worked (a cancelled or closed one owes none)."""
    return callback_status(escalation) in (
        CallbackStatus.pending,
        CallbackStatus.missed,
    ) and escalation.state in (State.open, State.claimed, State.resolved)


def callback_moments(callback_at: datetime, policy: Policy, now: datetime) -> tuple[datetime, datetime]:
    """When to remind (`remind_before` ahead, or now if that has passed) and when it counts as missed."""
    callbacks = policy.callbacks
    return max(now, callback_at - callbacks.remind_before), callback_at + callbacks.missed_after


def mark_callback_done(escalation: Escalation, by: str, now: datetime) -> bool:
    """Record the customer as contacted; False when nothing was owed."""
    if not callback_outstanding(escalation):
        return False
    escalation.callback_done_at, escalation.callback_done_by = now, by
    return True
