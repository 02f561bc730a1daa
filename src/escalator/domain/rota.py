"""Rotas: who is on duty at a moment and until when, who comes next, and the hours a week leaves empty.

Shifts are wall-clock times in the policy's timezone: a 09:00 shift starts at nine on either side of a
DST change, and an overnight shift that night is an hour longer or shorter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from escalator.domain.escalation import Escalation, EscalationType
from escalator.policy import Policy, Rota, Shift, Weekday

# How far ahead to look for the next change: beyond any week's shifts and most holiday covers.
HORIZON = timedelta(days=62)
_UTC = ZoneInfo("UTC")
_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES


class DutyKind(StrEnum):
    shift = "shift"
    after_hours = "after_hours"  # no shift covers the moment: the after-hours contacts
    override = "override"  # holiday cover for the date
    nobody = "nobody"


@dataclass(frozen=True)
class Duty:
    """Who is on duty from `since` until `until` (None: no change within the horizon)."""

    people: tuple[str, ...]
    kind: DutyKind
    since: datetime
    until: datetime | None
    note: str | None = None  # an override's note: "Christmas cover"


@dataclass(frozen=True)
class WeekGap:
    """Minutes of the week (Monday 00:00 is 0) with nobody on duty; `end` may wrap past Sunday."""

    start: int
    end: int

    def describe(self) -> str:
        """`Sat 00:00–Mon 09:00`."""
        return f"{_week_moment(self.start)}–{_week_moment(self.end)}"


def rota_for(escalation: Escalation, policy: Policy) -> Rota | None:
    """The rota of whoever should pick the case up: its path's, or the supervisors' for a case up there."""
    path = policy.paths.get(escalation.path_key)
    if escalation.escalation_type is EscalationType.hierarchical or path is None:
        return policy.supervisors.rota
    return path.rota


def duty_at(rota: Rota, moment: datetime, zone: ZoneInfo) -> Duty:
    """Who is on duty at `moment`, and until when."""
    people, kind, note = _on_duty(rota, moment, zone)
    return Duty(people, kind, moment, _next_change(rota, moment, zone, (people, kind, note)), note)


def next_duty(rota: Rota, duty: Duty, zone: ZoneInfo) -> Duty | None:
    """Who takes over when `duty` ends, or None when nothing changes within the horizon."""
    return None if duty.until is None else duty_at(rota, duty.until, zone)


def on_duty_now(rota: Rota | None, moment: datetime, zone: ZoneInfo) -> tuple[str, ...]:
    """The people on duty at `moment`; none without a rota."""
    return () if rota is None else duty_at(rota, moment, zone).people


def week_gaps(rota: Rota) -> list[WeekGap]:
    """The stretches of an ordinary week (no overrides) when no shift covers and there is no
    after-hours contact."""
    if rota.after_hours:
        return []
    covered = [False] * _WEEK_MINUTES
    for shift in rota.shifts:
        start, end = _minutes(shift.start), _minutes(shift.end)
        length = end - start if end > start else end + _DAY_MINUTES - start
        for day in shift.days:
            first = day.index * _DAY_MINUTES + start
            for minute in range(first, first + length):
                covered[minute % _WEEK_MINUTES] = True
    if all(covered):
        return []
    # Start from a covered minute so that a gap over the week's end (Fri evening–Mon) is one gap.
    origin = covered.index(True)
    gaps: list[WeekGap] = []
    run_start: int | None = None
    for step in range(1, _WEEK_MINUTES + 1):
        minute = (origin + step) % _WEEK_MINUTES
        if not covered[minute] and run_start is None:
            run_start = origin + step
        elif covered[minute] and run_start is not None:
            gaps.append(WeekGap(run_start % _WEEK_MINUTES, (origin + step) % _WEEK_MINUTES))
            run_start = None
    return sorted(gaps, key=lambda gap: gap.start)


def _on_duty(rota: Rota, moment: datetime, zone: ZoneInfo) -> tuple[tuple[str, ...], DutyKind, str | None]:
    local = moment.astimezone(zone)
    for override in rota.overrides:
        if override.first_day <= local.date() <= override.last_day:
            return tuple(override.on_duty), DutyKind.override, override.note
    people = [user for shift in rota.shifts if _covers(shift, local) for user in shift.on_duty]
    if people:
        return tuple(dict.fromkeys(people)), DutyKind.shift, None
    if rota.after_hours:
        return tuple(rota.after_hours), DutyKind.after_hours, None
    return (), DutyKind.nobody, None


def _covers(shift: Shift, local: datetime) -> bool:
    clock, weekday = local.time().replace(tzinfo=None), local.weekday()
    days = {day.index for day in shift.days}
    if shift.start < shift.end:
        return weekday in days and shift.start <= clock < shift.end
    # Overnight: the evening of a shift day, or the morning after one.
    return (weekday in days and clock >= shift.start) or ((weekday - 1) % 7 in days and clock < shift.end)


def _next_change(
    rota: Rota, moment: datetime, zone: ZoneInfo, now: tuple[tuple[str, ...], DutyKind, str | None]
) -> datetime | None:
    for candidate in _boundaries(rota, moment, zone):
        if _on_duty(rota, candidate, zone) != now:
            return candidate
    return None


def _boundaries(rota: Rota, after: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """Every instant within the horizon at which who is on duty may change, in order, day by day."""
    first = after.astimezone(zone).date() - timedelta(days=1)
    pending: list[datetime] = []
    for offset in range(HORIZON.days + 3):  # flushed past the horizon by the last midnight
        day = first + timedelta(days=offset)
        midnight = _at(day, time(0), zone)
        # A day's boundaries are all at or after its midnight: those before it are complete.
        pending.sort()
        while pending and pending[0] < midnight:
            moment = pending.pop(0)
            if moment > after + HORIZON:
                return
            if moment > after:
                yield moment
        found = {midnight, *_transitions(day, zone)}  # overrides begin and end at midnight
        for shift in rota.shifts:
            if day.weekday() in {d.index for d in shift.days}:
                found.add(_at(day, shift.start, zone))
                ends_on = day if shift.end > shift.start else day + timedelta(days=1)
                found.add(_at(ends_on, shift.end, zone))
        pending += [moment for moment in found if moment not in pending]


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    # In UTC, so that instants compare and sort by elapsed time, not by wall clock.
    return datetime.combine(day, clock, tzinfo=zone).astimezone(_UTC)


def _transitions(day: date, zone: ZoneInfo) -> set[datetime]:
    """The instant the clocks change on `day`, if they do: a shift boundary inside the skipped hour
    takes effect then."""
    start, end = _at(day, time(0), zone), _at(day + timedelta(days=1), time(0), zone)
    if start.astimezone(zone).utcoffset() == end.astimezone(zone).utcoffset():
        return set()
    while end - start > timedelta(minutes=1):
        middle = start + (end - start) / 2
        if middle.astimezone(zone).utcoffset() == start.astimezone(zone).utcoffset():
            start = middle
        else:
            end = middle
    return {end.replace(second=0, microsecond=0)}


def _minutes(clock: time) -> int:
    return clock.hour * 60 + clock.minute


def _week_moment(minute: int) -> str:
    day, rest = divmod(minute % _WEEK_MINUTES, _DAY_MINUTES)
    return f"{list(Weekday)[day].value.capitalize()} {rest // 60:02d}:{rest % 60:02d}"
