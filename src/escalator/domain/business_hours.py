"""Business hours: whether a moment falls inside them, and adding time that counts only inside them."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from escalator.policy import BusinessHours

# Enough for any duration the policy can express to find its end (ten years of working days).
_MAX_DAYS = 3660


def is_business_time(moment: datetime, hours: BusinessHours | None, zone: ZoneInfo) -> bool:
    if hours is None:
        return True
    local = moment.astimezone(zone)
    open_days = {day.index for day in hours.days}
    return local.weekday() in open_days and hours.start <= local.time() < hours.end


def add_business_time(
    start: datetime, duration: timedelta, hours: BusinessHours | None, zone: ZoneInfo
) -> datetime:
    """The moment `duration` of business time after `start` (plain time when there are no business hours).

    Windows are measured in absolute time, so a day with a DST change counts its real length.
    """
    if hours is None:
        return start + duration
    open_days = {day.index for day in hours.days}
    remaining = duration
    local = start.astimezone(zone)
    day = local.date()
    for _ in range(_MAX_DAYS):
        if day.weekday() in open_days:
            opens = _at(day, hours.start, zone)
            closes = _at(day, hours.end, zone)
            begin = max(opens, start)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("business hours never open long enough for this duration")


def _at(day, clock: time, zone: ZoneInfo) -> datetime:
    # Compare in UTC: aware datetimes in one ZoneInfo subtract by wall clock, not elapsed time.
    return datetime.combine(day, clock, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def tomorrow_morning(now: datetime, hours: BusinessHours | None, zone: ZoneInfo) -> datetime:
    """When "tomorrow" starts for a reminder: the next working day's opening, or a day from now."""
    if hours is None:
        return now + timedelta(days=1)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    midnight = datetime.combine(tomorrow, time(0, 0), tzinfo=zone)
    return add_business_time(midnight, timedelta(0), hours, zone)
