"""A commit that queues a message wakes the delivery process at once, and a lost wake-up path costs a
tick, never the loop: NOTIFY on PostgreSQL (whose listening connection may be cut), a datagram on
SQLite."""

from __future__ import annotations

import time

from conftest import WEDNESDAY_MORNING
from sqlalchemy import create_engine, text

from escalator.domain.messages import Message
from escalator.store.database import Store
from escalator.store.wakeup import OutboxListener


def _queue_one(store: Store) -> None:
    with store.transaction() as tx:
        tx.outbox.add(Message.post_digest, WEDNESDAY_MORNING, None, {"day": "2026-11-24"}, to="C0123SUP")


def _woken(listener: OutboxListener, store: Store) -> float:
    """How long the listener waited (of up to 5 s) for a commit in another connection to wake it."""
    listener.wait(0)  # connected, and nothing pending
    _queue_one(store)
    started = time.monotonic()
    listener.wait(5)
    return time.monotonic() - started


def test_a_commit_that_queues_a_message_wakes_the_listener(store: Store):
    listener = OutboxListener(store.url)
    try:
        assert _woken(listener, store) < 1
        started = time.monotonic()
        listener.wait(0.3)  # nothing more: it waits the timeout out
        assert time.monotonic() - started >= 0.25
    finally:
        listener.close()


def test_a_commit_queueing_nothing_rings_no_bell(store: Store):
    listener = OutboxListener(store.url)
    try:
        listener.wait(0)
        with store.transaction() as tx:
            tx.handled.first_time("event:Ev1", WEDNESDAY_MORNING)
        started = time.monotonic()
        listener.wait(0.3)
        assert time.monotonic() - started >= 0.25
    finally:
        listener.close()


def test_a_cut_listening_connection_is_replaced_and_the_wait_never_fails(postgres_url: str):
    store = Store(postgres_url)
    store.migrate()
    listener = OutboxListener(postgres_url)
    admin = create_engine(postgres_url)
    try:
        listener.wait(0)
        with admin.begin() as connection:  # as a database restart or a proxy would
            cut = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query = 'LISTEN escalator_outbox' AND pid <> pg_backend_pid()"
                )
            ).all()
        assert cut
        listener.wait(0.5)  # hears the connection go: no exception, the loop goes on
        assert _woken(listener, store) < 1  # listening again
    finally:
        listener.close()
        admin.dispose()
        store.dispose()
