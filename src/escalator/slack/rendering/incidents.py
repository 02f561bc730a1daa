"""What people see of incidents: the card, the suggestion, the notes to agents, and the two forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from escalator.domain.escalation import Escalation
from escalator.domain.incidents import Incident, IncidentSuggestion, SuggestionState
from escalator.domain.privacy import mask_in_text
from escalator.domain.sla import humanize
from escalator.policy import Policy
from escalator.slack.ids import CallbackId
from escalator.slack.rendering.engine import SlackMessage, message, render_template
from escalator.slack.text import clip, mrkdwn_escape

# Until the responders say more, what an agent can tell a caller.
DEFAULT_CUSTOMER_LINE = (
    "We know about this problem and our team is working on it. We'll let you know as soon as it is fixed."
)
_LISTED = 20  # cases listed by reference on a card or suggestion; the rest are counted


@dataclass(frozen=True)
class _Leave:
    escalation_id: int
    reference: str


def responders(policy: Policy) -> str:
    """The responders as mentions: each person, and the user group."""
    incident = policy.incident
    if incident is None:
        return ""
    mentions = [f"<@{user}>" for user in incident.responders]
    if incident.usergroup:
        mentions.append(f"<!subteam^{incident.usergroup}>")
    return ", ".join(mentions)


def render_incident_card(incident: Incident, linked: list[Escalation], policy: Policy) -> SlackMessage:
    path = policy.paths.get(incident.path_key or "")
    return message(
        "incident_card.json.j2",
        i=incident,
        mention=responders(policy),
        path_label=path.label if path else None,
        affected=_affected(linked),
        cases=_references(linked),
        default_line=DEFAULT_CUSTOMER_LINE,
    )


def render_suggestion(
    suggestion: IncidentSuggestion, members: list[Escalation], policy: Policy
) -> SlackMessage:
    last = max((e.raised_at for e in members), default=suggestion.first_raised_at)
    span = humanize(last - suggestion.first_raised_at)
    headline = (
        f"Possible incident: {len(members)} escalations about “{mrkdwn_escape(suggestion.title)}” in {span}"
    )
    listed = [f"• *{e.reference}* · {mrkdwn_escape(clip_summary(e, policy))}" for e in members[:_LISTED]]
    if len(members) > _LISTED:
        listed.append(f"…and {len(members) - _LISTED} more")
    decision = None
    if suggestion.state is SuggestionState.declared:
        decision = f":rotating_light: Declared as INC-{suggestion.incident_id} by <@{suggestion.decided_by}>."
    elif suggestion.state is SuggestionState.dismissed:
        decision = f"Dismissed by <@{suggestion.decided_by}>: not an incident."
    return message(
        "incident_suggestion.json.j2",
        s=suggestion,
        headline=headline,
        members="\n".join(listed),
        decision=decision,
    )


def render_incident_joined(escalation: Escalation, incident: Incident) -> SlackMessage:
    """To the agent: their case is part of an incident, what to tell the caller, and a way out."""
    headline = (
        f":rotating_light: *{escalation.reference}* is part of *{incident.reference}* "
        f"({mrkdwn_escape(incident.title)}): the incident's responders are on it, so it gets no card of its "
        "own. I'll message you with each update for your customer, and when it is fixed."
    )
    return message(
        "incident_notice.json.j2",
        headline=headline,
        lines=[f"*Tell the customer now:* {_customer_line(incident)}"],
        leave=_Leave(escalation.id or 0, incident.reference) if incident.is_open else None,
    )


def render_incident_update_for_agent(incident: Incident, cases: list[Escalation], line: str) -> SlackMessage:
    references = ", ".join(e.reference for e in cases) or "your cases"
    headline = (
        f":loudspeaker: Update on *{incident.reference}* ({mrkdwn_escape(incident.title)}), for {references}"
    )
    return message(
        "incident_notice.json.j2",
        headline=headline,
        lines=[f"*Tell the customer:* {mrkdwn_escape(line)}"],
        leave=None,
    )


def render_incident_note(by: str, resolved: bool, status: str, customer_line: str) -> SlackMessage:
    """One status update (or the resolution) in the incident card's thread, as it was posted."""
    verb = "resolved the incident" if resolved else "posted an update"
    return message(
        "incident_notice.json.j2",
        headline=f"<@{by}> {verb}: {clip(mrkdwn_escape(status), 2800)}",
        lines=[f"*For customers:* {clip(mrkdwn_escape(customer_line), 2700)}"],
        leave=None,
    )


def render_incident_resolving(incident: Incident, cases: int) -> dict[str, Any]:
    """The Resolve form, once submitted: the incident is resolved, and its `cases` are on their way."""
    return render_template("incident_resolving.json.j2", incident=incident, cases=cases)


def render_incident_form(callback: CallbackId, incident: Incident) -> dict[str, Any]:
    resolving = callback is CallbackId.incident_resolve_form
    status_label = "What was fixed" if resolving else "What we know"
    return render_template(
        "case_form.json.j2",
        callback_id=callback.value,
        escalation_id=incident.id,
        title="Resolve incident" if resolving else "Incident update",
        submit="Resolve" if resolving else "Post",
        intro=f"*{incident.reference}* · {mrkdwn_escape(incident.title)}",
        inputs=[
            {"id": "status", "label": status_label, "multiline": True, "max_length": 2000},
            {
                "id": "customer_line",
                "label": "For customers (agents pass this on)",
                "multiline": True,
                "max_length": 1000,
                "placeholder": "Logins work again. If yours does not, sign out and in again.",
            },
        ],
    )


def clip_summary(escalation: Escalation, policy: Policy) -> str:
    """A summary as a channel may show it: account numbers masked when the policy says so, cut short."""
    summary = escalation.summary
    if policy.privacy.mask_account_in_channel:
        summary = mask_in_text(summary, escalation.account_number) or summary
    return summary if len(summary) <= 120 else summary[:119] + "…"


def _affected(linked: list[Escalation]) -> str:
    return f"{len(linked)} customer{'s' if len(linked) != 1 else ''}"


def _references(linked: list[Escalation]) -> str:
    shown = ", ".join(e.reference for e in linked[:_LISTED])
    more = f" and {len(linked) - _LISTED} more" if len(linked) > _LISTED else ""
    return f"Cases: {shown}{more}" if linked else ""


def _customer_line(incident: Incident) -> str:
    return (
        clip(mrkdwn_escape(incident.customer_line), 2700) if incident.customer_line else DEFAULT_CUSTOMER_LINE
    )
