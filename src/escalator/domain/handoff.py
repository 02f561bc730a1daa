"""The handoff note (seed step 4): what the agent's form holds, its limits, and its checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from escalator.domain.authority import AGENT, amount_text, deciding_level, highest
from escalator.domain.escalation import CallbackVia, EscalationType
from escalator.policy import Policy, Priority


class HandoffField(StrEnum):
    """Every field of the form. The Slack layer uses these names as block and action ids."""

    customer_name = "customer_name"
    account_number = "account_number"
    summary = "summary"
    steps_taken = "steps_taken"
    desired_outcome = "desired_outcome"
    customer_tone = "customer_tone"
    deadline = "deadline"
    deadline_at = "deadline_at"
    callback_at = "callback_at"  # a callback promised to the customer: when…
    callback_via = "callback_via"  # …and how (phone, email, chat)
    path = "path"
    escalation_type = "escalation_type"
    priority = "priority"
    refund_amount = "refund_amount"
    refund_reason = "refund_reason"
    customer_consent = "customer_consent"


# Longest text each field accepts. Kept well under Slack's 3,000-character section limit so a whole
# field fits on the card even after escaping.
MAX_LENGTH: dict[HandoffField, int] = {
    HandoffField.customer_name: 150,
    HandoffField.account_number: 64,
    HandoffField.summary: 2500,
    HandoffField.steps_taken: 2000,
    HandoffField.desired_outcome: 1000,
    HandoffField.customer_tone: 300,
    HandoffField.deadline: 300,
    HandoffField.refund_amount: 20,
    HandoffField.refund_reason: 500,
}

REQUIRED_TEXT = (
    HandoffField.customer_name,
    HandoffField.account_number,
    HandoffField.summary,
    HandoffField.steps_taken,
    HandoffField.desired_outcome,
    HandoffField.customer_tone,
)

MAX_REFUND = Decimal("1000000000")

# Control characters other than tab and newline (NUL, terminal escapes, DEL, C1), and UTF-16 surrogates.
# Only a forged payload holds them: PostgreSQL refuses NUL, a lone surrogate cannot be encoded at all,
# and an escape sequence would reach an admin's terminal through `escalator history`.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Typed text as it can be stored, shown and sent: controls dropped, lone surrogates replaced.

    A Windows line break becomes a newline. Everything else, right-to-left marks, combining marks and
    emoji included, stays as typed.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATES.sub("\ufffd", _CONTROLS.sub("", value))


@dataclass(frozen=True)
class HandoffForm:
    """The form as submitted: text as typed, choices as the selected values, None when left empty."""

    customer_name: str | None = None
    account_number: str | None = None
    summary: str | None = None
    steps_taken: str | None = None
    desired_outcome: str | None = None
    customer_tone: str | None = None
    deadline: str | None = None
    deadline_at: datetime | None = None
    callback_at: datetime | None = None
    callback_via: str | None = None
    path: str | None = None
    escalation_type: str | None = None
    priority: str | None = None
    refund_amount: str | None = None
    refund_reason: str | None = None
    customer_consent: bool = False


@dataclass(frozen=True)
class Handoff:
    """A handoff note that passed every check."""

    customer_name: str
    account_number: str
    summary: str
    steps_taken: str
    desired_outcome: str
    customer_tone: str
    path_key: str
    escalation_type: EscalationType
    priority: Priority
    customer_consent: bool
    deadline: str | None
    deadline_at: datetime | None
    refund_amount: Decimal | None
    refund_reason: str | None = None
    callback_at: datetime | None = None
    callback_via: CallbackVia | None = None

    @property
    def searchable_text(self) -> str:
        """What trigger words are looked for in."""
        return "\n".join((self.summary, self.steps_taken, self.desired_outcome, self.customer_tone))


def check_handoff(
    form: HandoffForm, policy: Policy, now: datetime
) -> tuple[Handoff | None, dict[HandoffField, str]]:
    """The handoff, or the problems to show next to each field (never both)."""
    errors: dict[HandoffField, str] = {}
    text: dict[HandoffField, str | None] = {}
    for name, limit in MAX_LENGTH.items():
        value = clean_text(getattr(form, name.value) or "").strip() or None
        if value is not None and len(value) > limit:
            errors[name] = f"Please keep this under {limit} characters (it has {len(value)})."
        text[name] = value
    for name in REQUIRED_TEXT:
        if text[name] is None:
            errors[name] = "Please fill this in: the specialist needs it so the customer isn't asked again."

    if form.path not in policy.paths:
        errors[HandoffField.path] = "Choose the team that owns this kind of issue."
    try:
        escalation_type = EscalationType(form.escalation_type or "")
    except ValueError:
        escalation_type = None
        errors[HandoffField.escalation_type] = "Choose the type of escalation."
    priority = Priority(form.priority) if form.priority in policy.priorities else None
    if priority is None:
        errors[HandoffField.priority] = "Choose a priority."

    if form.deadline_at is not None and form.deadline_at <= now:
        errors[HandoffField.deadline_at] = "This moment has passed: choose a time in the future, or clear it."

    callback_via = _check_callback(form, now, errors)

    amount = _parse_amount(text[HandoffField.refund_amount], errors)
    _check_authority(amount, text[HandoffField.refund_reason], escalation_type, policy, errors)

    if errors:
        return None, errors
    assert escalation_type is not None and priority is not None and form.path is not None
    return (
        Handoff(
            customer_name=text[HandoffField.customer_name] or "",
            account_number=text[HandoffField.account_number] or "",
            summary=text[HandoffField.summary] or "",
            steps_taken=text[HandoffField.steps_taken] or "",
            desired_outcome=text[HandoffField.desired_outcome] or "",
            customer_tone=text[HandoffField.customer_tone] or "",
            path_key=form.path,
            escalation_type=escalation_type,
            priority=priority,
            customer_consent=form.customer_consent,
            deadline=text[HandoffField.deadline],
            deadline_at=form.deadline_at,
            refund_amount=amount,
            refund_reason=text[HandoffField.refund_reason] if amount is not None else None,
            callback_at=form.callback_at if callback_via else None,
            callback_via=callback_via,
        ),
        {},
    )


def _check_authority(
    amount: Decimal | None,
    reason: str | None,
    escalation_type: EscalationType | None,
    policy: Policy,
    errors: dict[HandoffField, str],
) -> None:
    """A refund beyond the agent's authority is Hierarchical, says why, and is within the chain's."""
    if amount is None:
        return
    authority = policy.authority
    level = deciding_level(amount, authority)
    if level is None and authority.levels:
        top = highest(authority)
        errors[HandoffField.refund_amount] = (
            f"A refund or credit of {amount_text(amount)} is above every approval limit: the most "
            f"anyone may approve is {amount_text(top.limit)} ({top.name}). Ask your supervisor."
        )
        return
    if level is not None and level.rank == AGENT:
        return
    if reason is None:
        errors[HandoffField.refund_reason] = (
            f"Say why: a refund or credit above {amount_text(authority.agent)} needs an approver's decision."
        )
    if escalation_type is not None and escalation_type is not EscalationType.hierarchical:
        errors[HandoffField.escalation_type] = (
            f"A refund or credit of {amount} is beyond an agent's authority ({authority.agent}): "
            "choose Hierarchical so a supervisor can approve it."
        )


def _check_callback(form: HandoffForm, now: datetime, errors: dict[HandoffField, str]) -> CallbackVia | None:
    """A promised callback has both a time and a way, or neither; its time is still to come."""
    try:
        via = CallbackVia(form.callback_via) if form.callback_via else None
    except ValueError:
        errors[HandoffField.callback_via] = "Choose phone, email or chat."
        return None
    if form.callback_at is None:
        if via is not None:
            errors[HandoffField.callback_at] = (
                f"When will the customer be contacted by {via.value}? Choose the time, or clear the way."
            )
        return None
    if form.callback_at <= now:
        errors[HandoffField.callback_at] = "This moment has passed: choose a time in the future, or clear it."
    if via is None:
        errors[HandoffField.callback_via] = "How will the customer be contacted? Choose phone, email or chat."
    return via


def _parse_amount(value: str | None, errors: dict[HandoffField, str]) -> Decimal | None:
    if value is None or HandoffField.refund_amount in errors:
        return None
    try:
        amount = Decimal(value.replace(",", "").lstrip("£$€ "))
    except InvalidOperation:
        errors[HandoffField.refund_amount] = "Write the amount as a number, such as 120 or 49.99."
        return None
    if not amount.is_finite() or amount < 0 or amount >= MAX_REFUND:
        errors[HandoffField.refund_amount] = "Write an amount of zero or more, such as 120 or 49.99."
        return None
    return amount.quantize(Decimal("0.01"))
