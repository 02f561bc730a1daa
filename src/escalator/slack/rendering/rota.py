"""Rotas in words: `/escalate who`'s answer and App Home's section, in the policy's timezone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from escalator.domain.rota import Duty, DutyKind
from escalator.policy import Policy, Rota, Shift, Weekday
from escalator.services.rotas import RotaView
from escalator.slack.rendering.phrases import mentions
from escalator.slack.text import mrkdwn_escape


def render_who(views: list[RotaView], policy: Policy, now: datetime) -> str:
    """`/escalate who`, as one private message."""
    local = now.astimezone(policy.zone)
    lines = [f"*Who is on duty* · {local:%a %d %b %H:%M} ({policy.timezone})"]
    lines += [f"*{mrkdwn_escape(view.label)}:* {now_and_next(view, policy.zone)}" for view in views]
    return "\n".join(lines)


def now_and_next(view: RotaView, zone: ZoneInfo) -> str:
    """`<@U0ALEX> until 13:00 · next: <@U0SAM> from 13:00 until 17:30`."""
    now = view.at
    if view.now is None:
        anyone = mentions(view.everyone, None) or "its user group"
        return f"no rota: any of {anyone} may pick cases up"
    text = _people(view.now) + (f" until {when(view.now.until, zone, now)}" if view.now.until else "")
    if view.next is not None:
        text += f" · next: {_people(view.next)} from {when(view.next.since, zone, now)}"
        if view.next.until:
            text += f" until {when(view.next.until, zone, now)}"
    return text


def week_summary(rota: Rota, zone: ZoneInfo, now: datetime) -> str:
    """The week's shifts in a line, then the after-hours contacts and the covers still to come."""
    parts = [f"{_days(shift)} {_hours(shift)}: {mentions(shift.on_duty, None)}" for shift in rota.shifts]
    if rota.after_hours:
        parts.append(f"after hours: {mentions(rota.after_hours, None)}")
    today = now.astimezone(zone).date()
    for override in rota.overrides:
        if override.last_day >= today:
            note = f" ({mrkdwn_escape(override.note)})" if override.note else ""
            span = _dates(override.first_day, override.last_day)
            parts.append(f"{span}: {mentions(override.on_duty, None)}{note}")
    return " · ".join(parts)


def when(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    """`13:00` today, `Thu 09:00` within the week, `Thu 24 Dec 09:00` later."""
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if local.date() - today < timedelta(days=6):
        return f"{local:%a %H:%M}"
    return f"{local:%a %d %b %H:%M}"


def _people(duty: Duty) -> str:
    who = mentions(list(duty.people), None) or "nobody"
    if duty.note:
        return f"{who} ({mrkdwn_escape(duty.note)})"
    return who + {DutyKind.after_hours: " (after hours)", DutyKind.override: " (cover)"}.get(duty.kind, "")


def _days(shift: Shift) -> str:
    indexes = sorted(day.index for day in shift.days)
    names = [list(Weekday)[i].value.capitalize() for i in indexes]
    if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{names[0]}–{names[-1]}"
    return ", ".join(names)


def _hours(shift: Shift) -> str:
    return f"{shift.start:%H:%M}–{shift.end:%H:%M}"


def _dates(first: date, last: date) -> str:
    return f"{first:%d %b}" if first == last else f"{first:%d %b}–{last:%d %b}"
