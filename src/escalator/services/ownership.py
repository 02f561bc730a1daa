"""Ownership use cases: claim, update, resolve, close and the rest. One transaction each.

Every change locks the escalation, checks the state machine and the actor's roles, records a history
entry, and leaves for delivery: the card re-rendered in place, the entry in the card's thread, and
whatever else the step needs (the warm transfer, the handback to the agent, a card in a new channel),
and plans or cancels the timers the step starts or ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escalator.clock import Clock
from escalator.domain.authority import amount_text, level_at, rank_of
from escalator.domain.callbacks import mark_callback_done
from escalator.domain.escalation import Approval, Escalation, EscalationType, State
from escalator.domain.handoffs import HANDOFF_ACTIONS, SUPERVISORS, holder
from escalator.domain.history import HistoryEntry
from escalator.domain.lifecycle import Action, Actor, Refused, check, is_supervisor, may_claim, roles_of
from escalator.domain.messages import Message, addressee
from escalator.domain.routing import route
from escalator.domain.sla import Target, sla_deadlines
from escalator.domain.timers import (
    ACKNOWLEDGE_TIMERS,
    CALLBACK_TIMERS,
    LOOP_TIMERS,
    TimerKind,
    target_timers,
)
from escalator.policy import Policy
from escalator.store.database import Store, Transaction


@dataclass(frozen=True)
class Outcome:
    escalation: Escalation
    outbox_ids: list[int]
    duplicate: bool = False  # this request had already been handled: nothing changed


@dataclass
class Effects:
    """What a step does besides changing the escalation itself."""

    note: str | None = None
    target: str | None = None
    messages: list[tuple[Message, dict[str, Any]]] = field(default_factory=list)
    timers: list[tuple[TimerKind, datetime, dict[str, Any]]] = field(default_factory=list)
    cancel_timers: tuple[TimerKind, ...] = ()
    card_moves: bool = False  # the card is posted anew (elsewhere) instead of updated in place


Change = Callable[[Escalation, datetime], Effects]


class Ownership:
    def __init__(self, store: Store, policy: Policy, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock

    def find_by_card(self, channel_id: str, ts: str) -> int | None:
        with self._store.reading() as tx:
            return tx.escalations.id_by_card(channel_id, ts)

    def get(self, escalation_id: int) -> Escalation | None:
        with self._store.reading() as tx:
            return tx.escalations.get(escalation_id)

    def permitted(self, escalation_id: int, actor: Actor, action: Action) -> Escalation:
        """Check before opening a form, so nobody fills one in for nothing. Raises Refused."""
        escalation = self.get(escalation_id)
        if escalation is None:
            raise Refused("That escalation no longer exists.")
        check(escalation, action, roles_of(actor, escalation, self._policy), self._policy)
        return escalation

    # The steps.

    def claim(self, key: str, escalation_id: int, actor: Actor) -> Outcome:
        def change(e: Escalation, now: datetime) -> Effects:
            e.state, e.owner_user_id, e.claimed_at = State.claimed, actor.user_id, e.claimed_at or now
            return Effects(messages=list(WARM_TRANSFER))

        return self._apply(key, escalation_id, actor, Action.claim, change)

    def unclaim(self, key: str, escalation_id: int, actor: Actor) -> Outcome:
        return self._apply(key, escalation_id, actor, Action.unclaim, unclaiming(self._policy, None))

    def post_update(self, key: str, escalation_id: int, actor: Actor, text: str) -> Outcome:
        def change(e: Escalation, now: datetime) -> Effects:
            e.first_update_at = e.first_update_at or now
            return Effects(note=text)

        return self._apply(key, escalation_id, actor, Action.post_update, change)

    def resolve(self, key: str, escalation_id: int, actor: Actor, done: str, for_customer: str) -> Outcome:
        change = resolving(self._policy, actor.user_id, done, for_customer)
        return self._apply(key, escalation_id, actor, Action.resolve, change)

    def reopen(self, key: str, escalation_id: int, actor: Actor) -> Outcome:
        def change(e: Escalation, now: datetime) -> Effects:
            e.resolved_at = e.handback_done = e.handback_for_customer = None
            # Open again: the resolve promise is watched again (at once, if it has already passed).
            timers = [(TimerKind.resolve_breach, max(now, e.resolve_by), {})]
            messages: list[tuple[Message, dict[str, Any]]] = []
            if e.incident_id is not None and not e.card_posted:
                # Its incident is over but the case is not: the path's specialists get its card now,
                # and their clock to acknowledge it (the incident's resolver never owned it).
                e.incident_id, e.owner_user_id = None, None
                messages += new_card(e)
                timers += [(k, due, {}) for k, due in target_timers(Target.acknowledge, now, e, self._policy)]
            e.state = State.claimed if e.owner_user_id else State.open
            return Effects(
                cancel_timers=(*LOOP_TIMERS, TimerKind.resolve_breach),
                timers=timers,
                messages=messages,
                card_moves=bool(messages),
            )

        return self._apply(key, escalation_id, actor, Action.reopen, change)

    def close(self, key: str, escalation_id: int, actor: Actor, csat: int, comment: str | None) -> Outcome:
        if not 1 <= csat <= 5:
            raise Refused("Choose how the customer felt, from 1 to 5.")

        def change(e: Escalation, now: datetime) -> Effects:
            mark_callback_done(e, actor.user_id, now)  # closing the loop is contacting the customer
            e.state, e.closed_at, e.csat = State.closed, now, csat
            note = f"Customer satisfaction {csat}/5" + (f": {comment}" if comment else "")
            return Effects(note=note, cancel_timers=(*LOOP_TIMERS, *CALLBACK_TIMERS))

        return self._apply(key, escalation_id, actor, Action.close, change)

    def customer_unreachable(self, key: str, escalation_id: int, actor: Actor) -> Outcome:
        def change(e: Escalation, now: datetime) -> Effects:
            return Effects(note="The agent tried to reach the customer and will try again.")

        return self._apply(key, escalation_id, actor, Action.customer_unreachable, change)

    def callback_done(self, key: str, escalation_id: int, actor: Actor) -> Outcome:
        """The promised callback was made: recorded, its reminders stopped."""

        def change(e: Escalation, now: datetime) -> Effects:
            mark_callback_done(e, actor.user_id, now)
            return Effects(cancel_timers=CALLBACK_TIMERS)

        return self._apply(key, escalation_id, actor, Action.callback_done, change)

    def reassign(
        self, key: str, escalation_id: int, actor: Actor, new_owner: str, new_owner_groups: frozenset[str]
    ) -> Outcome:
        def change(e: Escalation, now: datetime) -> Effects:
            if not may_claim(new_owner, new_owner_groups, e, self._policy):
                raise Refused(
                    f"<@{new_owner}> is not one of the specialists or supervisors for {e.reference}."
                )
            if new_owner == e.owner_user_id:
                raise Refused(f"<@{new_owner}> already owns {e.reference}.")
            e.state, e.owner_user_id, e.claimed_at = State.claimed, new_owner, e.claimed_at or now
            return Effects(target=new_owner, messages=list(WARM_TRANSFER))

        return self._apply(key, escalation_id, actor, Action.reassign, change)

    def move(self, key: str, escalation_id: int, actor: Actor, destination: str, reason: str) -> Outcome:
        """Re-escalate: up to the supervisors (hierarchical), or to another path. The history stays."""
        if destination != SUPERVISORS and destination not in self._policy.paths:
            raise Refused("Choose where the escalation should go.")
        return self._apply(key, escalation_id, actor, Action.move, moving(self._policy, destination, reason))

    def cancel(self, key: str, escalation_id: int, actor: Actor, reason: str) -> Outcome:
        def change(e: Escalation, now: datetime) -> Effects:
            e.state, e.cancel_reason = State.cancelled, reason
            return Effects(note=reason, cancel_timers=tuple(TimerKind))

        return self._apply(key, escalation_id, actor, Action.cancel, change)

    def decide_refund(self, key: str, escalation_id: int, actor: Actor, approve: bool) -> Outcome:
        """Approve or decline the refund, at the decider's step of the authority chain; the agent is told."""
        authority = self._policy.authority

        def change(e: Escalation, now: datetime) -> Effects:
            rank = rank_of(actor.user_id, actor.usergroups, is_supervisor(actor, self._policy), authority)
            level = level_at(rank, authority)
            e.approval = Approval.approved if approve else Approval.declined
            e.approval_by, e.approval_level = actor.user_id, rank
            note = f"Refund or credit of {amount_text(e.refund_amount)}"
            return Effects(
                note=f"{note} ({level.name})" if level else note,
                messages=[(Message.refund_decided, {}), (Message.close_approval_requests, {})],
            )

        return self._apply(key, escalation_id, actor, Action.approve if approve else Action.decline, change)

    def _apply(self, key: str, escalation_id: int, actor: Actor, action: Action, change: Change) -> Outcome:
        now = self._clock.now()
        with self._store.transaction() as tx:
            if not tx.handled.first_time(key, now):
                current = tx.escalations.get(escalation_id)
                if current is None:
                    raise Refused("That escalation no longer exists.")
                return Outcome(current, [], duplicate=True)
            escalation = tx.escalations.get_for_update(escalation_id)
            if escalation is None:
                raise Refused("That escalation no longer exists.")
            check(escalation, action, roles_of(actor, escalation, self._policy), self._policy)
            ids = transition(tx, escalation, actor.user_id, action, change, now)
        return Outcome(escalation, ids)


