"""Two app processes tick the same PostgreSQL database: every timer fires exactly once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app_process import serve_against, stop_app_process
from conftest import ALWAYS_OPEN_POLICY_YAML, WEDNESDAY_MORNING, FakeClock
from sqlalchemy import func, select

from escalator.domain.escalation import EscalationType, Origin
from escalator.domain.handoff import Handoff
from escalator.policy import Priority, parse_policy
from escalator.services.raise_escalation import RaiseEscalation, raise_escalation
from escalator.standin.web_api import SlackStandIn
from escalator.store.database import Store
from escalator.store.tables import timers

CASES = 6  # their moves post 2 × CASES messages to the supervisors: paced at one a second


def test_each_timer_fires_once_across_two_processes(
    tmp_path: Path, postgres_url: str, slack_api: SlackStandIn
):
    (tmp_path / "policy.yml").write_text(ALWAYS_OPEN_POLICY_YAML)
    policy = parse_policy(ALWAYS_OPEN_POLICY_YAML)
    store = Store(postgres_url)
    store.migrate()
    # Cases raised long ago, while nothing ran: their nudges and breaches are all due at start.
    clock = FakeClock(WEDNESDAY_MORNING - timedelta(days=400))
    for n in range(CASES):
        handoff = Handoff(
            customer_name=f"Customer {n}",
            account_number=str(n),
            summary="Card declined",
            steps_taken="Checked",
            desired_outcome="Fix",
            customer_tone="Calm",
            path_key="billing",
            escalation_type=EscalationType.functional,
            priority=Priority.P2,
            customer_consent=True,
            deadline=None,
            deadline_at=None,
            refund_amount=None,
        )
        raise_escalation(
            store, policy, clock, RaiseEscalation(handoff, "U0AGENT", Origin.command, f"seed:{n}")
        )
    env = {"DATABASE_URL": postgres_url, "ESCALATOR_WORKERS": "2", "ESCALATOR_TICK": "0.05"}
    first, _ = serve_against(tmp_path, slack_api, **env)
    second, _ = serve_against(tmp_path, slack_api, **env)  # two machines' worth: four workers in all
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with store.transaction() as tx:
                pending = tx.session.scalar(
                    select(func.count())
                    .select_from(timers)
                    .where(timers.c.status == "pending", timers.c.due_at <= datetime.now(UTC))
                )
            breach_cards = [
                c
                for c in slack_api.calls_to("chat.postMessage")
                if c.params["channel"] == "C0123SUP" and "Hierarchical" in str(c.params["blocks"])
            ]
            if pending == 0 and len(breach_cards) >= CASES:
                break
            time.sleep(0.2)
        time.sleep(1)  # anything fired twice would show up now
    finally:
        stop_app_process(first)
        stop_app_process(second)

    posts = slack_api.calls_to("chat.postMessage")
    nudges = [
        c.params["text"] for c in posts if "still waiting for a specialist" in str(c.params.get("text"))
    ]
    moved = [
        c for c in posts if c.params["channel"] == "C0123SUP" and "Hierarchical" in str(c.params["blocks"])
    ]
    references = {f"ESC-{n}*" for n in range(1, CASES + 1)}
    assert len(nudges) == CASES and {t.split("*")[1] + "*" for t in nudges} == references
    assert len(moved) == CASES
    with store.transaction() as tx:
        fired = tx.session.scalar(select(func.count()).select_from(timers).where(timers.c.status == "fired"))
    assert fired >= CASES * 2
    store.dispose()
