"""Messages and forms of the ownership steps: thread notes, the warm transfer, the handback, small forms."""

from __future__ import annotations

from typing import Any

from escalator.domain.escalation import Escalation, EscalationType
from escalator.domain.history import SYSTEM_ACTOR, HistoryEntry
from escalator.domain.lifecycle import Action
from escalator.domain.privacy import mask_in_text
from escalator.policy import Policy
from escalator.services.ownership import SUPERVISORS
from escalator.slack.ids import CallbackId
from escalator.slack.rendering.engine import SlackMessage, message, render_template
from escalator.slack.text import clip, mrkdwn_escape

REASON_LENGTH = 500
UPDATE_LENGTH = 2000


def render_thread_note(entry: HistoryEntry, escalation: Escalation, policy: Policy) -> SlackMessage:
    who = "Escalator (automatically)" if entry.actor_user_id == SYSTEM_ACTOR else f"<@{entry.actor_user_id}>"
    headline = f"{who} {history_line(entry, escalation, policy)}"
    # Quote first, then cut: the quote marks count towards Slack's 3,000 characters too.
    room = 2950 - len(headline)
    note = entry.note
    if note and policy.privacy.mask_account_in_channel:
        note = mask_in_text(note, escalation.account_number)
    quoted = clip(">" + mrkdwn_escape(note).replace("\n", "\n>"), room) if note else None
    return message("thread_note.json.j2", headline=headline, quoted_note=quoted)


def history_line(entry: HistoryEntry, escalation: Escalation, policy: Policy) -> str:
    """`claimed ESC-42 · open → claimed`, `reassigned ESC-42 to <@U0SAM>`: what an entry did."""
    line = f"{Action(entry.action).past_tense} {escalation.reference}"
    if entry.target:
        line += " to " + destination_label(entry.target, policy)
    if entry.from_state and entry.from_state != entry.to_state:
        line += f" · {entry.from_state} → {entry.to_state}"
    return line


def destination_label(target: str, policy: Policy) -> str:
    if target == SUPERVISORS:
        return "the supervisors"
    if target in policy.paths:
        return mrkdwn_escape(policy.paths[target].label)
    return f"<@{target}>"


def render_warm_transfer(escalation: Escalation) -> SlackMessage:
    return message("warm_transfer.json.j2", e=escalation)


def render_hand_back(escalation: Escalation) -> SlackMessage:
    return message("hand_back.json.j2", e=escalation)


def render_owner_told_agent(escalation: Escalation, where: str) -> SlackMessage:
    text = (
        f":eyes: <@{escalation.owner_user_id}> has *{escalation.reference}* "
        f"({mrkdwn_escape(escalation.customer_name)}). Talk to them {where}."
    )
    return SlackMessage(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def _form(
    callback: CallbackId,
    escalation: Escalation,
    title: str,
    submit: str,
    intro: str,
    inputs: list[dict[str, Any]],
) -> dict[str, Any]:
    return render_template(
        "case_form.json.j2",
        callback_id=callback.value,
        escalation_id=escalation.id,
        title=title,
        submit=submit,
        intro=intro,
        inputs=inputs,
    )


def _about(escalation: Escalation) -> str:
    return f"*{escalation.reference}* · {mrkdwn_escape(escalation.customer_name)}"


def render_update_form(escalation: Escalation) -> dict[str, Any]:
    return _form(
        CallbackId.update_form,
        escalation,
        "Post an update",
        "Post",
        _about(escalation),
        [
            {
                "id": "update",
                "label": "Update",
                "multiline": True,
                "max_length": UPDATE_LENGTH,
                "placeholder": "What you found, what happens next, and when",
            },
        ],
    )


def render_resolve_form(escalation: Escalation) -> dict[str, Any]:
    return _form(
        CallbackId.resolve_form,
        escalation,
        "Resolve",
        "Resolve",
        _about(escalation),
        [
            {
                "id": "done",
                "label": "What was done",
                "multiline": True,
                "max_length": UPDATE_LENGTH,
                "placeholder": "Reversed the duplicate charge on invoice #789",
            },
            {
                "id": "for_customer",
                "label": "Words the agent can pass on to the customer",
                "multiline": True,
                "max_length": UPDATE_LENGTH,
                "placeholder": "The duplicate charge is reversed; you will see it back in 3–5 working days.",
            },
        ],
    )


def render_reassign_form(escalation: Escalation) -> dict[str, Any]:
    return _form(
        CallbackId.reassign_form,
        escalation,
        "Reassign",
        "Reassign",
        _about(escalation),
        [
            {"id": "new_owner", "label": "New owner", "kind": "users"},
        ],
    )


def render_move_form(escalation: Escalation, policy: Policy) -> dict[str, Any]:
    destinations = []
    if escalation.escalation_type is not EscalationType.hierarchical:
        destinations.append((SUPERVISORS, "Up to the supervisors (hierarchical)"))
    destinations += [
        (key, path.label)
        for key, path in policy.paths.items()
        if key != escalation.path_key or escalation.escalation_type is EscalationType.hierarchical
    ]
    return _form(
        CallbackId.move_form,
        escalation,
        "Escalate up or move",
        "Move",
        _about(escalation),
        [
            {"id": "destination", "label": "Where to", "kind": "select", "options": destinations},
            {"id": "reason", "label": "Why", "max_length": REASON_LENGTH, "multiline": True},
        ],
    )


def render_cancel_form(escalation: Escalation) -> dict[str, Any]:
    return _form(
        CallbackId.cancel_form,
        escalation,
        "Cancel the escalation",
        "Cancel it",
        _about(escalation),
        [
            {
                "id": "reason",
                "label": "Why",
                "max_length": REASON_LENGTH,
                "multiline": True,
                "placeholder": "Raised twice by mistake",
            },
        ],
    )


def render_close_form(escalation: Escalation) -> dict[str, Any]:
    ratings = [
        ("5", "5 — delighted"),
        ("4", "4 — satisfied"),
        ("3", "3 — neutral"),
        ("2", "2 — unhappy"),
        ("1", "1 — very unhappy"),
    ]
    return _form(
        CallbackId.close_form,
        escalation,
        "Close the loop",
        "Close",
        _about(escalation),
        [
            {
                "id": "csat",
                "label": "How did the customer feel at the end?",
                "kind": "radio",
                "options": ratings,
            },
            {"id": "comment", "label": "Anything to note", "optional": True, "max_length": REASON_LENGTH},
        ],
    )
