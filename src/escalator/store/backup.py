"""Backing up the embedded SQLite database while the app keeps running (SQLite's online backup)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from escalator.errors import ConfigurationError

_PAGES_PER_STEP = 1024  # copied between short pauses, so the app's writers are never held up for long


def sqlite_file(database_url: str) -> Path:
    """The file of a SQLite DATABASE_URL, or ConfigurationError saying what to use instead."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ConfigurationError(
            "`escalator backup` copies the embedded SQLite database; back up PostgreSQL with pg_dump "
            "(or your provider's snapshots)"
        )
    if not url.database or url.database == ":memory:":
        raise ConfigurationError("DATABASE_URL names no SQLite file to back up")
    path = Path(url.database)
    if not path.is_file():
        raise ConfigurationError(f"there is no database file at {path}: check DATABASE_URL")
    return path


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy `source` to `target` consistently (a snapshot, WAL included), as one self-contained file.

    Writes beside `target` first and renames, so `target` is never a half-written copy. Returns the
    number of pages copied.
    """
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    reading = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    writing = sqlite3.connect(partial)
    try:
        reading.backup(writing, pages=_PAGES_PER_STEP, sleep=0.01)
        writing.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        (verdict,) = writing.execute("PRAGMA integrity_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"the copy failed its integrity check: {verdict}")
        (pages,) = writing.execute("PRAGMA page_count").fetchone()
    finally:
        writing.close()
        reading.close()
    os.replace(partial, target)
    return int(pages)
