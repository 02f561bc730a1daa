"""The handoff form, what it turns into once saved, and the agent's note on what happens next."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import ref

from escalator.domain.authority import amount_text
from escalator.domain.escalation import CallbackVia, Escalation, EscalationType
from escalator.domain.handoff import MAX_LENGTH, HandoffField
from escalator.domain.incidents import Incident
from escalator.domain.key_accounts import KeyAccountMatch
from escalator.domain.routing import Detection
from escalator.domain.sla import humanize
from escalator.policy import Policy, Priority
from escalator.slack.ids import CallbackId
from escalator.slack.rendering import phrases
from escalator.slack.rendering.approvals import refund_route
from escalator.slack.rendering.card import key_account_note
from escalator.slack.rendering.engine import SlackMessage, message, render_template
from escalator.slack.text import slack_date, truncate_plain

# The form's optional "Part of an open incident?" menu: an incident's id, or this value for none.
INCIDENT_BLOCK = "incident"
NOT_AN_INCIDENT = "none"


@dataclass(frozen=True)
class ModalPrefill:
    """What the form starts with: the agent's text, and the choices that text suggests."""

    summary: str | None
    detection: Detection

    @property
    def path_key(self) -> str | None:
        return self.detection.path_key

    @property
    def escalation_type(self) -> EscalationType:
        return self.detection.escalation_type

    @property
    def priority(self) -> Priority | None:
        return self.detection.priority


def render_escalate_modal(
    policy: Policy, prefill: ModalPrefill, private_metadata: str, open_incidents: Sequence[Incident] = ()
) -> dict[str, Any]:
    """The handoff form. What it offers depends on the policy, on the choices the agent's words
    suggest and on the open incidents, which vary little: that form is rendered once and kept; each
    agent's copy gets their own text and where they opened it from."""
    incidents = tuple((str(i.id), f"{i.reference} · {i.title}") for i in open_incidents[:99])
    kept = _forms_of(policy)
    priority = prefill.priority.value if prefill.priority else None
    key = (prefill.path_key, prefill.escalation_type, priority, incidents)
    form = kept.get(key)
    if form is None:
        if len(kept) >= _KEPT_FORMS:
            kept.clear()
        form = kept[key] = _render_form(policy, prefill, incidents)
    # A copy of what differs (the blocks list, the summary's block); the other blocks are shared, and
    # nothing changes a view once rendered.
    view = {**form, "private_metadata": private_metadata, "blocks": list(form["blocks"])}
    if prefill.summary:
        at, summary = next(
            (n, b) for n, b in enumerate(view["blocks"]) if b.get("block_id") == HandoffField.summary.value
        )
        limit = MAX_LENGTH[HandoffField.summary]
        element = {**summary["element"], "initial_value": truncate_plain(prefill.summary, limit)}
        view["blocks"][at] = {**summary, "element": element}
    return view


# Per policy (read once per process; tests make many), the form by what it offers. Policies
# hash by their contents, so they are told apart by identity, for as long as each lives.
_RENDERED_FORMS: dict[int, tuple[ref[Policy], dict[tuple[object, ...], dict[str, Any]]]] = {}
_KEPT_FORMS = 256  # far more than a policy's paths × types × priorities in use at once


def _forms_of(policy: Policy) -> dict[tuple[object, ...], dict[str, Any]]:
    entry = _RENDERED_FORMS.get(id(policy))
    if entry is None or entry[0]() is not policy:
        if len(_RENDERED_FORMS) >= _KEPT_FORMS:
            _RENDERED_FORMS.clear()
        entry = _RENDERED_FORMS[id(policy)] = (ref(policy), {})
    return entry[1]


