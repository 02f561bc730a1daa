"""Refunds and credits on the authority chain: where one stands, the request to an approver, and the
agent's note of the decision."""

from __future__ import annotations

from escalator.domain.authority import SUPERVISORS, Level, amount_text, level_at
from escalator.domain.escalation import Approval, Escalation
from escalator.domain.lifecycle import waiting_for
from escalator.domain.privacy import for_channel
from escalator.policy import Policy
from escalator.slack.ids import ActionId
from escalator.slack.rendering.engine import SlackMessage, message
from escalator.slack.rendering.phrases import mentions

_STANDING = {
    Approval.not_needed: "within the agent's authority",
    Approval.management: "above a supervisor's authority: management must decide",
}


def approval_note(escalation: Escalation, policy: Policy) -> str:
    """Where the refund stands: "needs a supervisor's approval", "approved by @morgan (Support
    manager)", …"""
    if escalation.approval in _STANDING:
        return _STANDING[escalation.approval]
    level = level_at(waiting_for(escalation), policy.authority)
    if escalation.approval is Approval.pending:
        if level is None or level.rank <= SUPERVISORS:
            return "needs a supervisor's approval"
        return f"needs the approval of the {level.name} ({deciders(level)})"
    decided = f"{escalation.approval.value} by <@{escalation.approval_by}>"
    return f"{decided} ({level.name})" if level else decided


def refund_route(escalation: Escalation, policy: Policy) -> str | None:
    """For the agent's "what happens next": who decides the refund they asked for."""
    if escalation.approval is not Approval.pending:
        return None
    level = level_at(waiting_for(escalation), policy.authority)
    amount = amount_text(escalation.refund_amount)
    if level is None or level.rank <= SUPERVISORS:
        return (
            f"*The refund or credit of {amount}* needs a supervisor's approval: I'll tell you their decision."
        )
    return (
        f"*The refund or credit of {amount}* is above a supervisor's authority: the {level.name} "
        f"({deciders(level)}) decides it, and I'll tell you their decision."
    )


def deciders(level: Level) -> str:
    return mentions(list(level.approvers), level.usergroup)


def render_approval_request(escalation: Escalation, policy: Policy) -> SlackMessage:
    """To one approver, privately: the amount, why, the case, and the buttons to decide."""
    e = for_channel(escalation, policy.privacy)  # a DM, but it may be forwarded: the card has the rest
    level = level_at(waiting_for(e), policy.authority)
    return message(
        "approval_request.json.j2",
        e=e,
        amount=amount_text(e.refund_amount),
        level_name=level.name if level else "approver",
        card=f"<#{e.card_channel_id}>" if e.card_channel_id else f"<#{e.routed_channel_id}>",
        approve=ActionId.approve.value,
        decline=ActionId.decline.value,
    )


def render_refund_decided(escalation: Escalation, policy: Policy, *, for_agent: bool = True) -> SlackMessage:
    """The refund was approved or declined, by whom, at which level: to the agent, with what to do
    next; or in place of an approver's request."""
    return message(
        "refund_decided.json.j2",
        e=escalation,
        amount=amount_text(escalation.refund_amount),
        note=approval_note(escalation, policy),
        for_agent=for_agent,
    )
