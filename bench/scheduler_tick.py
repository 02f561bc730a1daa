"""How long one scheduler tick takes over a large store, against a small one in the same run.

    python bench/scheduler_tick.py                      # 1,000,000 escalations, SQLite
    python bench/scheduler_tick.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

Each store holds closed escalations with their spent timers, a few hundred open ones with timers
still in the future, and `--due` escalations whose acknowledge nudge is due now. A tick fires those
(locking each case, writing its notice to the outbox) and finds nothing else to do; its cost should
follow the due work, not the number of escalations stored.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from escalator.clock import Clock
from escalator.policy import parse_policy
from escalator.services.reminders import Reminders
from escalator.store.database import Store
from escalator.store.tables import escalations, timers

POLICY = """
timezone: Europe/London
priorities:
  P2: {acknowledge: 15m, first_update: 2h, resolve: 1d}
paths:
  billing: {label: Billing, channel: C0123BILL, specialists: [U0ALEX]}
supervisors: {channel: C0123SUP}
authority: {agent: 50, supervisor: 500}
"""
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BATCH = 20_000


class FixedClock(Clock):
    def now(self) -> datetime:
        return NOW


def _escalation(n: int, state: str, raised: datetime) -> dict:
    return {
        "id": n,
        "raised_at": raised,
        "agent_user_id": "U0AGENT",
        "origin": "command",
        "idempotency_key": f"bench:{n}",
        "customer_name": f"Customer {n}",
        "account_number": str(n),
        "summary": "Card declined twice",
        "steps_taken": "Checked",
        "desired_outcome": "Fix it",
        "customer_tone": "Calm",
        "customer_consent": True,
        "path_key": "billing",
        "escalation_type": "functional",
        "priority": "P2",
        "trigger_words": [],
        "approval": "not_needed",
        "state": state,
        "routed_channel_id": "C0123BILL",
        "after_hours": False,
        "acknowledge_by": raised + timedelta(minutes=15),
        "first_update_by": raised + timedelta(hours=2),
        "resolve_by": raised + timedelta(days=1),
        "card_channel_id": "C0123BILL",
        "card_ts": f"{n}.000001",
    }


def fill(store: Store, stored: int, due: int) -> None:
    """`stored` closed escalations with fired timers, 500 open ones waiting, `due` open ones due now."""
    long_ago = NOW - timedelta(days=90)
    open_count = 500
    with store.engine.begin() as connection:
        for start in range(1, stored + 1, BATCH):
            ids = range(start, min(start + BATCH, stored + 1))
            connection.execute(insert(escalations), [_escalation(n, "closed", long_ago) for n in ids])
            connection.execute(
                insert(timers),
                [
                    {
                        "escalation_id": n,
                        "kind": kind,
                        "due_at": long_ago + timedelta(minutes=11 * (k + 1)),
                        "status": "fired",
                        "payload": {},
                        "attempts": 0,
                        "fired_at": long_ago,
                    }
                    for n in ids
                    for k, kind in enumerate(("acknowledge_nudge", "acknowledge_breach"))
                ],
            )
        waiting = range(stored + 1, stored + open_count + due + 1)
        connection.execute(insert(escalations), [_escalation(n, "open", NOW) for n in waiting])
        connection.execute(
            insert(timers),
            [
                {
                    "escalation_id": n,
                    "kind": "acknowledge_nudge",
                    "payload": {},
                    "attempts": 0,
                    "status": "pending",
                    "due_at": NOW - timedelta(seconds=1)
                    if n > stored + open_count
                    else NOW + timedelta(minutes=10),
                }
                for n in waiting
            ],
        )
        if connection.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))


def measure(url: str, stored: int, due: int, repeats: int) -> tuple[float, float]:
    """Median milliseconds of a tick that fires `due` timers, and of an idle tick right after it."""
    busy, idle = [], []
    policy = parse_policy(POLICY)
    for _ in range(repeats):
        store = Store(url)
        with store.engine.begin() as connection:
            connection.execute(
                timers.update()
                .where(timers.c.status == "fired", timers.c.due_at >= NOW - timedelta(seconds=1))
                .values(status="pending", fired_at=None)
            )
            connection.execute(text("DELETE FROM outbox"))
        reminders = Reminders(store, policy, FixedClock())
        started = time.perf_counter()
        fired = reminders.fire_due()
        busy.append((time.perf_counter() - started) * 1000)
        assert len(fired) == due, f"expected {due} notices, got {len(fired)}"
        started = time.perf_counter()
        assert reminders.fire_due() == []
        idle.append((time.perf_counter() - started) * 1000)
        store.dispose()
    return statistics.median(busy), statistics.median(idle)


def fresh_database(base_url: str | None, folder: Path, name: str) -> tuple[str, str | None]:
    """A database URL for one store, and the PostgreSQL schema to drop afterwards."""
    if base_url is None:
        return f"sqlite:///{folder / name}.db", None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with create_engine(base_url).begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    return f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}", schema


def drop_schema(base_url: str, schema: str) -> None:
    with create_engine(base_url).begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--escalations", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--due", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database-url", help="PostgreSQL URL; SQLite in a temporary folder when absent")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = []
        for label, stored in (("baseline", args.baseline), ("large", args.escalations)):
            url, schema = fresh_database(args.database_url, Path(folder), label)
            try:
                store = Store(url)
                store.migrate()
                started = time.perf_counter()
                fill(store, stored, args.due)
                store.dispose()
                filled = time.perf_counter() - started
                busy, idle = measure(url, stored, args.due, args.repeats)
            finally:
                if schema and args.database_url:
                    drop_schema(args.database_url, schema)
            rows.append((label, stored, busy, idle, filled))
        dialect = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"| store ({dialect}) | escalations | tick firing {args.due} due (ms, median of {args.repeats}) "
            "| idle tick (ms) | fill (s) |"
        )
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, stored, busy, idle, filled in rows:
            print(f"| {label} | {stored:,} | {busy:.1f} | {idle:.2f} | {filled:.0f} |")


if __name__ == "__main__":
    main()
