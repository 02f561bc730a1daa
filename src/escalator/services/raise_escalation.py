"""Raise an escalation: store the handoff note first, then leave its card for delivery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from escalator.clock import Clock
from escalator.domain.authority import level_at
from escalator.domain.escalation import Escalation, Origin
from escalator.domain.feedback import topics_of
from escalator.domain.handoff import Handoff
from escalator.domain.history import HistoryEntry
from escalator.domain.incidents import Incident
from escalator.domain.key_accounts import key_account_for
from escalator.domain.lifecycle import Action, approval_for
from escalator.domain.messages import Message
from escalator.domain.routing import detect, route
from escalator.domain.sla import Target, sla_deadlines
from escalator.domain.timers import TimerKind, callback_timers, customer_deadline_timer, target_timers
from escalator.policy import Policy
from escalator.services.incidents import IncidentChoice, place
from escalator.services.ownership import new_card, queue
from escalator.store.database import Store


@dataclass(frozen=True)
class RaiseEscalation:
    handoff: Handoff
    agent_user_id: str
    origin: Origin
    # The same submission delivered twice must not make two escalations (Slack's view id).
    idempotency_key: str
    team_id: str | None = None
    source_channel_id: str | None = None
    source_message_ts: str | None = None
    incident: IncidentChoice = field(default_factory=IncidentChoice)


@dataclass(frozen=True)
class EscalationRaised:
    escalation: Escalation
    created: bool  # False when this submission had already been stored
    outbox_ids: list[int]
    incident: Incident | None = None  # the incident it joined (or declared): no card of its own


def raise_escalation(
    store: Store, policy: Policy, clock: Clock, command: RaiseEscalation
) -> EscalationRaised:
    try:
        return _store_new(store, policy, clock, command)
    except IntegrityError:
        # Another worker stored this very submission between our lookup and our insert.
        with store.transaction() as tx:
            existing = tx.escalations.by_idempotency_key(command.idempotency_key)
        if existing is None:
            raise
        return EscalationRaised(existing, created=False, outbox_ids=[])


def _store_new(store: Store, policy: Policy, clock: Clock, command: RaiseEscalation) -> EscalationRaised:
    now = clock.now()
    handoff = command.handoff
    with store.transaction() as tx:
        existing = tx.escalations.by_idempotency_key(command.idempotency_key)
        if existing is not None:
            return EscalationRaised(existing, created=False, outbox_ids=[])
        destination = route(handoff.path_key, handoff.escalation_type, now, policy)
        # A key account is raised at its tier's priority at least: the SLA clocks follow.
        key_account = key_account_for(handoff.account_number, handoff.priority, policy)
        priority = key_account.priority if key_account else handoff.priority
        deadlines = sla_deadlines(now, priority, policy)
        escalation = tx.escalations.add(
            Escalation(
                raised_at=now,
                agent_user_id=command.agent_user_id,
                team_id=command.team_id,
                origin=command.origin,
                idempotency_key=command.idempotency_key,
                source_channel_id=command.source_channel_id,
                source_message_ts=command.source_message_ts,
                customer_name=handoff.customer_name,
                account_number=handoff.account_number,
                summary=handoff.summary,
                steps_taken=handoff.steps_taken,
                desired_outcome=handoff.desired_outcome,
                customer_tone=handoff.customer_tone,
                deadline=handoff.deadline,
                deadline_at=handoff.deadline_at,
                customer_consent=handoff.customer_consent,
                refund_amount=handoff.refund_amount,
                refund_reason=handoff.refund_reason,
                callback_at=handoff.callback_at,
                callback_via=handoff.callback_via,
                path_key=handoff.path_key,
                escalation_type=handoff.escalation_type,
                priority=priority,
                key_account_tier=key_account.tier if key_account else None,
                requested_priority=handoff.priority if priority != handoff.priority else None,
                trigger_words=detect(handoff.searchable_text, policy).trigger_words,
                topics=topics_of(handoff.searchable_text, policy),
                routed_channel_id=destination.channel_id,
                after_hours=destination.after_hours,
                acknowledge_by=deadlines.acknowledge_by,
                first_update_by=deadlines.first_update_by,
                resolve_by=deadlines.resolve_by,
            )
        )
        assert escalation.id is not None
        escalation.approval, escalation.approval_level = approval_for(escalation, policy)
        tx.history.add(
            HistoryEntry(
                escalation_id=escalation.id,
                at=now,
                actor_user_id=command.agent_user_id,
                action=Action.raise_.value,
                to_state=escalation.state.value,
            )
        )
        planned = [
            (kind, due, {})
            for target in Target
            for kind, due in target_timers(target, now, escalation, policy)
        ]
        deadline_reminder = customer_deadline_timer(escalation, policy, now)
        if deadline_reminder is not None:
            planned.append((TimerKind.customer_deadline, deadline_reminder, {}))
        planned += [(kind, due, {}) for kind, due in callback_timers(escalation, policy, now)]
        tx.timers.add_many(escalation.id, planned)
        placement = place(tx, policy, escalation, command.incident, now)
        # (a case in an incident has no card: the incident's speaks for it)
        card = [] if placement.incident else new_card(escalation)
        home = (Message.publish_home, {"user": command.agent_user_id})
        queued = queue(tx, escalation, [*card, *approval_requests(escalation, policy), home], now)
    return EscalationRaised(escalation, True, [*queued, *placement.outbox_ids], placement.incident)


def approval_requests(escalation: Escalation, policy: Policy) -> list[tuple[Message, dict[str, Any]]]:
    """A refund above the supervisors' authority: a private request to each of its level's named
    approvers (the level's user group is mentioned on the card, in the supervisors' channel)."""
    if escalation.approval_level is None:
        return []
    level = level_at(escalation.approval_level, policy.authority)
    approvers = level.approvers if level else ()
    return [(Message.approval_request, {"to": user}) for user in approvers]
