"""What a person's App Home shows: their escalations, their pending reminders, who is on duty on their
paths, and for supervisors the team's queue, breaches and today's numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from escalator.clock import Clock
from escalator.domain.callbacks import CallbackStatus, callback_status
from escalator.domain.escalation import Escalation
from escalator.domain.lifecycle import Actor, is_supervisor
from escalator.domain.timers import Decision, Due, TimerKind, decide
from escalator.policy import Policy
from escalator.services.digest import day_window
from escalator.services.rotas import RotaView, rotas_of
from escalator.store.database import Store

SHOWN = 10
# The reminders a person may snooze, by whom they reach.
_AGENT_REMINDERS = {TimerKind.close_the_loop, TimerKind.customer_deadline, TimerKind.callback_reminder}
_OWNER_REMINDERS = {
    TimerKind.first_update_nudge,
    TimerKind.resolve_nudge,
    TimerKind.customer_deadline,
    TimerKind.callback_reminder,
}


@dataclass(frozen=True)
class PendingReminder:
    escalation: Escalation
    kind: TimerKind
    due_at: datetime
    reminder: int


@dataclass(frozen=True)
class TeamView:
    open_unclaimed: list[Escalation]
    open_unclaimed_total: int
    breached: list[Escalation]
    raised_today: int
    resolved_today: int
    closed_today: int


@dataclass(frozen=True)
class Home:
    user_id: str
    raised: list[Escalation]
    owned: list[Escalation]
    reminders: list[PendingReminder] = field(default_factory=list)
    missed_callbacks: list[Escalation] = field(default_factory=list)  # in the cases they raised or own
    team: TeamView | None = None
    rotas: list[RotaView] = field(default_factory=list)  # who is on duty on the person's paths


def home_for(store: Store, policy: Policy, clock: Clock, actor: Actor) -> Home:
    now = clock.now()
    with store.reading() as tx:
        raised, owned = tx.insight.active_involving(actor.user_id, SHOWN)
        shown = {e.id or 0: e for e in raised + owned}
        muted = tx.mutes.muted_among(list(shown), actor.user_id)
        pending = tx.timers.pending_for(list(shown))
        reminders = []
        for escalation_id, escalation in shown.items():
            wanted = (_AGENT_REMINDERS if escalation.agent_user_id == actor.user_id else set()) | (
                _OWNER_REMINDERS if escalation.owner_user_id == actor.user_id else set()
            )
            if escalation.owner_user_id not in (None, actor.user_id):
                wanted -= {TimerKind.callback_reminder}  # its owner makes the call, and is reminded
            if escalation_id in muted:
                continue
            for timer in pending.get(escalation_id, []):
                due = Due(TimerKind(timer.kind), int(timer.payload.get("reminder", 1)))
                if timer.kind in wanted and decide(due, escalation, policy) is not Decision.nothing:
                    reminders.append(
                        PendingReminder(
                            escalation,
                            TimerKind(timer.kind),
                            timer.due_at,
                            int(timer.payload.get("reminder", 1)),
                        )
                    )
        team = None
        if is_supervisor(actor, policy):
            today = day_window(now.astimezone(policy.zone).date(), policy)
            waiting, total = tx.insight.open_unclaimed(SHOWN)
            team = TeamView(
                open_unclaimed=waiting,
                open_unclaimed_total=total,
                breached=tx.insight.active_breached(SHOWN),
                raised_today=tx.insight.count_between("raised_at", today),
                resolved_today=tx.insight.count_between("resolved_at", today),
                closed_today=tx.insight.count_between("closed_at", today),
            )
    missed = [e for e in shown.values() if callback_status(e) is CallbackStatus.missed]
    return Home(
        actor.user_id,
        raised,
        owned,
        sorted(reminders, key=lambda r: r.due_at),
        sorted(missed, key=lambda e: e.callback_at or e.raised_at),
        team,
        rotas_of(actor, policy, now),
    )
