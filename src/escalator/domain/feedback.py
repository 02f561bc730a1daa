"""The feedback loop (the guide's "metrics show training needs … product or policy gaps"): what a
week's escalations were about, how that moved against the week before, and what each agent's
escalations say about where training would help."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from escalator.domain.routing import mentions
from escalator.policy import Policy

# What an agent writes in the required "steps taken" field when they took none. Compared after
# lowercasing and dropping punctuation, so "N/A.", "none!" and "- " all count; an answer that is only
# punctuation counts too.
NON_ANSWERS = frozenset(
    {
        "",
        "none",
        "nothing",
        "nothing yet",
        "na",
        "n a",
        "no",
        "nope",
        "nil",
        "not yet",
        "no steps",
        "none yet",
        "tbd",
        "not applicable",
    }
)
_PUNCTUATION = re.compile(r"[^\w\s]|_")


def arrived_without_steps(steps_taken: str) -> bool:
    """Whether the handoff note's "steps taken" is a non-answer (see NON_ANSWERS)."""
    words = " ".join(_PUNCTUATION.sub(" ", steps_taken.lower()).split())
    return words in NON_ANSWERS


def topics_of(text: str, policy: Policy) -> list[str]:
    """The paths' keywords and the trigger words the text mentions, lowercased: what the case was about."""
    lowered = text.lower()
    words = [word for path in policy.paths.values() for word in path.keywords]
    triggers = policy.triggers
    words += [*triggers.hierarchical, *triggers.priority, *triggers.incident]
    return sorted({word.lower() for word in words if mentions(lowered, word)})


def week_of(moment: datetime, zone: ZoneInfo) -> date:
    """The Monday the week of `moment` (in `zone`) starts on."""
    local = moment.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


def week_bounds(monday: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[Monday 00:00, the next Monday 00:00) in `zone`, as UTC moments: a DST week is an hour shorter
    or longer (moments of one ZoneInfo subtract by the wall clock, so they are converted)."""
    start = datetime.combine(monday, time(0), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class TopicTrend:
    word: str
    this_week: int
    last_week: int

    @property
    def trend(self) -> str:
        """`▲ 3`, `▼ 2`, `new` or `=`."""
        if self.last_week == 0:
            return "new"
        change = self.this_week - self.last_week
        if change > 0:
            return f"▲ {change}"
        return f"▼ {-change}" if change < 0 else "="


def trends(this_week: Counter[str], last_week: Counter[str]) -> list[TopicTrend]:
    """This week's topics, most escalations first (then the biggest rise, then alphabetically), beside
    last week's count. A topic of last week that did not come up this week is left out."""
    rows = [TopicTrend(word, count, last_week.get(word, 0)) for word, count in this_week.items() if count]
    return sorted(rows, key=lambda row: (-row.this_week, row.last_week - row.this_week, row.word))


@dataclass(frozen=True)
class AgentWeek:
    """One agent's week: escalations raised, how many of them the first specialist resolved (nobody
    handed them on), and how many arrived without steps taken."""

    agent_user_id: str
    raised: int
    resolved_by_first_specialist: int
    without_steps: int
