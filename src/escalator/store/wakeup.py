"""Waking the delivery process when a message is queued, without ever waiting for it.

The delivery process polls the outbox every tick, so a lost wake-up costs a tick, never a message. On
top of that, a commit that queued messages rings a bell:
- PostgreSQL: `NOTIFY escalator_outbox` in the same transaction, heard by every delivery process on
  every machine that LISTENs (the notification is sent at commit, and only if it commits);
- SQLite (one machine): a datagram to a socket the delivery process binds, named after the database
  file. Sending it never blocks: with nobody listening, or the socket's buffer full (a stuck
  listener), the datagram is dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import selectors
import socket
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "escalator_outbox"
_RECONNECT_EVERY = 5.0  # seconds between attempts to LISTEN again while the database is away


def _bell_address(database_url: str) -> str | None:
    """The datagram socket of a SQLite database's delivery process: abstract on Linux (no file to
    leave behind), a file in the temporary folder elsewhere. None for an in-memory database."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return None
    digest = hashlib.sha1(str(Path(database).resolve()).encode()).hexdigest()[:16]
    if sys.platform.startswith("linux"):
        return f"\0escalator-outbox-{digest}"
    return str(Path(tempfile.gettempdir()) / f"escalator-outbox-{digest}.sock")


class OutboxBell:
    """The sending side, used by every process that queues messages."""

    def __init__(self, database_url: str) -> None:
        self._postgres = not database_url.startswith("sqlite")
        self._address = None if self._postgres else _bell_address(database_url)
        self._socket: socket.socket | None = None

    def before_commit(self, session: Session) -> None:
        if self._postgres:
            session.execute(text(f"NOTIFY {CHANNEL}"))

    def after_commit(self) -> None:
        if self._address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(b"!", self._address)
        except OSError:
            pass  # nobody listening, or not keeping up: the next tick finds the message anyway


class OutboxListener:
    """The delivery process's side: wait until a bell rings, something of ours asks (`nudge`), or the
    timeout passes."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._postgres = not database_url.startswith("sqlite")
        self._selector = selectors.DefaultSelector()
        self._nudge_read, self._nudge_write = socket.socketpair()
        for end in (self._nudge_read, self._nudge_write):
            end.setblocking(False)
        self._selector.register(self._nudge_read, selectors.EVENT_READ)
        self._bell: socket.socket | None = None
        self._listening: psycopg.Connection | None = None
        self._listening_fd: int | None = None
        self._next_connect = 0.0
        if not self._postgres:
            self._bind()

    def nudge(self) -> None:
        """Wake the waiting loop (from any thread, or a signal handler); never blocks."""
        with contextlib.suppress(OSError):
            self._nudge_write.send(b"!")

    def wait(self, timeout: float) -> None:
        if self._postgres:
            self._listen()
        for key, _ in self._selector.select(max(timeout, 0.0)):
            self._drain(key.fileobj)
        if self._postgres and self._listening is None:
            self._listen()  # lost just now: listening again at once narrows what goes unheard

    def close(self) -> None:
        self._forget_listening()
        self._selector.close()
        for end in (self._nudge_read, self._nudge_write, self._bell):
            if end is not None:
                end.close()
        address = _bell_address(self._database_url) if not self._postgres else None
        if address and not address.startswith("\0"):
            with contextlib.suppress(OSError):
                os.unlink(address)

    def _bind(self) -> None:
        address = _bell_address(self._database_url)
        if address is None:
            return
        bell = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if not address.startswith("\0"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(address)
            bell.bind(address)
        except OSError as exc:
            # Another delivery process on this machine hears the bell; this one polls every tick.
            log.info("another delivery process listens for new messages (%s); polling", exc.strerror)
            bell.close()
            return
        bell.setblocking(False)
        self._bell = bell
        self._selector.register(bell, selectors.EVENT_READ)

    def _listen(self) -> None:
        if self._listening is not None and not self._listening.closed:
            return
        if time.monotonic() < self._next_connect:
            return  # the last attempt failed: the database is away, and the loop polls meanwhile
        self._forget_listening()
        url = make_url(self._database_url).set(drivername="postgresql")
        try:
            connection = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True, connect_timeout=2
            )
            connection.execute(f"LISTEN {CHANNEL}")
            fd = connection.fileno()
        except psycopg.Error as exc:
            log.warning("could not LISTEN for new messages (%s); polling", type(exc).__name__)
            self._next_connect = time.monotonic() + _RECONNECT_EVERY
            return
        self._listening, self._listening_fd = connection, fd
        self._selector.register(fd, selectors.EVENT_READ)  # by its number: a lost connection has none

    def _forget_listening(self) -> None:
        if self._listening_fd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._listening_fd)
        if self._listening is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                self._listening.close()
        self._listening, self._listening_fd = None, None

    def _drain(self, source: object) -> None:
        if source == self._listening_fd and self._listening is not None:
            try:
                for _ in self._listening.notifies(timeout=0):
                    pass
            except (psycopg.Error, OSError):
                log.warning("the connection that listens for new messages was lost; polling")
                self._forget_listening()
            return
        if isinstance(source, socket.socket):
            with contextlib.suppress(OSError):
                while source.recv(64):
                    pass
