"""How long the daily digest takes to build over a large store, against a small one in the same run.

    python bench/digest_build.py                      # 1,000,000 escalations, SQLite
    python bench/digest_build.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

The store holds a year of escalations (about 2,700 a day at a million), each with its raise and claim
in the history, most resolved and closed, some breached, accounts repeating. The build is what the
scheduler does each morning: every figure of the digest for one day, plus the fortnight's trend for
the chart. Target: under 2 seconds at a million escalations, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from scheduler_tick import POLICY, FixedClock, drop_schema, fresh_database
from sqlalchemy import insert, text

from escalator.policy import parse_policy
from escalator.services.digest import Digests
from escalator.store.database import Store
from escalator.store.tables import escalation_events, escalations

DAYS = 365
END = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
BATCH = 20_000


def fill(store: Store, count: int) -> None:
    rng = random.Random(42)
    start = END - timedelta(days=DAYS)
    spacing = timedelta(days=DAYS) / count
    with store.engine.begin() as connection:
        for first in range(1, count + 1, BATCH):
            rows, events = [], []
            for n in range(first, min(first + BATCH, count + 1)):
                raised = start + spacing * n
                claimed = raised + timedelta(minutes=rng.randint(1, 40))
                resolved = claimed + timedelta(minutes=rng.randint(10, 600)) if n % 10 else None
                closed = resolved + timedelta(hours=1) if resolved and n % 7 else None
                state = "closed" if closed else "resolved" if resolved else "claimed"
                rows.append(
                    {
                        "id": n,
                        "raised_at": raised,
                        "agent_user_id": f"U0AGENT{n % 40}",
                        "origin": "command",
                        "idempotency_key": f"bench:{n}",
                        "customer_name": "Customer",
                        "account_number": str(rng.randint(1, 200_000)),
                        "summary": "Card declined",
                        "steps_taken": "Checked",
                        "desired_outcome": "Fix",
                        "customer_tone": "Calm",
                        "customer_consent": True,
                        "path_key": "billing",
                        "escalation_type": "functional",
                        "priority": "P2",
                        "trigger_words": ["chargeback"] if n % 13 == 0 else [],
                        "approval": "not_needed",
                        "state": state,
                        "owner_user_id": f"U0SPEC{n % 12}",
                        "claimed_at": claimed,
                        "first_update_at": claimed + timedelta(minutes=5),
                        "resolved_at": resolved,
                        "closed_at": closed,
                        "csat": rng.randint(1, 5) if closed else None,
                        "routed_channel_id": "C0123BILL",
                        "after_hours": False,
                        "acknowledge_by": raised + timedelta(minutes=15),
                        "first_update_by": raised + timedelta(hours=2),
                        "resolve_by": raised + timedelta(days=1),
                        "acknowledge_breached_at": raised + timedelta(minutes=15)
                        if claimed > raised + timedelta(minutes=15)
                        else None,
                        "card_channel_id": "C0123BILL",
                        "card_ts": f"{n}.000001",
                    }
                )
                events += [
                    {
                        "escalation_id": n,
                        "at": raised,
                        "actor_user_id": f"U0AGENT{n % 40}",
                        "action": "raise",
                        "to_state": "open",
                    },
                    {
                        "escalation_id": n,
                        "at": claimed,
                        "actor_user_id": f"U0SPEC{n % 12}",
                        "action": "claim",
                        "from_state": "open",
                        "to_state": "claimed",
                    },
                ]
            connection.execute(insert(escalations), rows)
            connection.execute(insert(escalation_events), events)
        if connection.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))


def measure(url: str, repeats: int) -> tuple[float, int]:
    """Median milliseconds to build yesterday's digest and its chart's trend; and the day's count."""
    store = Store(url)
    digests = Digests(store, parse_policy(POLICY), FixedClock())
    day = date(2026, 11, 24)
    timings, raised = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        digest = digests.build(day)
        digests.trend(day)
        timings.append((time.perf_counter() - started) * 1000)
        raised = digest.raised
    store.dispose()
    return statistics.median(timings), raised


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--escalations", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database-url", help="PostgreSQL URL; SQLite in a temporary folder when absent")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, count in (("baseline", args.baseline), ("large", args.escalations)):
            url, schema = fresh_database(args.database_url, Path(folder), label)
            try:
                store = Store(url)
                store.migrate()
                started = time.perf_counter()
                fill(store, count)
                store.dispose()
                filled = time.perf_counter() - started
                build, per_day = measure(url, args.repeats)
            finally:
                if schema and args.database_url:
                    drop_schema(args.database_url, schema)
            rows.append((label, count, per_day, build, filled))
    dialect = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"| store ({dialect}) | escalations | raised that day "
        f"| digest + trend (ms, median of {args.repeats}) "
        "| fill (s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, count, per_day, build, filled in rows:
        print(f"| {label} | {count:,} | {per_day:,} | {build:.0f} | {filled:.0f} |")


if __name__ == "__main__":
    main()
