"""Delivery processes saying they are alive, so a deployment that runs none is noticed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from escalator.store.inserts import insert_if_new
from escalator.store.tables import delivery_processes


@dataclass(frozen=True)
class DeliveryProcessSeen:
    name: str  # host:pid
    started_at: datetime
    seen_at: datetime


class DeliveryProcessRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def alive(self, name: str, started_at: datetime, now: datetime) -> None:
        seen = self._session.execute(
            update(delivery_processes).where(delivery_processes.c.name == name).values(seen_at=now)
        )
        if seen.rowcount == 0:
            insert_if_new(self._session, delivery_processes, name=name, started_at=started_at, seen_at=now)

    def stopped(self, name: str) -> None:
        self._session.execute(delete(delivery_processes).where(delivery_processes.c.name == name))

    def forget_before(self, cutoff: datetime) -> None:
        """Processes gone for good (killed, their machine replaced) leave their row: forget old ones."""
        self._session.execute(delete(delivery_processes).where(delivery_processes.c.seen_at < cutoff))

    def seen(self) -> list[DeliveryProcessSeen]:
        rows = self._session.execute(select(delivery_processes).order_by(delivery_processes.c.seen_at.desc()))
        return [DeliveryProcessSeen(row.name, row.started_at, row.seen_at) for row in rows]
