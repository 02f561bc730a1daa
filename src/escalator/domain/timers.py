"""What the bot remembers to do later, and what each reminder does when its time comes.

Timers are planned when a case changes, and each decides at its time, from the case's state then,
whether it still has something to do: a nudge for a claimed case never reaches anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from escalator.domain.callbacks import callback_moments, callback_outstanding
from escalator.domain.escalation import Escalation, EscalationType, State
from escalator.domain.rota import duty_at, rota_for
from escalator.domain.sla import Target, target_moments
from escalator.policy import Policy


class TimerKind(StrEnum):
    acknowledge_nudge = "acknowledge_nudge"
    acknowledge_breach = "acknowledge_breach"
    first_update_nudge = "first_update_nudge"
    first_update_breach = "first_update_breach"
    resolve_nudge = "resolve_nudge"
    resolve_breach = "resolve_breach"
    customer_deadline = "customer_deadline"
    callback_reminder = "callback_reminder"  # before a callback promised to the customer
    callback_missed = "callback_missed"  # `callbacks.missed_after` past it: missed unless made
    close_the_loop = "close_the_loop"  # reminds the agent; payload counts the reminders
    loop_still_open = "loop_still_open"  # tells the supervisors after the last reminder
    # One case of an incident that was resolved: resolved with it, a case at a time (payload: the
    # incident's id, who resolved it, its status and its line for customers).
    incident_resolved = "incident_resolved"
    # Who is on duty changes while the case waits: its card names the next person on duty.
    duty_change = "duty_change"

    @property
    def target(self) -> Target | None:
        for target in Target:
            if self.value.startswith(target.value + "_"):
                return target
        return None

    @property
    def is_breach(self) -> bool:
        return self.value.endswith("_breach")


ACKNOWLEDGE_TIMERS = (TimerKind.acknowledge_nudge, TimerKind.acknowledge_breach, TimerKind.duty_change)
LOOP_TIMERS = (TimerKind.close_the_loop, TimerKind.loop_still_open)
CALLBACK_TIMERS = (TimerKind.callback_reminder, TimerKind.callback_missed)
# The SLA clocks' nudges and breaches: stopped by a resolve, or when a case joins an incident.
SLA_TIMERS = tuple(kind for kind in TimerKind if kind.target is not None)
# Reminders meant for whoever owns the case when they are sent.
OWNER_NUDGES = (TimerKind.first_update_nudge, TimerKind.first_update_breach, TimerKind.resolve_nudge)


def target_timers(
    target: Target, start: datetime, escalation: Escalation, policy: Policy
) -> list[tuple[TimerKind, datetime]]:
    """The nudge (at 75 %) and the breach of one SLA target, counted from `start`; while a case waits to
    be acknowledged, also the next change of who is on duty, when it has a rota."""
    nudge, breach = target_moments(start, getattr(policy.targets(escalation.priority), target.value), policy)
    timers = [(TimerKind(f"{target.value}_nudge"), nudge), (TimerKind(f"{target.value}_breach"), breach)]
    change = duty_change_at(escalation, policy, start) if target is Target.acknowledge else None
    return timers + ([(TimerKind.duty_change, change)] if change else [])


def duty_change_at(escalation: Escalation, policy: Policy, now: datetime) -> datetime | None:
    """When who is on duty for the case next changes (its path's rota, or the supervisors')."""
    rota = rota_for(escalation, policy)
    return None if rota is None else duty_at(rota, now, policy.zone).until


def customer_deadline_timer(escalation: Escalation, policy: Policy, now: datetime) -> datetime | None:
    """When to remind the owner and the agent of the customer's own deadline, if there is one."""
    if escalation.deadline_at is None or escalation.deadline_at <= now:
        return None
    return max(now, escalation.deadline_at - policy.customer_deadline.remind_before)


def callback_timers(
    escalation: Escalation, policy: Policy, now: datetime
) -> list[tuple[TimerKind, datetime]]:
    """The reminder before a promised callback, and the moment it counts as missed."""
    if escalation.callback_at is None or escalation.callback_at <= now:
        return []
    remind, missed = callback_moments(escalation.callback_at, policy, now)
    return [(TimerKind.callback_reminder, remind), (TimerKind.callback_missed, missed)]


class Decision(StrEnum):
    nothing = "nothing"  # the case moved on: the timer has nothing left to do
    nudge_channel = "nudge_channel"  # the path's channel, mentioning who may claim
    nudge_owner = "nudge_owner"  # the owner, privately
    escalate_up = "escalate_up"  # hierarchical re-escalation to the supervisors
    unclaim = "unclaim"  # back to the queue
    tell_supervisors = "tell_supervisors"
    remind_owner_and_agent = "remind_owner_and_agent"
    remind_agent = "remind_agent"
    resolve_with_incident = "resolve_with_incident"
    refresh_card = "refresh_card"  # the card names who is on duty now, and plans the next change
    remind_callback = "remind_callback"  # the owner; the agent while nobody owns the case
    callback_missed = "callback_missed"  # marked missed; the owner and the agent are told


@dataclass(frozen=True)
class Due:
    """A timer whose time has come, as the rules see it."""

    kind: TimerKind
    reminders_sent: int = 0


_ACTIVE = (State.open, State.claimed)


def decide(due: Due, escalation: Escalation, policy: Policy) -> Decision:
    kind, state = due.kind, escalation.state
    if kind is TimerKind.acknowledge_nudge:
        return Decision.nudge_channel if state is State.open else Decision.nothing
    if kind is TimerKind.acknowledge_breach:
        if state is not State.open:
            return Decision.nothing
        hierarchical = escalation.escalation_type is EscalationType.hierarchical
        return Decision.tell_supervisors if hierarchical else Decision.escalate_up
    if kind in (TimerKind.first_update_nudge, TimerKind.first_update_breach):
        if state is not State.claimed or escalation.first_update_at is not None:
            return Decision.nothing
        if kind is TimerKind.first_update_nudge:
            return Decision.nudge_owner
        unclaim = policy.priorities.get(escalation.priority)
        return Decision.unclaim if unclaim and unclaim.unclaim_without_update else Decision.nudge_owner
    if kind is TimerKind.resolve_nudge:
        return Decision.nudge_owner if state is State.claimed else Decision.nothing
    if kind is TimerKind.resolve_breach:
        return Decision.tell_supervisors if state in _ACTIVE else Decision.nothing
    if kind is TimerKind.customer_deadline:
        return Decision.remind_owner_and_agent if state in _ACTIVE else Decision.nothing
    if kind is TimerKind.duty_change:
        waiting = state is State.open and escalation.incident_id is None
        return Decision.refresh_card if waiting else Decision.nothing
    if kind in CALLBACK_TIMERS:
        if not callback_outstanding(escalation) or escalation.callback_missed_at is not None:
            return Decision.nothing
        return Decision.remind_callback if kind is TimerKind.callback_reminder else Decision.callback_missed
    if kind is TimerKind.incident_resolved:
        return Decision.resolve_with_incident if state in _ACTIVE else Decision.nothing
    if kind is TimerKind.close_the_loop:
        return Decision.remind_agent if state is State.resolved else Decision.nothing
    # loop_still_open
    return Decision.tell_supervisors if state is State.resolved else Decision.nothing
