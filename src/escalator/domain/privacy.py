"""Customers' personal details: what a channel may show, and erasing them while the numbers stay.

The metrics (times, states, path, type, priority, satisfaction) are not personal and are kept, so
the digest of a day whose cases were erased still adds up.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from escalator.domain.escalation import Escalation
from escalator.domain.history import HistoryEntry
from escalator.policy import Privacy

REMOVED = "(removed)"
_MASK = "••"
_SHOWN_DIGITS = 4


def mask_account(account: str) -> str:
    """`12345` → `••2345`: enough to match a case to a caller, not enough to act on the account."""
    account = account.strip()
    if len(account) <= _SHOWN_DIGITS:
        return _MASK
    return _MASK + account[-_SHOWN_DIGITS:]


def mask_in_text(text: str | None, account: str) -> str | None:
    """The account number where it appears in free text (an agent often repeats it), masked too."""
    account = account.strip()
    if text is None or len(account) < _SHOWN_DIGITS:
        return text
    return text.replace(account, mask_account(account))


def for_channel(escalation: Escalation, privacy: Privacy) -> Escalation:
    """The escalation as a channel may show it: a copy with the account number masked when so set."""
    if not privacy.mask_account_in_channel or escalation.personal_data_removed_at is not None:
        return escalation
    account = escalation.account_number
    return replace(
        escalation,
        account_number=mask_account(account),
        summary=mask_in_text(escalation.summary, account) or "",
        steps_taken=mask_in_text(escalation.steps_taken, account) or "",
        desired_outcome=mask_in_text(escalation.desired_outcome, account) or "",
        deadline=mask_in_text(escalation.deadline, account),
        handback_done=mask_in_text(escalation.handback_done, account),
        handback_for_customer=mask_in_text(escalation.handback_for_customer, account),
        cancel_reason=mask_in_text(escalation.cancel_reason, account),
        refund_reason=mask_in_text(escalation.refund_reason, account),
    )


def erase_personal_data(escalation: Escalation, history: list[HistoryEntry], at: datetime) -> None:
    """Everything that names or describes the customer, in the case and in what people wrote on it."""
    escalation.customer_name = REMOVED
    escalation.account_number = REMOVED
    escalation.summary = REMOVED
    escalation.steps_taken = REMOVED
    escalation.desired_outcome = REMOVED
    escalation.customer_tone = REMOVED
    escalation.deadline = None
    escalation.handback_done = REMOVED if escalation.handback_done else None
    escalation.handback_for_customer = REMOVED if escalation.handback_for_customer else None
    escalation.cancel_reason = REMOVED if escalation.cancel_reason else None
    escalation.refund_reason = REMOVED if escalation.refund_reason else None
    escalation.personal_data_removed_at = at
    for entry in history:
        if entry.note:
            entry.note = REMOVED
