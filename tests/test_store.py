"""The store: migrations describe the tables, and the outbox hands each message to one worker only."""

from __future__ import annotations

import threading
from datetime import timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import WEDNESDAY_MORNING, FakeClock
from sqlalchemy import select

from escalator.domain.messages import Message
from escalator.store.database import Store, Transaction, alembic_config
from escalator.store.tables import escalation_events, escalations, metadata, outbox, timers


def test_migrations_create_exactly_the_described_schema(store: Store):
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert store.schema_is_current()


def test_migrating_twice_changes_nothing(store: Store):
    store.migrate()
    assert store.schema_is_current()


def _digest(tx: Transaction, day: int) -> int:
    """A message that needs no escalation: each day's digest is a lane of its own."""
    payload = {"day": f"2026-11-{day:02d}"}
    return tx.outbox.add(Message.post_digest, WEDNESDAY_MORNING, None, payload, to="C0123SUP")


def test_a_taken_message_is_not_taken_again_until_its_lease_ends(store: Store):
    with store.transaction() as tx:
        message_id = _digest(tx, 1)
    lease = timedelta(seconds=60)
    with store.transaction() as tx:
        first = tx.outbox.take(message_id, WEDNESDAY_MORNING, lease)
    assert first is not None and not first.doubt
    with store.transaction() as tx:
        assert tx.outbox.take(message_id, WEDNESDAY_MORNING + timedelta(seconds=59), lease) is None
    with store.transaction() as tx:
        again = tx.outbox.take(message_id, WEDNESDAY_MORNING + timedelta(seconds=61), lease)
    # The first try never said how it ended (its process died, say): it may have reached Slack.
    assert again is not None and again.attempts == 2 and again.doubt


def test_parallel_takes_give_each_message_to_exactly_one_worker(database_url: str):
    """Eight workers, each with its own connection pool, race for the same 40 messages."""
    Store(database_url).migrate()
    seed = Store(database_url)
    with seed.transaction() as tx:
        ids = [_digest(tx, day) for day in range(1, 41)]
    seed.dispose()
    clock = FakeClock()
    won: list[list[int]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def worker(slot: int) -> None:
        store = Store(database_url)
        barrier.wait()
        for message_id in ids:
            with store.transaction() as tx:
                if tx.outbox.take(message_id, clock.now(), timedelta(seconds=60)):
                    won[slot].append(message_id)
        store.dispose()

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = sorted(i for slot in won for i in slot)
    assert claimed == sorted(ids)


def test_a_request_key_is_handled_once(store: Store):
    with store.transaction() as tx:
        assert tx.handled.first_time("event:Ev1", WEDNESDAY_MORNING)
    with store.transaction() as tx:
        assert not tx.handled.first_time("event:Ev1", WEDNESDAY_MORNING)
        assert tx.handled.first_time("event:Ev2", WEDNESDAY_MORNING)


def test_upgrading_a_database_that_holds_cases_keeps_them(database_url: str):
    """Each migration runs on a store in use: rows in every table pointing at a case (on SQLite, with
    its foreign keys enforced), not only on an empty one."""
    store = Store(database_url)
    raised = WEDNESDAY_MORNING
    with store.engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    with store.engine.begin() as connection:
        connection.execute(
            escalations.insert(),
            {
                "id": 1,
                "raised_at": raised,
                "agent_user_id": "U0AGENT",
                "origin": "command",
                "idempotency_key": "upgrade:1",
                "customer_name": "Jane Doe",
                "account_number": "12345",
                "summary": "Double charge",
                "steps_taken": "Checked",
                "desired_outcome": "Reversal",
                "customer_tone": "Calm",
                "customer_consent": True,
                "path_key": "billing",
                "escalation_type": "functional",
                "priority": "P2",
                "trigger_words": [],
                "approval": "not_needed",
                "state": "open",
                "routed_channel_id": "C0123BILL",
                "after_hours": False,
                "acknowledge_by": raised + timedelta(minutes=15),
                "first_update_by": raised + timedelta(hours=2),
                "resolve_by": raised + timedelta(days=1),
            },
        )
        connection.execute(
            timers.insert(),
            {
                "escalation_id": 1,
                "kind": "acknowledge_breach",
                "due_at": raised,
                "status": "pending",
                "payload": {},
                "attempts": 0,
            },
        )
        connection.execute(
            escalation_events.insert(),
            {
                "escalation_id": 1,
                "at": raised,
                "actor_user_id": "U0AGENT",
                "action": "raise",
                "to_state": "open",
            },
        )
        waiting = {
            "escalation_id": 1,
            "payload": {},
            "status": "pending",
            "created_at": raised,
            "due_at": raised,
        }
        connection.execute(outbox.insert(), {**waiting, "kind": "post_card", "attempts": 0})
        # Tried twice already by the version before, which knew no doubt: it may have reached Slack.
        connection.execute(outbox.insert(), {**waiting, "kind": "alert_supervisors", "attempts": 2})

    store.migrate()

    assert store.schema_is_current()
    with store.reading() as tx:
        case = tx.escalations.get(1)
        assert case is not None and case.customer_name == "Jane Doe" and case.incident_id is None
        assert [e.action for e in tx.history.of(1)] == ["raise"]
        # The card still waiting is ready to go, in the case's lane, paced by its channel; the
        # supervisors' copy (now part of posting the card) waits behind it, and will look first.
        assert tx.outbox.ready(raised, 10, 3) == [(1, "post:C0123BILL")]
        rows = tx.session.execute(select(outbox.c.kind, outbox.c.lane, outbox.c.doubt).order_by(outbox.c.id))
        assert [tuple(row) for row in rows] == [("post_card", "case:1", False), ("post_card", "case:1", True)]
    store.dispose()
