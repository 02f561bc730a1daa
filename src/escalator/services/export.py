"""Every escalation with its fields, timings and outcome, for quality reviews."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from escalator.domain.escalation import Escalation
from escalator.domain.incidents import INCIDENT_PREFIX
from escalator.store.database import Store

FIELDS = (
    "reference",
    "raised_at",
    "agent",
    "path",
    "type",
    "priority",
    "state",
    "customer_name",
    "account_number",
    "summary",
    "steps_taken",
    "desired_outcome",
    "customer_tone",
    "deadline",
    "deadline_at",
    "customer_consent",
    "refund_amount",
    "approval",
    "approval_by",
    "owner",
    "claimed_at",
    "first_update_at",
    "resolved_at",
    "closed_at",
    "minutes_to_acknowledge",
    "minutes_to_resolve",
    "acknowledge_by",
    "first_update_by",
    "resolve_by",
    "acknowledge_missed",
    "first_update_missed",
    "resolve_missed",
    "handback_done",
    "handback_for_customer",
    "csat",
    "cancel_reason",
    "trigger_words",
    "incident",
    # Added with the authority chain and key accounts: at the end, so earlier columns keep their place.
    "refund_reason",
    "key_account_tier",
    "requested_priority",
    # Added with promised callbacks and handoff counts.
    "callback_at",
    "callback_via",
    "callback_done_at",
    "callback_missed",
    "handoffs",
)


def export_rows(store: Store, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
    """Escalations raised in [since, until), oldest first, read in batches."""
    with store.reading() as tx:
        query = (
            select(Escalation)
            .where(Escalation.raised_at >= since, Escalation.raised_at < until)
            .order_by(Escalation.raised_at, Escalation.id)
            .execution_options(yield_per=1000)
        )
        for escalation in tx.session.scalars(query):
            yield _row(escalation)


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() / 60, 1) if end else None


def _row(e: Escalation) -> dict[str, Any]:
    return {
        "reference": e.reference,
        "raised_at": e.raised_at,
        "agent": e.agent_user_id,
        "path": e.path_key,
        "type": e.escalation_type.value,
        "priority": e.priority.value,
        "state": e.state.value,
        "customer_name": e.customer_name,
        "account_number": e.account_number,
        "summary": e.summary,
        "steps_taken": e.steps_taken,
        "desired_outcome": e.desired_outcome,
        "customer_tone": e.customer_tone,
        "deadline": e.deadline,
        "deadline_at": e.deadline_at,
        "customer_consent": e.customer_consent,
        "refund_amount": str(e.refund_amount) if e.refund_amount is not None else None,
        "approval": e.approval.value,
        "approval_by": e.approval_by,
        "owner": e.owner_user_id,
        "claimed_at": e.claimed_at,
        "first_update_at": e.first_update_at,
        "resolved_at": e.resolved_at,
        "closed_at": e.closed_at,
        "minutes_to_acknowledge": _minutes(e.raised_at, e.claimed_at),
        "minutes_to_resolve": _minutes(e.raised_at, e.resolved_at),
        "acknowledge_by": e.acknowledge_by,
        "first_update_by": e.first_update_by,
        "resolve_by": e.resolve_by,
        "acknowledge_missed": e.acknowledge_breached_at is not None,
        "first_update_missed": e.first_update_breached_at is not None,
        "resolve_missed": e.resolve_breached_at is not None,
        "handback_done": e.handback_done,
        "handback_for_customer": e.handback_for_customer,
        "csat": e.csat,
        "cancel_reason": e.cancel_reason,
        "trigger_words": " ".join(e.trigger_words),
        "incident": f"{INCIDENT_PREFIX}{e.incident_id}" if e.incident_id else None,
        "refund_reason": e.refund_reason,
        "key_account_tier": e.key_account_tier,
        "requested_priority": e.requested_priority.value if e.requested_priority else None,
        "callback_at": e.callback_at,
        "callback_via": e.callback_via.value if e.callback_via else None,
        "callback_done_at": e.callback_done_at,
        "callback_missed": e.callback_missed_at is not None,
        "handoffs": e.handoffs,
    }