def _render_form(
    policy: Policy, prefill: ModalPrefill, incidents: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    priority_labels = {
        priority: f"{priority.value} — acknowledge within {humanize(targets.acknowledge)}"
        for priority, targets in sorted(policy.priorities.items())
    }
    return render_template(
        "escalate_modal.json.j2",
        callback_id=CallbackId.escalate_form.value,
        private_metadata="",
        prefill=ModalPrefill(summary=None, detection=prefill.detection),
        paths=policy.paths,
        escalation_types=list(EscalationType),
        callback_ways=list(CallbackVia),
        priority_labels=priority_labels,
        authority=policy.authority,
        refund_deciders=_refund_deciders(policy),
        key_accounts=policy.key_accounts is not None,
        max_length={field.value: limit for field, limit in MAX_LENGTH.items()},
        incidents=list(incidents),
        incident_block=INCIDENT_BLOCK,
        not_an_incident=NOT_AN_INCIDENT,
    )


def _refund_deciders(policy: Policy) -> str:
    """Who decides above the agent, for the form's hint: "a supervisor decides", or the whole chain."""
    authority = policy.authority
    if not authority.levels:
        return "a supervisor decides"
    steps = [
        f"the {level.name}" + (f" up to {amount_text(level.limit)}" if level.limit else "")
        for level in authority.levels
    ]
    return f"a supervisor decides up to {amount_text(authority.supervisor)}, then " + ", then ".join(steps)


KEY_ACCOUNT_NOTE = "key_account_note"  # the form's line under the account number, for a key account
_KEPT_VIEW_KEYS = ("type", "callback_id", "private_metadata", "title", "submit", "close")


def form_with_key_account(view: dict[str, Any], found: KeyAccountMatch | None) -> dict[str, Any] | None:
    """The open form (as Slack sent it back) with a line under the account number saying it is a key
    account, and its least priority; without the line when it is not one. None when nothing changes."""
    blocks = [b for b in view["blocks"] if b.get("block_id") != KEY_ACCOUNT_NOTE]
    if found is None and len(blocks) == len(view["blocks"]):
        return None
    if found is not None:
        note = render_template("key_account_note.json.j2", block_id=KEY_ACCOUNT_NOTE, k=found)
        at = next(
            (n + 1 for n, b in enumerate(blocks) if b.get("block_id") == HandoffField.account_number.value),
            len(blocks),
        )
        blocks.insert(at, note)
    kept = {key: view[key] for key in _KEPT_VIEW_KEYS if view.get(key) is not None}
    return {**kept, "blocks": blocks}


def render_saved_view(
    escalation: Escalation, policy: Policy, incident: Incident | None = None
) -> dict[str, Any]:
    return render_template(
        "modal_saved.json.j2",
        e=escalation,
        incident=incident,
        team=phrases.team(escalation, policy),
        acknowledge_within=phrases.targets(escalation, policy)["acknowledge"],
        key_account=key_account_note(escalation),
    )


def render_next_steps(escalation: Escalation, policy: Policy, now: datetime) -> SlackMessage:
    """The agent's private note: where the case went, who will pick it up (who is on duty), and by when."""
    problem_text = None
    if escalation.card_posted:
        headline = (
            f":white_check_mark: *{escalation.reference}* is posted in <#{escalation.card_channel_id}>."
        )
    else:
        headline = f":warning: *{escalation.reference}* is saved, but I could not post it anywhere."
    if escalation.delivery_problem:
        problem, fix = phrases.channel_problem(escalation.delivery_problem)
        problem_text = f"I could not post it to <#{escalation.routed_channel_id}>: {problem}. "
        if escalation.card_posted:
            problem_text += "It went to the supervisors instead, so nothing is lost. "
        else:
            problem_text += "*Please call a supervisor now* and give them the reference. "
        problem_text += f"To fix the channel, ask a Slack admin to {fix}."
    return message(
        "next_steps.json.j2",
        e=escalation,
        headline=headline,
        problem=problem_text,
        who=phrases.who(escalation, policy),
        on_duty=phrases.on_duty_for(escalation, policy, now),
        team=phrases.team(escalation, policy),
        targets=phrases.targets(escalation, policy),
        refund=refund_route(escalation, policy),
        key_account=key_account_note(escalation),
        callback=_callback_promise(escalation, policy),
    )


def _callback_promise(escalation: Escalation, policy: Policy) -> str | None:
    """What the agent promised the customer, and who the bot will remind of it."""
    if escalation.callback_at is None or escalation.callback_via is None:
        return None
    return (
        f":telephone_receiver: *Callback promised* by {escalation.callback_via.value} "
        f"{slack_date(escalation.callback_at)}: I'll remind whoever owns the case "
        f"{humanize(policy.callbacks.remind_before)} before, or you while nobody does."
    )
