"""Connecting to the database, one transaction per unit of work, and schema migrations."""

from __future__ import annotations

import io
import logging
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from escalator.domain.history import HistoryEntry
from escalator.store.gauges import GaugeQueries
from escalator.store.incidents import IncidentRepository
from escalator.store.insight import InsightQueries
from escalator.store.names import NameRepository
from escalator.store.processes import DeliveryProcessRepository
from escalator.store.rates import RateLimitRepository
from escalator.store.repositories import (
    EscalationRepository,
    HandledRequests,
    HistoryRepository,
    MuteRepository,
    OutboxRepository,
    TimerRepository,
)
from escalator.store.wakeup import OutboxBell

log = logging.getLogger(__name__)
changes = logging.getLogger("escalator.changes")

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: PostgreSQL advisory lock that lets one process at a time run migrations.
_MIGRATION_LOCK = 7_311_042


@dataclass(frozen=True)
class Waits:
    """How long one unit of work may wait before it gives up with DatabaseBusy or a database error.

    `lock`: for another writer's lock (SQLite's write lock, PostgreSQL's row, table and advisory
    locks); `statement`: for one statement (PostgreSQL only; None: no bound); `pool`: for a free
    connection of this process's pool."""

    lock: float
    statement: float | None
    pool: float


# Web workers: what runs before Slack's answer must give up in time for the answer to say so.
ACK_WAITS = Waits(lock=1.0, statement=1.5, pool=0.5)
# The delivery process, the commands, migrations: nobody's 3 seconds are waiting.
BACKGROUND_WAITS = Waits(lock=15.0, statement=None, pool=5.0)


class DatabaseBusy(SQLAlchemyError):
    """Another unit of work held the lock for longer than this one may wait."""


class Transaction:
    """One unit of work: its repositories share one session, committed together or not at all."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.escalations = EscalationRepository(session)
        self.history = HistoryRepository(session)
        self.outbox = OutboxRepository(session)
        self.handled = HandledRequests(session)
        self.timers = TimerRepository(session)
        self.mutes = MuteRepository(session)
        self.insight = InsightQueries(session)
        self.gauges = GaugeQueries(session)
        self.incidents = IncidentRepository(session)
        self.rates = RateLimitRepository(session)
        self.processes = DeliveryProcessRepository(session)
        self.names = NameRepository(session)


class Store:
    def __init__(self, url: str, *, pool_size: int = 5, waits: Waits = BACKGROUND_WAITS) -> None:
        self.url = url
        self.waits = waits
        self.engine = _create_engine(url, pool_size, waits)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Threads of one process queue here, and each is let in the
        # moment the last one commits, rather than in SQLite's busy handler, which sleeps in steps of
        # up to 100 ms; only other processes' writers meet that handler.
        self._writer = _WriterQueue(waits.lock) if url.startswith("sqlite") else None
        self._read_sessions = sessionmaker(
            self.engine.execution_options(escalator_read_only=True), expire_on_commit=False
        )
        self._bell = OutboxBell(url)
        self._side: Engine | None = None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._writer_turn(), self._sessions() as session:
            with session.begin():
                tx = Transaction(session)
                yield tx
                if tx.outbox.added:
                    self._bell.before_commit(session)
            _log_changes(tx.history.added)
        if tx.outbox.added:
            self._bell.after_commit()

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        if self._writer is None:
            yield
            return
        with self._writer.turn():
            yield

    @contextmanager
    def side_write(self) -> Iterator[Transaction]:
        """Writes that must never keep anyone waiting (counting a call towards Slack's limits from a
        listener): statements commit one by one, and give up within a fraction of a second if the
        database is busy or away."""
        if self._side is None:
            self._side = _create_side_engine(self.url)
        with Session(self._side) as session:
            yield Transaction(session)

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        """A transaction that only reads. On SQLite it does not queue for the one write lock."""
        with self._read_sessions() as session, session.begin():
            yield Transaction(session)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration."""
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Another process migrating, or a long-running reader in the way: wait it out.
                connection.execute(text("SET LOCAL lock_timeout = 0"))
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def upgrade_sql(self) -> tuple[str | None, str]:
        """The SQL that would bring this database's schema up to date, for review; changes nothing.

        Returns the revision it starts from (None: an empty or unreachable database) and the SQL.
        PostgreSQL's is Alembic's offline rendering. SQLite alters tables by copying them, which Alembic
        can only plan against the real tables: so the upgrade runs on a scratch copy of the database and
        the statements it executes are what is printed.
        """
        heads: tuple[str, ...] = ()
        if _existing(self.url):  # connecting would create an empty SQLite file
            try:
                with self.engine.connect() as connection:
                    heads = tuple(MigrationContext.configure(connection).get_current_heads())
            except SQLAlchemyError:
                pass
        current = heads[0] if heads else None
        if self.url.startswith("sqlite"):
            return current, _sqlite_upgrade_sql(self.url)
        buffer = io.StringIO()
        config = alembic_config(buffer)
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        command.upgrade(config, f"{current}:head" if current else "head", sql=True)
        return current, buffer.getvalue()

    def schema_is_current(self) -> bool:
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
        return set(current) == set(ScriptDirectory.from_config(alembic_config()).get_heads())

    def dispose(self) -> None:
        self.engine.dispose()
        if self._side is not None:
            self._side.dispose()


