"""The Escalation: one customer's case, from the agent's handoff note to the loop closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from escalator.policy import Priority

REFERENCE_PREFIX = "ESC-"


class EscalationType(StrEnum):
    """The seed's four types of escalation."""

    functional = "functional"
    hierarchical = "hierarchical"
    priority = "priority"
    incident = "incident"

    @property
    def label(self) -> str:
        return {
            EscalationType.functional: "Functional — needs a specialist's skills or tools",
            EscalationType.hierarchical: "Hierarchical — needs a supervisor's authority",
            EscalationType.priority: "Priority — raise the urgency",
            EscalationType.incident: "Incident — many customers affected",
        }[self]

    @property
    def short_label(self) -> str:
        return self.value.capitalize()


class State(StrEnum):
    open = "open"
    claimed = "claimed"
    resolved = "resolved"
    closed = "closed"
    cancelled = "cancelled"


class Approval(StrEnum):
    """Where a refund or credit asked for stands against the policy's authority limits."""

    not_needed = "not_needed"
    pending = "pending"  # over the agent's limit: the level in `approval_level` (or one above) decides
    approved = "approved"
    declined = "declined"
    # Over the supervisor's limit in a policy with no levels above them: management decides, outside the bot.
    management = "management"


class CallbackVia(StrEnum):
    """How the customer was told they would be contacted."""

    phone = "phone"
    email = "email"
    chat = "chat"

    @property
    def label(self) -> str:
        return {CallbackVia.phone: "Phone", CallbackVia.email: "Email", CallbackVia.chat: "Chat"}[self]


class Origin(StrEnum):
    """Where the agent started the handoff form."""

    command = "command"
    shortcut = "shortcut"


@dataclass
class Escalation:
    """A stored escalation. The store maps this class onto its table, so it stays a plain object here."""

    raised_at: datetime
    agent_user_id: str
    origin: Origin
    idempotency_key: str
    customer_name: str
    account_number: str
    summary: str
    steps_taken: str
    desired_outcome: str
    customer_tone: str
    path_key: str
    escalation_type: EscalationType
    priority: Priority
    routed_channel_id: str
    after_hours: bool
    acknowledge_by: datetime
    first_update_by: datetime
    resolve_by: datetime
    customer_consent: bool = False
    deadline: str | None = None
    deadline_at: datetime | None = None
    refund_amount: Decimal | None = None
    refund_reason: str | None = None
    trigger_words: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # the keywords and trigger words its note mentioned
    team_id: str | None = None
    source_channel_id: str | None = None
    source_message_ts: str | None = None
    approval: Approval = Approval.not_needed
    approval_by: str | None = None
    # The step of the authority chain (escalator.domain.authority) the refund waits for; once decided,
    # the step of whoever decided it.
    approval_level: int | None = None
    # A key account's tier, and the priority the agent chose when the tier's raised it.
    key_account_tier: str | None = None
    requested_priority: Priority | None = None
    state: State = State.open
    owner_user_id: str | None = None
    claimed_at: datetime | None = None
    first_update_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    # The handback note (on resolve): what was done, and words the agent can pass on.
    handback_done: str | None = None
    handback_for_customer: str | None = None
    csat: int | None = None  # how the customer felt at the end, 1–5, recorded on close
    cancel_reason: str | None = None
    # When each SLA target was missed, if it was.
    acknowledge_breached_at: datetime | None = None
    first_update_breached_at: datetime | None = None
    resolve_breached_at: datetime | None = None
    # The warm transfer's shared place: a group DM, or None when it is the card's thread.
    conversation_channel_id: str | None = None
    card_channel_id: str | None = None
    card_ts: str | None = None
    # Raised by each move: a card posted for an earlier route is stale, and is retired, not recorded.
    card_version: int = 0
    delivery_problem: str | None = None
    # When the customer's personal details were erased (retention, or the customer's request).
    personal_data_removed_at: datetime | None = None
    incident_id: int | None = None  # part of an incident: the incident's card speaks for it
    suggestion_id: int | None = None  # in a cluster already suggested as an incident
    # A callback promised to the customer on the form: when and how; when it was made (or the loop
    # closed) and by whom, or when it was found missed.
    callback_at: datetime | None = None
    callback_via: CallbackVia | None = None
    callback_done_at: datetime | None = None
    callback_done_by: str | None = None
    callback_missed_at: datetime | None = None
    handoffs: int = 0  # reassignments and moves (see escalator.domain.handoffs)
    id: int | None = None

    @property
    def reference(self) -> str:
        """The id people say aloud: ESC-42."""
        return f"{REFERENCE_PREFIX}{self.id}"

    @property
    def card_posted(self) -> bool:
        return self.card_ts is not None

    @property
    def is_finished(self) -> bool:
        return self.state in (State.closed, State.cancelled)


def parse_reference(text: str) -> int | None:
    """`ESC-42`, `esc-42` or `42` → 42."""
    value = text.strip().upper().removeprefix(REFERENCE_PREFIX)
    return int(value) if value.isdigit() else None
