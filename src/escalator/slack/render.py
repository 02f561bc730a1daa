"""Rendering what people see from state: every message and view comes from a template in templates/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from escalator.domain.authority import Approver, approver_for
from escalator.domain.escalation import Escalation, EscalationType
from escalator.domain.handoff import MAX_LENGTH
from escalator.domain.routing import Detection
from escalator.domain.sla import humanize
from escalator.policy import Policy, Priority
from escalator.slack.ids import CallbackId
from escalator.slack.text import clip, mrkdwn_escape, slack_date, truncate_plain


def templates_dir() -> Path:
    """templates/ beside the package's source tree, or in the working directory of an installed copy."""
    beside_source = Path(__file__).resolve().parents[3] / "templates"
    return beside_source if beside_source.is_dir() else Path.cwd() / "templates"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        undefined=StrictUndefined,
        autoescape=False,  # JSON templates: values go through |tojson, user text through |mrkdwn first
        keep_trailing_newline=False,
    )
    env.filters.update(mrkdwn=mrkdwn_escape, clip=clip, truncate_plain=truncate_plain, slack_date=slack_date)
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
    return env


def _render(name: str, **context: Any) -> dict[str, Any]:
    return json.loads(_environment().get_template(name).render(**context))


@dataclass(frozen=True)
class SlackMessage:
    """`text` is the notification and screen-reader fallback; `blocks` what the message shows."""

    text: str
    blocks: list[dict[str, Any]]

    def as_params(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


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


_TYPE_ICONS = {
    EscalationType.functional: ":arrow_right:",
    EscalationType.hierarchical: ":arrow_up:",
    EscalationType.priority: ":rotating_light:",
    EscalationType.incident: ":fire:",
}

# Why Slack refused a channel, and what an admin does about it, by Slack's error code.
_CHANNEL_PROBLEMS = {
    "channel_not_found": (
        "the channel does not exist, or it is private and the bot is not in it",
        "check the channel ID in the policy, or `/invite @Escalator` in that channel",
    ),
    "not_in_channel": ("the bot is not a member of the channel", "`/invite @Escalator` in that channel"),
    "is_archived": ("the channel is archived", "unarchive it, or point the policy at another channel"),
}


def channel_problem(error: str) -> tuple[str, str]:
    return _CHANNEL_PROBLEMS.get(
        error, (f"Slack answered `{error}`", "run the app's checks and look at its logs")
    )


def render_escalate_modal(policy: Policy, prefill: ModalPrefill, private_metadata: str) -> dict[str, Any]:
    priority_labels = {
        priority: f"{priority.value} — acknowledge within {humanize(targets.acknowledge)}"
        for priority, targets in sorted(policy.priorities.items())
    }
    return _render(
        "escalate_modal.json.j2",
        callback_id=CallbackId.escalate_form.value,
        private_metadata=private_metadata,
        prefill=prefill,
        paths=policy.paths,
        escalation_types=list(EscalationType),
        priority_labels=priority_labels,
        authority=policy.authority,
        max_length={field.value: limit for field, limit in MAX_LENGTH.items()},
    )


def render_saved_view(escalation: Escalation, policy: Policy) -> dict[str, Any]:
    return _render(
        "modal_saved.json.j2",
        e=escalation,
        team=_team(escalation, policy),
        acknowledge_within=humanize(policy.targets(escalation.priority).acknowledge),
    )


def render_card(escalation: Escalation, policy: Policy) -> SlackMessage:
    """The whole handoff card, from the escalation's state: for the first post and every update."""
    return SlackMessage(**_render("handoff_card.json.j2", **_card_context(escalation, policy)))


def render_delivery_alert(escalation: Escalation, policy: Policy, failed_channel: str) -> SlackMessage:
    problem, fix = channel_problem(escalation.delivery_problem or "unknown_error")
    return SlackMessage(
        **_render(
            "delivery_alert.json.j2",
            failed_channel=failed_channel,
            problem=problem,
            fix=fix,
            **_card_context(escalation, policy),
        )
    )


def render_next_steps(escalation: Escalation, policy: Policy) -> SlackMessage:
    """The agent's private note: where the case went, who will pick it up, and by when."""
    problem_text = None
    if escalation.card_posted:
        headline = (
            f":white_check_mark: *{escalation.reference}* is posted in <#{escalation.card_channel_id}>."
        )
    else:
        headline = f":warning: *{escalation.reference}* is saved, but I could not post it anywhere."
    if escalation.delivery_problem:
        problem, fix = channel_problem(escalation.delivery_problem)
        problem_text = f"I could not post it to <#{escalation.routed_channel_id}>: {problem}. "
        if escalation.card_posted:
            problem_text += "It went to the supervisors instead, so nothing is lost. "
        else:
            problem_text += "*Please call a supervisor now* and give them the reference. "
        problem_text += f"To fix the channel, ask a Slack admin to {fix}."
    return SlackMessage(
        **_render(
            "next_steps.json.j2",
            e=escalation,
            headline=headline,
            problem=problem_text,
            who=_who(escalation, policy),
            team=_team(escalation, policy),
            targets=_targets(escalation, policy),
        )
    )


def _card_context(escalation: Escalation, policy: Policy) -> dict[str, Any]:
    approver = approver_for(escalation.refund_amount, policy.authority)
    approval_note = {
        Approver.agent: "within the agent's authority",
        Approver.supervisor: "needs a supervisor's approval",
        Approver.management: "above a supervisor's authority: management must decide",
    }[approver]
    fallback = clip(
        f"{escalation.reference} · {escalation.priority.value} · "
        f"{mrkdwn_escape(_path_label(escalation, policy))}: "
        f"{mrkdwn_escape(escalation.customer_name)} — {mrkdwn_escape(escalation.summary)}",
        300,
    )
    return {
        "e": escalation,
        "path_label": _path_label(escalation, policy),
        "type_icon": _TYPE_ICONS[escalation.escalation_type],
        "state_label": "Open — waiting for a specialist"
        if escalation.state.value == "open"
        else escalation.state.value.capitalize(),
        "approval_note": approval_note,
        "targets": _targets(escalation, policy),
        "owners": _owners(escalation, policy),
        "fallback": fallback,
    }


def _targets(escalation: Escalation, policy: Policy) -> dict[str, str]:
    targets = policy.priorities.get(escalation.priority)
    if targets is None:  # the priority left the policy since: say the stored times as durations
        due = {
            "acknowledge": escalation.acknowledge_by,
            "first_update": escalation.first_update_by,
            "resolve": escalation.resolve_by,
        }
        return {name: humanize(moment - escalation.raised_at) for name, moment in due.items()}
    return {
        "acknowledge": humanize(targets.acknowledge),
        "first_update": humanize(targets.first_update),
        "resolve": humanize(targets.resolve),
    }


def _owners(escalation: Escalation, policy: Policy) -> str:
    if escalation.escalation_type is EscalationType.hierarchical:
        return (
            _mentions(policy.supervisors.users, None) or f"the supervisors in <#{policy.supervisors.channel}>"
        )
    path = policy.paths.get(escalation.path_key)
    if path is None:
        return f"the supervisors in <#{policy.supervisors.channel}>"
    return _mentions(path.specialists, path.usergroup)


def _mentions(users: list[str], usergroup: str | None) -> str:
    parts = [f"<!subteam^{usergroup}>"] if usergroup else []
    parts += [f"<@{user}>" for user in users]
    return ", ".join(parts)


def _path_label(escalation: Escalation, policy: Policy) -> str:
    path = policy.paths.get(escalation.path_key)
    return path.label if path else escalation.path_key


def _team(escalation: Escalation, policy: Policy) -> str:
    """How the agent names the team to the customer: "Billing team", or "supervisors"."""
    if escalation.escalation_type is EscalationType.hierarchical:
        return "supervisors"
    return f"{_path_label(escalation, policy)} team"


def _who(escalation: Escalation, policy: Policy) -> str:
    if escalation.escalation_type is EscalationType.hierarchical:
        return f"A supervisor ({_owners(escalation, policy)})"
    return f"The {mrkdwn_escape(_path_label(escalation, policy))} specialists ({_owners(escalation, policy)})"
