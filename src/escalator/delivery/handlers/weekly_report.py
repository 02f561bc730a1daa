"""The weekly report, to each audience, and its CSV in the report's thread."""

from __future__ import annotations

from datetime import date

from escalator.delivery.handlers.base import Delivering, Handler
from escalator.delivery.poster import Sent
from escalator.domain.messages import Message
from escalator.services.weekly_report import EVERYONE, PRODUCT, WeeklyReports, report_csv
from escalator.slack.rendering.weekly_report import render_weekly_report
from escalator.store.repositories import OutboxMessage


def handlers(delivering: Delivering) -> dict[Message, Handler]:
    report = WeeklyReportMessages(delivering)
    return {
        Message.post_weekly_report: Handler(report.post),
        Message.weekly_report_csv: Handler(report.csv),
    }


class WeeklyReportMessages:
    def __init__(self, delivering: Delivering) -> None:
        self._d = delivering
        self._reports = WeeklyReports(delivering.store, delivering.policy, delivering.clock)

    def _where(self, audience: str) -> tuple[str, bool]:
        """The channel or person it goes to, and whether they see the per-agent figures."""
        policy = self._d.policy
        if audience == EVERYONE:
            return policy.weekly_report_channel, False
        if audience == PRODUCT:
            report = policy.weekly_report
            if report is None or report.product_channel is None:
                raise LookupError("the policy no longer names weekly_report.product_channel")
            return report.product_channel, False
        return audience, True  # a supervisor, privately

    def post(self, message: OutboxMessage) -> Sent | None:
        """Built when delivered, from the store then."""
        to, private = self._where(str(message.payload["audience"]))
        built = self._reports.build(date.fromisoformat(str(message.payload["week"])))
        content = render_weekly_report(built, self._d.policy, with_agents=private).as_params()
        return self._d.poster.post(message, to, content)

    def csv(self, message: OutboxMessage) -> Sent | None:
        """In the thread of the report posted just before it in its lane (none if that never arrived)."""
        with self._d.store.reading() as tx:
            report = tx.outbox.delivered_post(message.lane, Message.post_weekly_report)
        if report is None:
            return None
        _, private = self._where(str(message.payload["audience"]))
        week = date.fromisoformat(str(message.payload["week"]))
        channel, thread = report
        title = f"Escalations, the week of {week:%d %B %Y}" + (" (per agent)" if private else "")
        if message.doubt and self._d.files_in_thread(channel, thread, title):
            return None  # an earlier try uploaded it (its answer lost): once is enough
        self._d.gateway.upload_file(
            channel,
            filename=f"escalations-week-{week.isoformat()}.csv",
            content=report_csv(self._reports.build(week), with_agents=private),
            title=title,
            thread_ts=thread,
        )
        return None
