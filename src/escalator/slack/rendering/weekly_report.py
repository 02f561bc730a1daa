"""The weekly report as Slack shows it (and as `escalator report --week` prints it): the topics for
everyone it goes to, the per-agent figures only for the supervisors, privately."""

from __future__ import annotations

from escalator.domain.feedback import TopicTrend
from escalator.policy import Policy
from escalator.services.weekly_report import WeeklyReport
from escalator.slack.rendering.engine import SlackMessage, message
from escalator.slack.text import mrkdwn_escape

_TOP = 10  # topics listed per section; the CSV has them all


def render_weekly_report(report: WeeklyReport, policy: Policy, with_agents: bool) -> SlackMessage:
    span = f"{report.week.day} {report.week:%B} – {report.week_end.day} {report.week_end:%B %Y}"
    title = f"Weekly escalations report · {span}"
    sections = [
        f"*{report.raised}* escalations raised this week ({_change(report.raised, report.raised_last_week)} "
        f"on the week before's {report.raised_last_week})."
    ]
    if report.topics:
        sections.append("*What caused most escalations*\n" + _topics(report.topics))
        for key, rows in report.by_path.items():
            label = mrkdwn_escape(policy.paths[key].label if key in policy.paths else key)
            sections.append(f"*{label}*\n" + _topics(rows))
    else:
        sections.append("No keyword or trigger word of the policy came up this week.")
    if with_agents:
        sections.append(_agents(report))
    sections.append("The CSV in the thread has every row, for training and the product team.")
    return message(
        "digest.json.j2",
        title=title,
        headline=f"{title}: {report.raised} escalations raised",
        sections=sections,
    )


def _change(now: int, before: int) -> str:
    return f"▲ {now - before}" if now > before else (f"▼ {before - now}" if now < before else "level")


def _topics(rows: list[TopicTrend]) -> str:
    lines = [f"• {mrkdwn_escape(row.word)}: {row.this_week} ({row.trend})" for row in rows[:_TOP]]
    if len(rows) > _TOP:
        lines.append(f"…and {len(rows) - _TOP} more")
    return "\n".join(lines)


def _agents(report: WeeklyReport) -> str:
    """Private to the supervisors: where training could help."""
    if not report.agents:
        return "*Per agent* (only you see this)\nNo escalations raised."
    lines = [
        "*Per agent* (only you see this): raised · resolved by the first specialist · "
        "arrived without steps taken"
    ]
    lines += [
        f"• <@{a.agent_user_id}>: {a.raised} · {a.resolved_by_first_specialist} · {a.without_steps}"
        for a in report.agents
    ]
    return "\n".join(lines)