def resolving(policy: Policy, resolver: str, done: str, for_customer: str) -> Change:
    """Resolved, with the handback note; the agent is reminded to close the loop with the customer."""
    loop = policy.close_the_loop

    def change(e: Escalation, now: datetime) -> Effects:
        e.state, e.resolved_at = State.resolved, now
        e.owner_user_id = e.owner_user_id or resolver
        e.handback_done, e.handback_for_customer = done, for_customer
        # With no reminders, the supervisors hear of the open loop then.
        first = TimerKind.close_the_loop if loop.max_reminders else TimerKind.loop_still_open
        return Effects(
            note=done,
            messages=[(Message.hand_back, {})],
            timers=[(first, now + loop.remind_after, {"reminder": 1})],
        )

    return change


def unclaiming(policy: Policy, note: str | None) -> Change:
    """Back to the queue: the specialists get a fresh acknowledge clock, with its nudge and breach."""

    def change(e: Escalation, now: datetime) -> Effects:
        e.state, e.owner_user_id = State.open, None
        timers = [(kind, due, {}) for kind, due in target_timers(Target.acknowledge, now, e, policy)]
        return Effects(note=note, timers=timers, cancel_timers=ACKNOWLEDGE_TIMERS)

    return change


def moving(policy: Policy, destination: str, reason: str) -> Change:
    """Re-escalate to the supervisors or another path: a new card there, the old one retired."""

    def change(e: Escalation, now: datetime) -> Effects:
        if destination == SUPERVISORS:
            if e.escalation_type is EscalationType.hierarchical:
                raise Refused(f"{e.reference} is already with the supervisors.")
            e.escalation_type = EscalationType.hierarchical
        else:
            if destination == e.path_key and e.escalation_type is not EscalationType.hierarchical:
                raise Refused(f"{e.reference} is already with {policy.paths[destination].label}.")
            e.path_key = destination
            if e.escalation_type is EscalationType.hierarchical:
                e.escalation_type = EscalationType.functional
        old_card = {"channel": e.card_channel_id, "ts": e.card_ts}
        destination_route = route(e.path_key, e.escalation_type, now, policy)
        e.state, e.owner_user_id = State.open, None
        e.routed_channel_id, e.after_hours = destination_route.channel_id, destination_route.after_hours
        e.card_channel_id = e.card_ts = e.delivery_problem = None
        e.card_version += 1  # a card of the old route still on its way to Slack is retired, not kept
        # The new owners' clock to acknowledge starts now; the resolve promise keeps running.
        e.acknowledge_by = sla_deadlines(now, e.priority, policy).acknowledge_by
        messages = new_card(e)
        if old_card["ts"]:
            messages.append((Message.retire_card, {**old_card, "to": destination_route.channel_id}))
        return Effects(
            note=reason,
            target=destination,
            messages=messages,
            timers=[(kind, due, {}) for kind, due in target_timers(Target.acknowledge, now, e, policy)],
            cancel_timers=ACKNOWLEDGE_TIMERS,
            card_moves=True,
        )

    return change


