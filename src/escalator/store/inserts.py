"""Inserting a row only if its key is new: the store's way of doing a thing once across workers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_if_new(session: Session, table: Table, **values: Any) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call inserted the row.

    On PostgreSQL a concurrent insert of the same key waits for the other transaction, then sees
    the conflict; SQLite's writers go one at a time.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    inserted = session.execute(dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key))
    return inserted.first() is not None