def _log_changes(entries: list[HistoryEntry]) -> None:
    """One line per committed state change: ids, states and who; never the note, which people typed."""
    for entry in entries:
        changes.info(
            "escalation %s",
            entry.action,
            extra={
                "escalation_id": entry.escalation_id,
                "action": entry.action,
                "from_state": entry.from_state,
                "to_state": entry.to_state,
                "actor": entry.actor_user_id,
                **({"target": entry.target} if entry.target else {}),
            },
        )


def _existing(url: str) -> bool:
    """False for a SQLite file that is not there yet; any other database is assumed to exist."""
    if not url.startswith("sqlite"):
        return True
    database = make_url(url).database
    return bool(database) and database != ":memory:" and Path(database).is_file()


def _sqlite_upgrade_sql(url: str) -> str:
    source = make_url(url).database
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "copy.db"
        if source and _existing(url):
            with (
                sqlite3.connect(f"file:{source}?mode=ro", uri=True) as reading,
                sqlite3.connect(copy) as writing,
            ):
                reading.backup(writing)
        engine = create_engine(f"sqlite:///{copy}")
        statements: list[str] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
            text = statement.strip()
            if text.upper().startswith(("PRAGMA", "SELECT")):
                return  # Alembic reading the tables, not changing them
            statements.append(f"{text};" + (f"  -- parameters: {parameters}" if parameters else ""))

        try:
            with engine.begin() as connection:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            engine.dispose()
    return "".join(f"{statement}\n\n" for statement in statements)


def alembic_config(output: TextIO | None = None) -> Config:
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


# A database error's message would otherwise quote the statement's values (a customer's name, say), and
# it reaches the logs with the traceback.
_HIDE_PARAMETERS = True


class _WriterQueue:
    """This process's SQLite writers, one at a time, each waiting at most `wait` seconds for its turn."""

    def __init__(self, wait: float) -> None:
        self._lock = threading.RLock()
        self._wait = wait

    @contextmanager
    def turn(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=self._wait):
            raise DatabaseBusy(f"no turn to write within {self._wait:g} s")
        try:
            yield
        finally:
            self._lock.release()


def _create_engine(url: str, pool_size: int, waits: Waits) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": waits.lock, "check_same_thread": False},
            hide_parameters=_HIDE_PARAMETERS,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
            # In WAL mode, NORMAL syncs the log at checkpoints rather than at every commit: a commit
            # survives the process being killed, and only a power cut or an OS crash can take the
            # last ones back. FULL would add an fsync to every form stored before its ack.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(waits.lock * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection) -> None:  # type: ignore[no-untyped-def]
            # A writer takes the write lock at the start, so two processes never deadlock upgrading
            # read locks; a reader (WAL) reads its snapshot beside the writer.
            if connection.get_execution_options().get("escalator_read_only"):
                connection.exec_driver_sql("BEGIN")
            else:
                _begin_immediate(connection.connection.dbapi_connection, waits.lock)

        return engine
    # A database that is away or locked must fail fast: a form is stored before Slack's 3-second ack,
    # and the person should read "try again in a moment", not watch a spinner time out.
    bounds = [f"-c lock_timeout={int(waits.lock * 1000)}"]
    if waits.statement is not None:
        bounds.append(f"-c statement_timeout={int(waits.statement * 1000)}")
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,  # a connection cut by a database restart is replaced, not handed out
        pool_timeout=waits.pool,
        connect_args={"connect_timeout": 2, "options": _with_options(url, " ".join(bounds))},
        hide_parameters=_HIDE_PARAMETERS,
    )


def _with_options(url: str, ours: str) -> str:
    """PostgreSQL's `options` for a connection: the URL's own (a search_path, say), then ours."""
    given = make_url(url).query.get("options", "")
    return " ".join([*(given if isinstance(given, tuple) else [given]), ours]).strip()


def _create_side_engine(url: str) -> Engine:
    """Autocommit, with waits bounded well under a second: SQLite's busy wait, PostgreSQL's lock and
    statement timeouts. On SQLite in WAL mode, NORMAL syncs at checkpoints, not at each commit: losing
    the last few counts after a power cut costs nothing, and checkpoints stay as safe as the others'."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            connect_args={"timeout": 0.1, "check_same_thread": False},
            hide_parameters=_HIDE_PARAMETERS,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    options = _with_options(url, _SIDE_TIMEOUTS)
    return create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=1,
        max_overflow=4,
        pool_pre_ping=True,
        pool_timeout=0.5,
        connect_args={"connect_timeout": 2, "options": options},
        hide_parameters=_HIDE_PARAMETERS,
    )


_SIDE_TIMEOUTS = "-c lock_timeout=250 -c statement_timeout=1000"


_MAX_PAUSE = 0.002


def _begin_immediate(dbapi_connection: sqlite3.Connection, wait: float) -> None:
    """BEGIN IMMEDIATE, retried every millisecond or two while another process holds the write lock.

    SQLite's own busy handler sleeps in growing steps of up to 100 ms, which a form waiting to be
    stored before Slack's 3-second deadline would feel; writers hold the lock for a few ms only.
    """
    deadline = time.monotonic() + wait
    pause = 0.0002
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise DatabaseBusy(f"another process held the write lock for over {wait:g} s") from exc
            time.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