def transition(
    tx: Transaction, escalation: Escalation, actor_user_id: str, action: Action, change: Change, now: datetime
) -> list[int]:
    """Apply `change` to a locked escalation: history, card, thread, timers. Returns the outbox ids."""
    escalation_id = escalation.id or 0
    before, owner_before = escalation.state, escalation.owner_user_id
    handed_off_by = holder(escalation) if action in HANDOFF_ACTIONS else None
    effects = change(escalation, now)
    if handed_off_by is not None:
        escalation.handoffs += 1
    entry = tx.history.add(
        HistoryEntry(
            escalation_id=escalation_id,
            at=now,
            actor_user_id=actor_user_id,
            action=action.value,
            from_state=before.value,
            to_state=escalation.state.value,
            note=effects.note,
            target=effects.target,
            from_path=handed_off_by,
        )
    )
    if effects.cancel_timers:
        tx.timers.cancel(escalation_id, effects.cancel_timers)
    tx.timers.add_many(escalation_id, effects.timers)
    messages = [(Message.thread_note, {"entry_id": entry.id}), *effects.messages]
    if effects.card_moves:  # the card is posted anew first, so the note lands in the new card's thread
        messages = [*effects.messages, messages[0]]
    elif escalation.incident_id is not None and not escalation.card_posted:
        messages = list(effects.messages)  # part of an incident from the start: its card speaks for it
    else:
        messages.insert(1, (Message.update_card, {}))
    # The App Home of everyone whose list this changes.
    involved = {escalation.agent_user_id, owner_before, escalation.owner_user_id} - {None}
    messages += [(Message.publish_home, {"user": user}) for user in sorted(involved)]  # type: ignore[type-var]
    return queue(tx, escalation, messages, now)


def queue(
    tx: Transaction, escalation: Escalation, messages: list[tuple[Message, dict[str, Any]]], now: datetime
) -> list[int]:
    """Leave a case's messages for delivery, in order, in one statement; each posted one is paced by
    whom it goes to."""
    return tx.outbox.add_many(
        now,
        [(kind, escalation.id, payload, addressee(kind, escalation, payload)) for kind, payload in messages],
    )


# The introduction where the agent and the new owner talk, then the agent's pointer to it.
WARM_TRANSFER: tuple[tuple[Message, dict[str, Any]], ...] = (
    (Message.warm_transfer, {}),
    (Message.tell_agent_owner, {}),
)


def new_card(escalation: Escalation) -> list[tuple[Message, dict[str, Any]]]:
    """A card where the case is routed now, then the agent's note on where it went and what follows:
    both belong to this version of the card, and give way to the next if the case moves again."""
    card = {"card": escalation.card_version}
    return [(Message.post_card, card), (Message.tell_agent_next_steps, dict(card))]
