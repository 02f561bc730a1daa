"""The App Home tab, from a person's `Home`."""

from __future__ import annotations

from typing import Any

from escalator.domain.escalation import Escalation
from escalator.domain.timers import TimerKind
from escalator.policy import Policy
from escalator.services.home import Home
from escalator.slack.rendering import phrases
from escalator.slack.rendering.card import callback_note, clocks, state_label
from escalator.slack.rendering.engine import render_template
from escalator.slack.rendering.rota import now_and_next, week_summary
from escalator.slack.text import mrkdwn_escape, slack_date

_REMINDER_NAMES = {
    TimerKind.close_the_loop: "close the loop with the customer",
    TimerKind.customer_deadline: "the customer's own deadline",
    TimerKind.first_update_nudge: "first update due soon",
    TimerKind.resolve_nudge: "resolve due soon",
    TimerKind.callback_reminder: "callback promised to the customer",
}


def render_home(home: Home, policy: Policy) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"kind": "header", "text": "Your escalations"}]
    parts += _list(
        "*Raised by you*", home.raised, policy, "Nothing of yours is open. `/escalate` raises one."
    )
    parts += _list("*Owned by you*", home.owned, policy, "You own no open escalation.")
    if home.missed_callbacks:
        parts.append({"kind": "section", "text": "*Missed callbacks*"})
        parts += [
            {
                "kind": "section",
                "text": f"{_link(e)} · {mrkdwn_escape(e.customer_name)}\n{callback_note(e)}",
                "button": ("callback_done", "Called back", str(e.id)),
            }
            for e in home.missed_callbacks
        ]
    parts.append(
        {
            "kind": "section",
            "text": "*Reminders for you*" if home.reminders else "*Reminders for you:* none pending.",
        }
    )
    for reminder in home.reminders:
        e = reminder.escalation
        value = f"{e.id}:{reminder.kind.value}:{reminder.reminder}"
        parts.append(
            {
                "kind": "section",
                "text": f"{_link(e)} · {_REMINDER_NAMES.get(reminder.kind, reminder.kind.value)} · "
                f"{slack_date(reminder.due_at)}",
                "buttons": [
                    (f"snooze_hour|{value}", "Snooze 1 h"),
                    (f"snooze_tomorrow|{value}", "Snooze until tomorrow"),
                    (f"mute|{value}", "Mute this case"),
                ],
            }
        )
    if home.rotas:
        parts += [{"kind": "divider"}, {"kind": "header", "text": "On duty"}]
        parts += [
            {
                "kind": "section",
                "text": f"*{mrkdwn_escape(view.label)}:* {now_and_next(view, policy.zone)}\n"
                f"{week_summary(view.rota, policy.zone, view.at)}",
            }
            for view in home.rotas
            if view.rota is not None
        ]
    if home.team:
        team = home.team
        parts += [
            {"kind": "divider"},
            {"kind": "header", "text": "The team"},
            {
                "kind": "section",
                "text": f"*Today:* {team.raised_today} raised · {team.resolved_today} resolved · "
                f"{team.closed_today} closed",
            },
        ]
        parts += _list(
            f"*Open and unclaimed:* {team.open_unclaimed_total}",
            team.open_unclaimed,
            policy,
            "No open escalation is waiting for a specialist.",
        )
        parts += _list("*Breaches*", team.breached, policy, "No open escalation has missed a target.")
    return render_template("home.json.j2", parts=parts[:100])


def _link(e: Escalation) -> str:
    if e.card_channel_id and e.card_ts:
        return (
            f"<https://slack.com/archives/{e.card_channel_id}/p{e.card_ts.replace('.', '')}|*{e.reference}*>"
        )
    return f"*{e.reference}*"


def _list(title: str, escalations: list[Escalation], policy: Policy, empty: str) -> list[dict[str, Any]]:
    if not escalations:
        return [{"kind": "section", "text": f"{title}\n{empty}"}]
    return [{"kind": "section", "text": title}] + [
        {
            "kind": "section",
            "text": f"{_link(e)} · {mrkdwn_escape(phrases.path_label(e, policy))} · "
            f"{mrkdwn_escape(e.customer_name)}\n{state_label(e)}\n{clocks(e, policy)}",
        }
        for e in escalations
    ]
