"""Exactly one owner, always: many specialists claim at once, through two workers, on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from conftest import POLICY_YAML, FakeClock, start_app

from escalator.domain.escalation import State
from escalator.policy import parse_policy
from escalator.standin.sender import handoff_values
from escalator.standin.web_api import SlackStandIn
from escalator.store.database import Store

SPECIALISTS = [f"U0S{n:03d}" for n in range(24)]


def test_parallel_claims_on_two_workers_give_one_owner(postgres_url: str, slack_api: SlackStandIn):
    policy = parse_policy(
        POLICY_YAML.replace("specialists: [U0ALEX, U0SAM]", f"specialists: [{', '.join(SPECIALISTS)}]")
    )
    Store(postgres_url).migrate()
    clock = FakeClock()
    first, second = (
        start_app(postgres_url, slack_api, clock, policy),
        start_app(postgres_url, slack_api, clock, policy),
    )
    try:
        first.slack.submit(handoff_values())
        slack_api.wait_for("chat.postMessage", 2)
        first.settle()
        with first.store.transaction() as tx:
            escalation = tx.escalations.get(1)
        assert escalation is not None and escalation.card_ts

        def claim(n: int):
            app = (first, second)[n % 2]
            if n % 3 == 0:  # a button press …
                return app.slack.press("claim", escalation.id, SPECIALISTS[n])
            # … or a reaction on the card
            return app.slack.reaction("eyes", SPECIALISTS[n], "C0123BILL", escalation.card_ts)

        with ThreadPoolExecutor(max_workers=len(SPECIALISTS)) as pool:
            responses = list(pool.map(claim, range(len(SPECIALISTS))))
        assert all(r.status_code == 200 for r in responses)
        first.settle()
        second.settle()

        with first.store.transaction() as tx:
            won = tx.escalations.get(1)
            claims = [e for e in tx.history.of(1) if e.action == "claim"]
        assert won is not None and won.state is State.claimed
        assert [e.actor_user_id for e in claims] == [won.owner_user_id]
        losers = slack_api.calls_to("chat.postEphemeral") + slack_api.calls_to("response_url")
        assert len(losers) == len(SPECIALISTS) - 1
        assert {c.params["text"] for c in losers} == {f"ESC-1 is already claimed by <@{won.owner_user_id}>."}
        # One card update and one warm transfer, not one per claim.
        assert len(slack_api.calls_to("chat.update")) == 1
        intros = [
            c for c in slack_api.calls_to("chat.postMessage") if "meet <@" in str(c.params.get("blocks"))
        ]
        assert len(intros) == 1
    finally:
        first.close()
        second.close()
