"""The figures `/metrics` reads from the database at each scrape: a handful of counts, grouped in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escalator.domain.escalation import Escalation
from escalator.domain.incidents import Incident
from escalator.store.repositories import DEAD
from escalator.store.tables import delivery_processes, outbox, timers

BREACH_TARGETS = ("acknowledge", "first_update", "resolve")


@dataclass(frozen=True)
class Figures:
    outbox_waiting: int
    oldest_waiting: datetime | None  # when the oldest undelivered message was queued
    outbox_given_up: int
    delivery_processes: int  # heard from since `silent_before`
    timers_due: int
    timers_late: int
    escalations: dict[tuple[str, str], int]  # (state, path) → count
    breaches: dict[tuple[str, str], int]  # (target, priority) → count
    incidents: dict[str, int]  # state → count


class GaugeQueries:
    def __init__(self, session: Session) -> None:
        self._session = session

    def read(self, now: datetime, late_before: datetime, silent_before: datetime) -> Figures:
        waiting, oldest = self._session.execute(
            select(func.count(), func.min(outbox.c.created_at, type_=outbox.c.created_at.type)).where(
                outbox.c.status == "pending"
            )
        ).one()
        given_up = self._session.scalar(select(func.count()).where(outbox.c.status == DEAD))
        delivering = self._session.scalar(
            select(func.count()).where(delivery_processes.c.seen_at >= silent_before)
        )
        pending = timers.c.status == "pending"
        due = self._session.scalar(select(func.count()).where(pending, timers.c.due_at <= now))
        late = self._session.scalar(select(func.count()).where(pending, timers.c.due_at <= late_before))
        escalations = {
            (str(getattr(state, "value", state)), str(path)): int(count)
            for state, path, count in self._session.execute(
                select(Escalation.state, Escalation.path_key, func.count()).group_by(
                    Escalation.state, Escalation.path_key
                )
            )
        }
        breached = [getattr(Escalation, f"{target}_breached_at") for target in BREACH_TARGETS]
        breaches: dict[tuple[str, str], int] = {}
        for priority, *counts in self._session.execute(
            select(Escalation.priority, *(func.count(column) for column in breached)).group_by(
                Escalation.priority
            )
        ):
            for target, count in zip(BREACH_TARGETS, counts, strict=True):
                breaches[(target, str(getattr(priority, "value", priority)))] = int(count)
        incidents = {
            str(getattr(state, "value", state)): int(count)
            for state, count in self._session.execute(
                select(Incident.state, func.count()).group_by(Incident.state)
            )
        }
        return Figures(
            outbox_waiting=int(waiting),
            oldest_waiting=oldest,
            outbox_given_up=int(given_up or 0),
            delivery_processes=int(delivering or 0),
            timers_due=int(due or 0),
            timers_late=int(late or 0),
            escalations=escalations,
            breaches=breaches,
            incidents=incidents,
        )
