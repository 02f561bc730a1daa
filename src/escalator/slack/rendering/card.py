"""The handoff card: rendered whole from the escalation's state, for the first post and every update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalator.domain.authority import amount_text
from escalator.domain.callbacks import CallbackStatus, callback_outstanding, callback_status
from escalator.domain.escalation import Approval, Escalation, EscalationType, State
from escalator.domain.handoffs import handoff_label
from escalator.domain.lifecycle import ALLOWED_FROM, Action
from escalator.domain.messages import Message
from escalator.domain.privacy import for_channel
from escalator.domain.sla import humanize
from escalator.policy import Policy
from escalator.slack.ids import ActionId
from escalator.slack.rendering import phrases
from escalator.slack.rendering.approvals import approval_note
from escalator.slack.rendering.engine import SlackMessage, message, render_template
from escalator.slack.text import clip, mrkdwn_escape, slack_date

_TYPE_ICONS = {
    EscalationType.functional: ":arrow_right:",
    EscalationType.hierarchical: ":arrow_up:",
    EscalationType.priority: ":rotating_light:",
    EscalationType.incident: ":fire:",
}


@dataclass(frozen=True)
class _Button:
    action_id: ActionId
    action: Action
    text: str
    style: str | None = None


# The card's buttons, in the order shown; each appears only in the states its action starts from.
# Who may press them is checked on the server when they are pressed.
_CARD_BUTTONS = (
    _Button(ActionId.claim, Action.claim, "Claim", "primary"),
    _Button(ActionId.post_update, Action.post_update, "Post update", "primary"),
    _Button(ActionId.resolve, Action.resolve, "Resolve"),
    _Button(ActionId.callback_done, Action.callback_done, "Called back"),
    _Button(ActionId.close_loop, Action.close, "Close the loop", "primary"),
    _Button(ActionId.reopen, Action.reopen, "Reopen"),
    _Button(ActionId.reassign, Action.reassign, "Reassign"),
    _Button(ActionId.unclaim, Action.unclaim, "Unclaim"),
    _Button(ActionId.move, Action.move, "Escalate up / move"),
    _Button(ActionId.approve, Action.approve, "Approve refund", "primary"),
    _Button(ActionId.decline, Action.decline, "Decline refund", "danger"),
    _Button(ActionId.cancel, Action.cancel, "Cancel", "danger"),
    _Button(ActionId.full_note, Action.read_note, "Full note"),
)


def render_card(escalation: Escalation, policy: Policy, now: datetime) -> SlackMessage:
    """The whole handoff card, from the escalation's state (and the rota at `now`): for the first post
    and every update."""
    return message("handoff_card.json.j2", **_card_context(escalation, policy, now))


def render_delivery_alert(
    escalation: Escalation, policy: Policy, now: datetime, failed_channel: str, error: str
) -> SlackMessage:
    """The card, to the supervisors, with why its own channel refused it and how to fix that."""
    problem, fix = phrases.channel_problem(error)
    return message(
        "delivery_alert.json.j2",
        failed_channel=failed_channel,
        problem=problem,
        fix=fix,
        **_card_context(escalation, policy, now),
    )


# What each kind of message is, in a sentence to the supervisors when one cannot be delivered.
_WHAT = {
    Message.post_card: "the card",
    Message.tell_agent_next_steps: "the agent's note on what happens next",
    Message.update_card: "an update of the card",
    Message.thread_note: "a note in the card's thread",
    Message.warm_transfer: "the warm transfer's introduction",
    Message.tell_agent_owner: "the agent's note on who has the case",
    Message.hand_back: "the handback to the agent",
    Message.retire_card: "the note on the card it moved away from",
    Message.publish_home: "an App Home refresh",
    Message.post_digest: "the daily digest",
    Message.post_digest_chart: "the daily digest's chart",
    Message.erase_message: "the erasure of a message about it",
    Message.timer_notice: "a reminder",
    Message.post_incident_card: "an incident's card",
    Message.update_incident_card: "an update of an incident's card",
    Message.incident_note: "an incident update",
    Message.incident_suggestion: "a possible-incident suggestion",
    Message.update_suggestion: "an update of a possible-incident suggestion",
    Message.incident_joined: "the agent's note that the case is part of an incident",
    Message.incident_update_for_agent: "an incident update for an agent",
    Message.delivery_failed: "a delivery alert",
    Message.approval_request: "a request to approve a refund",
    Message.refund_decided: "the agent's note of a refund's decision",
    Message.close_approval_requests: "the approvers' requests, once the refund was decided",
}


def render_delivery_failed(
    message_id: int, kind: str, case: str | None, to: str | None, error: str
) -> SlackMessage:
    """To the supervisors: what could not be delivered, about which case, to whom, why, and the fix."""
    what = _WHAT.get(kind, kind)  # type: ignore[call-overload]  # Message is a StrEnum: its str is its key
    about = f" about *{case}*" if case else ""
    where = "" if not to else f" to <@{to}>" if to.startswith(("U", "W")) else f" to <#{to}>"
    problem, fix = phrases.channel_problem(error)
    text = (
        f":warning: I could not deliver {what}{about}{where}: {problem}. To fix it, {fix}; then "
        f"`escalator outbox retry {message_id}` sends it again (`escalator outbox list` shows all)."
    )
    return SlackMessage(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def render_retired_card(escalation: Escalation, moved_to: str) -> SlackMessage:
    """What is left of a card in a channel the escalation has moved away from."""
    text = (
        f":twisted_rightwards_arrows: *{escalation.reference}* ({mrkdwn_escape(escalation.customer_name)}) "
        f"was re-escalated to <#{moved_to}>: follow it there."
    )
    return SlackMessage(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def render_erased_message(escalation: Escalation) -> SlackMessage:
    """What replaces a message about a case whose customer's details were erased."""
    text = (
        f":wastebasket: This message about *{escalation.reference}* was removed with the customer's details."
    )
    return SlackMessage(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def card_buttons(escalation: Escalation, policy: Policy) -> list[dict[str, Any]]:
    shown = []
    for button in _CARD_BUTTONS:
        if escalation.state not in ALLOWED_FROM[button.action]:
            continue
        if button.action is Action.read_note and (
            not policy.privacy.mask_account_in_channel or escalation.personal_data_removed_at is not None
        ):
            continue  # nothing is hidden, or nothing is left to read
        if button.action in (Action.approve, Action.decline) and escalation.approval is not Approval.pending:
            continue
        if button.action is Action.callback_done and not callback_outstanding(escalation):
            continue
        element: dict[str, Any] = {
            "type": "button",
            "action_id": button.action_id.value,
            "text": {"type": "plain_text", "text": button.text},
            "value": str(escalation.id),
        }
        if button.style:
            element["style"] = button.style
        shown.append(element)
    return shown


def state_label(escalation: Escalation) -> str:
    if escalation.state is State.claimed and escalation.claimed_at:
        taken = humanize(escalation.claimed_at - escalation.raised_at)
        return f":eyes: Claimed by <@{escalation.owner_user_id}> · acknowledged in {taken}"
    if escalation.state is State.resolved:
        return (
            f":white_check_mark: Resolved by <@{escalation.owner_user_id}> · waiting for "
            f"<@{escalation.agent_user_id}> to close the loop with the customer"
        )
    if escalation.state is State.closed:
        return f":lock: Closed · customer satisfaction {escalation.csat}/5"
    if escalation.state is State.cancelled:
        return f":no_entry_sign: Cancelled: {mrkdwn_escape(escalation.cancel_reason or '')}"
    return ":hourglass_flowing_sand: Open — waiting for a specialist"


def clocks(escalation: Escalation, policy: Policy) -> str:
    """Each SLA clock: done and how fast, or still running and until when, or missed."""
    e, targets = escalation, phrases.targets(escalation, policy)
    parts = []
    for label, done_label, done_at, due, breached, target in (
        (
            "acknowledge",
            "acknowledged",
            e.claimed_at,
            e.acknowledge_by,
            e.acknowledge_breached_at,
            "acknowledge",
        ),
        (
            "first update",
            "first update",
            e.first_update_at,
            e.first_update_by,
            e.first_update_breached_at,
            "first_update",
        ),
        ("resolve", "resolved", e.resolved_at, e.resolve_by, e.resolve_breached_at, "resolve"),
    ):
        if done_at is not None:
            parts.append(f"{done_label} in {humanize(done_at - e.raised_at)}")
        elif e.is_finished:
            continue
        else:
            parts.append(f"{label} within {targets[target]} (by {slack_date(due)})")
        if breached is not None:
            parts[-1] += " :warning: missed"
    return f"*{e.priority.value}:* " + " · ".join(parts)


def key_account_note(escalation: Escalation) -> str | None:
    """ "⭐ Key account — strategic (raised from P3 to P1)", for a key account's case."""
    if escalation.key_account_tier is None:
        return None
    note = f":star: Key account — {mrkdwn_escape(escalation.key_account_tier)}"
    if escalation.requested_priority is not None:
        note += f" (raised from {escalation.requested_priority.value} to {escalation.priority.value})"
    return note


def callback_note(escalation: Escalation) -> str | None:
    """The callback promised to the customer: pending, made, or missed."""
    e, status = escalation, callback_status(escalation)
    if status is CallbackStatus.none or e.callback_at is None or e.callback_via is None:
        return None
    when, via = slack_date(e.callback_at), e.callback_via.value
    if status is CallbackStatus.missed:
        return f":warning: Promised callback missed — {via}, {when}"
    line = f":telephone_receiver: Callback promised by {via}, {when}"
    if status is CallbackStatus.done and e.callback_done_at is not None:
        late = " late" if e.callback_missed_at is not None else ""
        line += f" · done{late} by <@{e.callback_done_by}> {slack_date(e.callback_done_at)}"
    return line


def render_full_note(escalation: Escalation, policy: Policy, now: datetime) -> dict[str, Any]:
    """The card's content unmasked, as a modal: only the person who opened it sees it."""
    context = _card_context(escalation, policy, now, in_channel=False)
    return render_template("full_note.json.j2", **{**context, "buttons": []})


def _card_context(
    escalation: Escalation, policy: Policy, now: datetime, *, in_channel: bool = True
) -> dict[str, Any]:
    if in_channel:
        escalation = for_channel(escalation, policy.privacy)
    fallback = clip(
        f"{escalation.reference} · {escalation.priority.value} · "
        f"{mrkdwn_escape(phrases.path_label(escalation, policy))}: "
        f"{mrkdwn_escape(escalation.customer_name)} — {mrkdwn_escape(escalation.summary)}",
        300,
    )
    return {
        "e": escalation,
        "path_label": phrases.path_label(escalation, policy),
        "type_icon": _TYPE_ICONS[escalation.escalation_type],
        "state_label": state_label(escalation),
        "approval_note": approval_note(escalation, policy),
        "refund": amount_text(escalation.refund_amount),
        "key_account": key_account_note(escalation),
        "clocks": clocks(escalation, policy),
        "callback_note": callback_note(escalation),
        "handoff_note": handoff_label(escalation),
        "owners": phrases.owners(escalation, policy),
        "may_claim": phrases.who_may_claim(escalation, policy),
        "on_duty": phrases.on_duty_for(escalation, policy, now),
        "reactions": policy.reactions,
        "buttons": card_buttons(escalation, policy),
        "removed_at": escalation.personal_data_removed_at,
        "fallback": fallback,
    }
