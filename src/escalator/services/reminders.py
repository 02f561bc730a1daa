"""Timers coming due: SLA nudges and breaches, the customer's deadline, closing the loop; snooze and mute.

Each timer fires in its own transaction, together with what it changes and the messages it leaves, so
it fires once however many workers tick at the same moment, and a failure never holds up the others.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from escalator.clock import Clock
from escalator.domain.business_hours import tomorrow_morning
from escalator.domain.escalation import Escalation
from escalator.domain.history import SYSTEM_ACTOR
from escalator.domain.lifecycle import Action, Actor, Refused, roles_of
from escalator.domain.messages import Message
from escalator.domain.rota import on_duty_now, rota_for
from escalator.domain.sla import Target
from escalator.domain.timers import LOOP_TIMERS, Decision, Due, TimerKind, decide, duty_change_at
from escalator.policy import Policy
from escalator.services.incidents import resolve_with_incident, schedule_card_update
from escalator.services.ownership import SUPERVISORS, Effects, moving, transition, unclaiming
from escalator.store.database import Store, Transaction
from escalator.store.repositories import Timer

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)
MAX_PER_TICK = 500  # a backlog (after downtime) is worked through over a few ticks


def _missed(escalation: Escalation, now: datetime) -> Effects:
    escalation.callback_missed_at = now
    return Effects()


class Reminders:
    def __init__(self, store: Store, policy: Policy, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock

    def fire_due(self, kinds: tuple[TimerKind, ...] | None = None, limit: int = MAX_PER_TICK) -> list[int]:
        """Fire the timers that are due (only `kinds`, when given), `limit` at most; returns the outbox
        messages they left."""
        queued: list[int] = []
        passed_over: set[int] = set()  # fired or being fired by another worker meanwhile
        incidents: set[int] = set()  # whose cases were resolved with them
        try:
            for _ in range(limit):
                outcome = self._fire_next(kinds, passed_over)
                if outcome is None:
                    break
                timer, left = outcome
                queued += left
                if timer.kind == TimerKind.incident_resolved:
                    incidents.add(int(timer.payload["incident"]))
        finally:
            for incident_id in sorted(incidents):
                queued += self._show_on_incident_card(incident_id)
        return queued

    def _fire_next(
        self, kinds: tuple[TimerKind, ...] | None, passed_over: set[int]
    ) -> tuple[Timer, list[int]] | None:
        """The next due timer, fired (or put off after a failure), with the messages it left; None when
        none is due."""
        while True:
            now = self._clock.now()
            timer: Timer | None = None
            try:
                with self._store.transaction() as tx:
                    due = tx.timers.next_due(now, passed_over, kinds)
                    if due is None:
                        return None
                    # The case first, then its timer: the order user actions lock them in, so the two
                    # never deadlock.
                    escalation = tx.escalations.get_for_update(due.escalation_id)
                    timer = tx.timers.lock_if_pending(due.id)
                    if timer is None:
                        passed_over.add(due.id)
                        continue
                    left = self._fire(tx, timer, escalation, now) if escalation is not None else []
                    tx.timers.fired(timer.id, now)
                return timer, left
            except Exception as exc:  # keep the timer, try it later, go on with the others
                log.exception("timer failed")
                self._retry_later(timer, exc, now)
                if timer is None:
                    return None
                passed_over.add(timer.id)

    def _show_on_incident_card(self, incident_id: int) -> list[int]:
        """The incident card re-rendered once its cases were resolved with it: after their own
        transactions, so that the incident is never locked after a case (others lock it first)."""
        with self._store.transaction() as tx:
            incident = tx.incidents.get_for_update(incident_id)
            return schedule_card_update(tx, incident, self._clock.now()) if incident else []

    def _retry_later(self, timer: Timer | None, exc: Exception, now: datetime) -> None:
        if timer is None:
            raise exc  # the database itself failed: the next tick tries again
        delay = min(timedelta(seconds=2 ** min(timer.attempts + 1, 12)), MAX_BACKOFF)
        with self._store.transaction() as tx:
            tx.timers.retry_at(timer.id, now + delay, type(exc).__name__)

    def _fire(self, tx: Transaction, timer: Timer, escalation: Escalation, now: datetime) -> list[int]:
        kind = TimerKind(timer.kind)
        sent = int(timer.payload.get("reminder", 1))
        decision = decide(Due(kind, sent), escalation, self._policy)
        if decision is Decision.nothing:
            return []
        target = kind.target
        met_before = target is Target.acknowledge and escalation.claimed_at is not None
        if (
            kind.is_breach
            and target
            and not met_before
            and getattr(escalation, f"{target.value}_breached_at") is None
        ):
            setattr(escalation, f"{target.value}_breached_at", now)
        ids: list[int] = []
        if kind.is_breach:
            ids.append(tx.outbox.add(Message.update_card, now, escalation.id))
        notice = {"kind": kind.value, "reminder": sent}
        if decision is Decision.nudge_channel:
            # The channel the card is in now, even if the case moves before this is delivered; who is on
            # duty is mentioned there and told privately first, and anyone on the path may still claim.
            channel = escalation.card_channel_id or escalation.routed_channel_id
            on_duty = list(on_duty_now(rota_for(escalation, self._policy), now, self._policy.zone))
            notice = {**notice, "on_duty": on_duty} if on_duty else notice
            payload = {**notice, "to": channel}
            ids.append(tx.outbox.add(Message.timer_notice, now, escalation.id, payload, to=channel))
            for user in on_duty:
                ids += self._tell(tx, escalation, user, notice, now)
        elif decision is Decision.nudge_owner:
            ids += self._tell(tx, escalation, escalation.owner_user_id, notice, now)
        elif decision is Decision.remind_owner_and_agent:
            ids += self._tell(tx, escalation, escalation.owner_user_id, notice, now)
            ids += self._tell(tx, escalation, escalation.agent_user_id, notice, now)
        elif decision is Decision.remind_agent:
            ids += self._tell(tx, escalation, escalation.agent_user_id, notice, now)
            loop = self._policy.close_the_loop
            following = TimerKind.close_the_loop if sent < loop.max_reminders else TimerKind.loop_still_open
            tx.timers.add(escalation.id or 0, following, now + loop.repeat_every, {"reminder": sent + 1})
        elif decision is Decision.tell_supervisors:
            payload = {**notice, "to": SUPERVISORS}
            supervisors = self._policy.supervisors.channel
            ids.append(tx.outbox.add(Message.timer_notice, now, escalation.id, payload, to=supervisors))
        elif decision is Decision.escalate_up:
            reason = "Nobody acknowledged it in time."
            ids += transition(
                tx, escalation, SYSTEM_ACTOR, Action.move, moving(self._policy, SUPERVISORS, reason), now
            )
            # The supervisors on duty hear of it first, privately; the card names them too.
            on_duty = list(on_duty_now(self._policy.supervisors.rota, now, self._policy.zone))
            for user in on_duty:
                ids += self._tell(tx, escalation, user, {**notice, "on_duty": on_duty}, now)
        elif decision is Decision.refresh_card:
            ids.append(tx.outbox.add(Message.update_card, now, escalation.id))
            # One chain of these per case, even if one was planned beside it (a case back from an incident).
            tx.timers.cancel(escalation.id or 0, (TimerKind.duty_change,))
            following = duty_change_at(escalation, self._policy, now)
            if following is not None:
                tx.timers.add(escalation.id or 0, TimerKind.duty_change, following, {})
        elif decision is Decision.remind_callback:
            # Whoever owns the case makes the call; while nobody does, the agent who promised it.
            caller = escalation.owner_user_id or escalation.agent_user_id
            ids += self._tell(tx, escalation, caller, notice, now)
        elif decision is Decision.callback_missed:
            ids += transition(tx, escalation, SYSTEM_ACTOR, Action.callback_missed, _missed, now)
            ids += self._tell(tx, escalation, escalation.owner_user_id, notice, now)
            ids += self._tell(tx, escalation, escalation.agent_user_id, notice, now)
        elif decision is Decision.resolve_with_incident:
            ids += resolve_with_incident(tx, self._policy, escalation, timer.payload, now)
        elif decision is Decision.unclaim:
            owner = escalation.owner_user_id
            ids += transition(
                tx,
                escalation,
                SYSTEM_ACTOR,
                Action.unclaim,
                unclaiming(self._policy, "No first update in time: back to the queue."),
                now,
            )
            ids += self._tell(tx, escalation, owner, {**notice, "returned": True}, now, force=True)
        return ids

    def _tell(
        self,
        tx: Transaction,
        escalation: Escalation,
        user: str | None,
        notice: dict,
        now: datetime,
        force: bool = False,
    ) -> list[int]:
        """A private notice, unless that person muted the nudges for this case."""
        if user is None or (not force and tx.mutes.is_muted(escalation.id or 0, user)):
            return []
        return [tx.outbox.add(Message.timer_notice, now, escalation.id, {**notice, "to": user}, to=user)]

    # Snooze and mute, from the notice itself.

    def snooze(
        self, key: str, escalation_id: int, actor: Actor, kind: TimerKind, reminder: int, until_tomorrow: bool
    ) -> datetime:
        """Remind again in an hour, or at the next opening tomorrow. Returns when."""
        now = self._clock.now()
        policy = self._policy
        until = (
            tomorrow_morning(now, policy.business_hours, policy.zone)
            if until_tomorrow
            else now + timedelta(hours=1)
        )
        with self._store.transaction() as tx:
            escalation = self._involved(tx, escalation_id, actor)
            if tx.handled.first_time(key, now):
                # A snooze only ever postpones. Snoozing a close-the-loop reminder restarts the series
                # from it, so the supervisors' alert that would follow is replanned too.
                kinds = LOOP_TIMERS if kind in LOOP_TIMERS else (kind,)
                pending = [t for t in tx.timers.pending(escalation.id or 0) if t.kind in kinds]
                # The same reminder still to come (snoozed from App Home before it arrived) keeps its time
                # if that is later; a reminder already received comes back at `until`.
                same = [
                    t.due_at for t in pending if t.kind == kind and t.payload.get("reminder", 1) == reminder
                ]
                until = max([until, *same])
                tx.timers.cancel(escalation.id or 0, kinds)
                tx.timers.add(escalation.id or 0, kind, until, {"reminder": reminder})
        return until

    def mute(self, key: str, escalation_id: int, actor: Actor) -> Escalation:
        now = self._clock.now()
        with self._store.transaction() as tx:
            escalation = self._involved(tx, escalation_id, actor)
            if tx.handled.first_time(key, now):
                tx.mutes.mute(escalation_id, actor.user_id, now)
        return escalation

    def _involved(self, tx: Transaction, escalation_id: int, actor: Actor) -> Escalation:
        escalation = tx.escalations.get(escalation_id)
        if escalation is None:
            raise Refused("That escalation no longer exists.")
        if not roles_of(actor, escalation, self._policy):
            raise Refused(f"You are not involved in {escalation.reference}.")
        return escalation
