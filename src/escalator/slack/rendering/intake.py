"""The handoff form, what it turns into once saved, and the agent's note on what happens next."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from escalator.domain.escalation import Escalation, EscalationType
from escalator.domain.handoff import MAX_LENGTH
from escalator.domain.incidents import Incident
from escalator.domain.routing import Detection
from escalator.domain.sla import humanize
from escalator.policy import Policy, Priority
from escalator.slack.ids import CallbackId
from escalator.slack.rendering import phrases
from escalator.slack.rendering.engine import SlackMessage, message, render_template

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
    priority_labels = {
        priority: f"{priority.value} — acknowledge within {humanize(targets.acknowledge)}"
        for priority, targets in sorted(policy.priorities.items())
    }
    return render_template(
        "escalate_modal.json.j2",
        callback_id=CallbackId.escalate_form.value,
        private_metadata=private_metadata,
        prefill=prefill,
        paths=policy.paths,
        escalation_types=list(EscalationType),
        priority_labels=priority_labels,
        authority=policy.authority,
        max_length={field.value: limit for field, limit in MAX_LENGTH.items()},
        incidents=[(str(i.id), f"{i.reference} · {i.title}") for i in open_incidents[:99]],
        incident_block=INCIDENT_BLOCK,
        not_an_incident=NOT_AN_INCIDENT,
    )


def render_saved_view(
    escalation: Escalation, policy: Policy, incident: Incident | None = None
) -> dict[str, Any]:
    return render_template(
        "modal_saved.json.j2",
        e=escalation,
        incident=incident,
        team=phrases.team(escalation, policy),
        acknowledge_within=phrases.targets(escalation, policy)["acknowledge"],
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
        team=phrases.team(escalation, policy),
        targets=phrases.targets(escalation, policy),
    )
