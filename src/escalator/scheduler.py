"""Durable timers: what comes due with time — SLA nudges and breaches, reminders, the day's digest, the
weekly report, the nightly purge. The delivery process runs it every tick (escalator.delivery.process).

Timers live in the database, so one due while the app was down fires once when it is back; row locks
make each fire once however many delivery processes tick. What they have to say goes into the outbox,
whose commit wakes the delivery engine.
"""

from __future__ import annotations

from escalator.services.digest import Digests
from escalator.services.privacy import RetentionPurge
from escalator.services.reminders import Reminders
from escalator.services.weekly_report import WeeklyReports


class Scheduler:
    def __init__(
        self, reminders: Reminders, digests: Digests, reports: WeeklyReports, retention: RetentionPurge
    ) -> None:
        self._reminders = reminders
        self._digests = digests
        self._reports = reports
        self._retention = retention

    def run_due(self) -> list[int]:
        """Fire what is due; returns the outbox messages it queued."""
        return [
            *self._reminders.fire_due(),
            *self._digests.start_if_due(),
            *self._reports.start_if_due(),
            *self._retention.purge_if_due(),
        ]
