"""The weekly report: the week's topics against the week before, and per agent what training could
target; sent once a week across all workers (a missed one is sent once when the app is back)."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from escalator.clock import Clock
from escalator.domain.escalation import Escalation, State
from escalator.domain.feedback import (
    AgentWeek,
    TopicTrend,
    arrived_without_steps,
    trends,
    week_bounds,
    week_of,
)
from escalator.domain.messages import Message
from escalator.policy import Policy
from escalator.store.database import Store, Transaction

_RESOLVED = (State.resolved, State.closed)
# Who reads what: the supervisors get every figure, the product team the topics only.
EVERYONE, PRODUCT = "channel", "product"


@dataclass(frozen=True)
class WeeklyReport:
    week: date  # the Monday it starts
    raised: int
    raised_last_week: int
    topics: list[TopicTrend]
    by_path: dict[str, list[TopicTrend]]  # path key → its topics, for paths with any
    agents: list[AgentWeek]  # most escalations first

    @property
    def week_end(self) -> date:
        """The Sunday it ends."""
        return self.week + timedelta(days=6)


def last_full_week(now: datetime, policy: Policy, weeks_ago: int = 0) -> date:
    """The Monday of the last week that has ended (or one `weeks_ago` before it)."""
    return week_of(now, policy.zone) - timedelta(weeks=1 + weeks_ago)


class WeeklyReports:
    def __init__(self, store: Store, policy: Policy, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock

    def due_week(self, now: datetime, first_run: bool = False) -> date | None:
        """The week whose report has come due: the last full week, once this week's sending day and
        time have passed; before that, the one before it, which a worker that was down catches up
        (a brand-new install waits for the first sending time instead)."""
        report = self._policy.weekly_report
        if report is None:
            return None
        local = now.astimezone(self._policy.zone)
        this_monday = week_of(now, self._policy.zone)
        sending = datetime.combine(this_monday + timedelta(days=report.day.index), report.at, local.tzinfo)
        if local >= sending:
            return this_monday - timedelta(weeks=1)
        return None if first_run else this_monday - timedelta(weeks=2)

    def start_if_due(self) -> list[int]:
        """Once per week across all workers: leave the report for delivery."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            week = self.due_week(now, first_run=not tx.insight.any_weekly_report())
            if week is None or not tx.insight.start_weekly_report(week, now):
                return []
            return self._queue(tx, week, now)

    def queue(self, week: date) -> list[int]:
        """A report asked for by hand (`escalator report --week --post`), sent as the scheduled one is;
        the scheduler will not send that week's again."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            tx.insight.start_weekly_report(week, now)
            return self._queue(tx, week, now)

    def _queue(self, tx: Transaction, week: date, now: datetime) -> list[int]:
        """The topics to the report's channel, every figure to each supervisor privately, the topics to
        the product team: each a message, then its CSV in the message's thread."""
        audiences = [(EVERYONE, self._policy.weekly_report_channel)]
        audiences += [(user, user) for user in self._policy.supervisors.users]
        if self._policy.weekly_report and self._policy.weekly_report.product_channel:
            audiences.append((PRODUCT, self._policy.weekly_report.product_channel))
        ids = []
        for audience, to in audiences:
            payload = {"week": week.isoformat(), "audience": audience}
            ids.append(tx.outbox.add(Message.post_weekly_report, now, None, payload, to=to))
            ids.append(tx.outbox.add(Message.weekly_report_csv, now, None, dict(payload)))
        return ids

    def build(self, week: date) -> WeeklyReport:
        zone = self._policy.zone
        start, end = week_bounds(week, zone)
        last_start, _ = week_bounds(week - timedelta(weeks=1), zone)
        with self._store.reading() as tx:
            raised = tx.insight.raised_between(start, end)
            before = tx.insight.raised_between(last_start, start)
        this_week, last_week = _topic_counts(raised), _topic_counts(before)
        by_path: dict[str, list[TopicTrend]] = {}
        for key in self._policy.paths:
            rows = trends(
                _topic_counts([e for e in raised if e.path_key == key]),
                _topic_counts([e for e in before if e.path_key == key]),
            )
            if rows:
                by_path[key] = rows
        return WeeklyReport(
            week=week,
            raised=len(raised),
            raised_last_week=len(before),
            topics=trends(this_week, last_week),
            by_path=by_path,
            agents=_agents(raised),
        )


def _topic_counts(escalations: list[Escalation]) -> Counter[str]:
    """Each topic once per case that mentioned it (a case from before topics were kept: its triggers)."""
    return Counter(word for e in escalations for word in set(e.topics or e.trigger_words))


def _agents(raised: list[Escalation]) -> list[AgentWeek]:
    cases: dict[str, list[Escalation]] = defaultdict(list)
    for e in raised:
        cases[e.agent_user_id].append(e)
    rows = [
        AgentWeek(
            agent_user_id=agent,
            raised=len(theirs),
            resolved_by_first_specialist=sum(
                1
                for e in theirs
                if e.state in _RESOLVED and e.handoffs == 0  # never reassigned or moved
            ),
            # Erased notes (privacy.retain_for) say nothing either way.
            without_steps=sum(
                1
                for e in theirs
                if e.personal_data_removed_at is None and arrived_without_steps(e.steps_taken)
            ),
        )
        for agent, theirs in cases.items()
    ]
    return sorted(rows, key=lambda row: (-row.raised, row.agent_user_id))


CSV_COLUMNS = [
    "week",
    "kind",
    "path",
    "topic",
    "escalations",
    "last_week",
    "change",
    "agent",
    "raised",
    "resolved_by_first_specialist",
    "without_steps_taken",
]


def report_csv(report: WeeklyReport, with_agents: bool) -> bytes:
    """One row per topic (all paths, then per path), then — for the supervisors — one per agent."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    week = report.week.isoformat()
    sections = [("", report.topics), *report.by_path.items()]
    for path, rows in sections:
        for row in rows:
            writer.writerow(
                {
                    "week": week,
                    "kind": "topic",
                    "path": path,
                    "topic": row.word,
                    "escalations": row.this_week,
                    "last_week": row.last_week,
                    "change": row.this_week - row.last_week,
                }
            )
    for agent in report.agents if with_agents else []:
        writer.writerow(
            {
                "week": week,
                "kind": "agent",
                "agent": agent.agent_user_id,
                "raised": agent.raised,
                "resolved_by_first_specialist": agent.resolved_by_first_specialist,
                "without_steps_taken": agent.without_steps,
            }
        )
    return out.getvalue().encode("utf-8")
