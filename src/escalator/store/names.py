"""The Slack IDs last found for the policy's names, kept so that a restart needs no Slack to start."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from escalator.store.inserts import insert_if_new
from escalator.store.tables import slack_names

NameKey = tuple[str, str]  # (kind, name): ("channel", "#billing")


class NameRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def remember(self, found: Mapping[NameKey, str], now: datetime) -> None:
        """Keep these IDs, replacing what was known for the same names."""
        if not found:
            return
        self._session.execute(
            delete(slack_names).where(tuple_(slack_names.c.kind, slack_names.c.name).in_(list(found)))
        )
        for (kind, name), slack_id in found.items():
            insert_if_new(
                self._session, slack_names, kind=kind, name=name, slack_id=slack_id, resolved_at=now
            )

    def known(self, wanted: list[NameKey]) -> dict[NameKey, str]:
        if not wanted:
            return {}
        rows = self._session.execute(
            select(slack_names).where(tuple_(slack_names.c.kind, slack_names.c.name).in_(wanted))
        )
        return {(row.kind, row.name): row.slack_id for row in rows}
