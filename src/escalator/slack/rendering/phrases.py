"""How the app names teams, owners and targets in sentences, the same way in every message."""

from __future__ import annotations

from datetime import datetime

from escalator.domain.escalation import Escalation, EscalationType, State
from escalator.domain.lifecycle import path_people, supervisor_people
from escalator.domain.rota import Duty, DutyKind, duty_at, rota_for
from escalator.domain.sla import humanize
from escalator.policy import Policy
from escalator.slack.text import mrkdwn_escape, slack_date

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
    """What went wrong with a channel, and how an admin fixes it."""
    return _CHANNEL_PROBLEMS.get(
        error, (f"Slack answered `{error}`", "run the app's checks and look at its logs")
    )


def targets(escalation: Escalation, policy: Policy) -> dict[str, str]:
    """Each SLA target as a duration: `15 min`, `2 h`, `1 day`."""
    configured = policy.priorities.get(escalation.priority)
    if configured is None:  # the priority left the policy since: say the stored times as durations
        due = {
            "acknowledge": escalation.acknowledge_by,
            "first_update": escalation.first_update_by,
            "resolve": escalation.resolve_by,
        }
        return {name: humanize(moment - escalation.raised_at) for name, moment in due.items()}
    return {
        "acknowledge": humanize(configured.acknowledge),
        "first_update": humanize(configured.first_update),
        "resolve": humanize(configured.resolve),
    }


def owners(escalation: Escalation, policy: Policy) -> str:
    """Mentions of the people who may pick the escalation up."""
    supervisors = policy.supervisors
    if escalation.escalation_type is EscalationType.hierarchical or escalation.path_key not in policy.paths:
        return (
            mentions(supervisor_people(policy), supervisors.usergroup)
            or f"the supervisors in <#{supervisors.channel}>"
        )
    path = policy.paths[escalation.path_key]
    return mentions(path_people(path), path.usergroup)


def who_may_claim(escalation: Escalation, policy: Policy) -> str:
    """Whom `owners` names: "Billing specialists", or "Supervisors" for a case escalated up."""
    if escalation.escalation_type is EscalationType.hierarchical or escalation.path_key not in policy.paths:
        return "Supervisors"
    return f"{mrkdwn_escape(policy.paths[escalation.path_key].label)} specialists"


def mentions(users: list[str], usergroup: str | None) -> str:
    parts = [f"<!subteam^{usergroup}>"] if usergroup else []
    parts += [f"<@{user}>" for user in users]
    return ", ".join(parts)


def path_label(escalation: Escalation, policy: Policy) -> str:
    path = policy.paths.get(escalation.path_key)
    return path.label if path else escalation.path_key


def team(escalation: Escalation, policy: Policy) -> str:
    """How the agent names the team to the customer: "Billing team", or "supervisors"."""
    if escalation.escalation_type is EscalationType.hierarchical:
        return "supervisors"
    return f"{path_label(escalation, policy)} team"


def who(escalation: Escalation, policy: Policy) -> str:
    """Who will pick it up, as the subject of a sentence."""
    if escalation.escalation_type is EscalationType.hierarchical:
        return f"A supervisor ({owners(escalation, policy)})"
    return f"The {mrkdwn_escape(path_label(escalation, policy))} specialists ({owners(escalation, policy)})"


def on_duty(duty: Duty) -> str:
    """`On duty: <@U0ALEX> until today at 13:00`, in each reader's own timezone."""
    who = mentions(list(duty.people), None) or "nobody"
    why = {DutyKind.after_hours: " (after hours)", DutyKind.override: " (cover)"}.get(duty.kind, "")
    if duty.note:
        why = f" ({mrkdwn_escape(duty.note)})"
    until = f" until {slack_date(duty.until)}" if duty.until else ""
    return f"On duty: {who}{why}{until}"


def on_duty_for(escalation: Escalation, policy: Policy, now: datetime) -> str | None:
    """Who on the rota should pick an open case up now, and until when; None without a rota."""
    rota = rota_for(escalation, policy)
    if rota is None or escalation.state is not State.open:
        return None
    return on_duty(duty_at(rota, now, policy.zone))
