"""What storing a new escalation costs with incidents on, against the same policy without them, in one run.

    python bench/raise_cost.py
    python bench/raise_cost.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

A handoff form is stored before Slack gets its acknowledgement, so this is time the agent waits. With
`incident` in the policy, each new case is also placed: matched against the open incidents, then
counted towards a suggestion (recent look-alikes on its path). Every case here has the same summary,
the worst case for detection: the first `threshold` make a suggestion, the rest join it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scheduler_tick import POLICY, FixedClock, drop_schema, fresh_database

from escalator.domain.escalation import EscalationType, Origin
from escalator.domain.handoff import Handoff
from escalator.policy import Priority, parse_policy
from escalator.services.raise_escalation import RaiseEscalation, raise_escalation
from escalator.store.database import Store

INCIDENTS = """
incident:
  channel: C0123INC
  responders: [U0ONCALL]
  detect: {threshold: 5, within: 30m}
"""
HANDOFF = Handoff(
    customer_name="Jane Doe",
    account_number="12345",
    summary="Double charge on invoice #789 seen in her bank.",
    steps_taken="Two charges confirmed.",
    desired_outcome="Reversal.",
    customer_tone="Frustrated but polite",
    path_key="billing",
    escalation_type=EscalationType.functional,
    priority=Priority.P2,
    customer_consent=True,
    deadline=None,
    deadline_at=None,
    refund_amount=None,
)


def measure(database_url: str, policy_text: str, warm: int, count: int) -> list[float]:
    """Milliseconds per stored escalation, after `warm` alike ones are already in the window."""
    store = Store(database_url)
    store.migrate()
    policy, clock = parse_policy(policy_text), FixedClock()
    try:
        for n in range(warm):
            raise_escalation(
                store, policy, clock, RaiseEscalation(HANDOFF, "U0AGENT", Origin.command, f"w{n}")
            )
        times = []
        for n in range(count):
            command = RaiseEscalation(HANDOFF, "U0AGENT", Origin.command, f"m{n}")
            started = time.perf_counter()
            raise_escalation(store, policy, clock, command)
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL base URL (default: SQLite files)")
    parser.add_argument("--warm", type=int, default=300, help="alike escalations stored first")
    parser.add_argument("--count", type=int, default=500, help="escalations measured")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, policy_text in (("without incidents", POLICY), ("with incidents", POLICY + INCIDENTS)):
            url, schema = fresh_database(args.database_url, Path(scratch), label.replace(" ", "_"))
            try:
                times = sorted(measure(url, policy_text, args.warm, args.count))
            finally:
                if schema and args.database_url:
                    drop_schema(args.database_url, schema)
            rows.append((label, statistics.median(times), times[int(len(times) * 0.99) - 1]))
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"Storing one escalation ({database}), {args.count} measured:\n")
    print("| policy | median (ms) | p99 (ms) |\n| --- | ---: | ---: |")
    for label, median, p99 in rows:
        print(f"| {label} | {median:.2f} | {p99:.2f} |")
    print(f"\nIncidents add {rows[1][1] - rows[0][1]:.2f} ms to the median ({rows[1][1] / rows[0][1]:.2f}×).")


if __name__ == "__main__":
    main()
