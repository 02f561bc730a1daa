"""The authority chain through signed requests: a refund above the supervisors' limit goes to the
lowest level that can decide it, privately, and only that level (or a higher one) decides."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import POLICY_YAML, WEDNESDAY_MORNING, FakeClock, RunningApp, start_app
from test_ownership import current, history, pressed_and_settled, raise_escalation, shown

from escalator.domain.escalation import Approval
from escalator.policy import Policy, parse_policy
from escalator.standin.sender import AGENT, handoff_values, text
from escalator.standin.sender import select as option
from escalator.standin.web_api import SlackStandIn
from escalator.store.database import Store

SUPER, MORGAN, DANA, MANAGER_IN_GROUP = "U0SUPER", "U0MORGAN", "U0DANA", "U0GROUPY"
SUPERVISORS_CHANNEL = "C0123SUP"

CHAIN_YAML = POLICY_YAML.replace(
    "  supervisor: 500\n",
    """  supervisor: 500
  levels:
    - name: Support manager
      limit: 2000
      approvers: [U0MORGAN]
      usergroup: S0MANAGERS
    - name: Head of customer care
      approvers: [U0DANA]
""",
)


@pytest.fixture
def policy() -> Policy:
    return parse_policy(CHAIN_YAML)


def refund(amount: str, reason: str = "Charged twice for a year; the customer is leaving over it") -> dict:
    return {
        "escalation_type": option("hierarchical", "radio_buttons"),
        "refund_amount": {"type": "number_input", "value": amount},
        "refund_reason": text(reason),
    }


def card_update(slack_api: SlackStandIn):
    return [c for c in slack_api.calls_to("chat.update") if c.params["channel"] == SUPERVISORS_CHANNEL][-1]


def dms_to(slack_api: SlackStandIn, user: str) -> list:
    return [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == user]


def test_a_refund_above_the_supervisors_goes_to_the_support_manager(
    running_app: RunningApp, slack_api: SlackStandIn
):
    slack_api.usergroups["S0MANAGERS"] = [MANAGER_IN_GROUP]
    escalation = raise_escalation(running_app, slack_api, **refund("1500"))
    running_app.settle()

    card = next(
        c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == SUPERVISORS_CHANNEL
    )
    assert (
        "1,500.00 — needs the approval of the Support manager (<!subteam^S0MANAGERS>, <@U0MORGAN>)"
        in shown(card)
    )
    assert "Charged twice for a year" in shown(card) and '"action_id": "approve"' in shown(card)
    (request,) = dms_to(slack_api, MORGAN)
    assert "needs your decision, as Support manager: a refund or credit of *1,500.00*" in shown(request)
    assert "Charged twice for a year" in shown(request) and "ESC-1" in shown(request)
    assert '"action_id": "approve"' in shown(request) and '"action_id": "decline"' in shown(request)
    assert dms_to(slack_api, DANA) == []  # the lowest level that can decide is asked, not every level
    (next_steps,) = dms_to(slack_api, AGENT)
    assert (
        "*The refund or credit of 1,500.00* is above a supervisor's authority: the Support manager "
        "(<!subteam^S0MANAGERS>, <@U0MORGAN>) decides it, and I'll tell you their decision."
        in shown(next_steps)
    )
    assert current(running_app, escalation).approval_level == 2

    # A supervisor may not approve above their limit, neither may the agent.
    running_app.slack.press("approve", escalation.id, SUPER)
    refusal = slack_api.wait_for("response_url")[-1].params["text"]
    assert refusal == (
        "The refund of 1,500.00 on ESC-1 is above a supervisor's authority: only the Support manager "
        "(or a level above) can decide it."
    )
    assert current(running_app, escalation).approval is Approval.pending

    # Morgan approves from the request in their DM.
    pressed_and_settled(running_app, slack_api, "approve", escalation, MORGAN)

    stored = current(running_app, escalation)
    assert stored.approval is Approval.approved and stored.approval_by == MORGAN
    assert "1,500.00 — approved by <@U0MORGAN> (Support manager)" in shown(card_update(slack_api))
    assert history(running_app, escalation)[-1] == (
        "approve",
        MORGAN,
        "Refund or credit of 1,500.00 (Support manager)",
    )
    # Morgan's request now says how it was decided, and has no buttons left to press.
    (closed,) = [c for c in slack_api.calls_to("chat.update") if c.params["ts"] == request.response["ts"]]
    assert "was approved by <@U0MORGAN> (Support manager)" in shown(closed) and '"actions"' not in shown(
        closed
    )
    told = dms_to(slack_api, AGENT)[-1]
    assert "refund or credit of 1,500.00 for Jane Doe was approved by <@U0MORGAN> (Support manager)" in shown(
        told
    )

    # Decided once: a second press (the group's member, late) changes nothing.
    running_app.slack.press("decline", escalation.id, MANAGER_IN_GROUP)
    assert (
        "ESC-1 has no refund waiting for approval."
        in slack_api.wait_for("response_url", 2)[-1].params["text"]
    )


def test_a_higher_level_or_the_levels_group_may_decide(running_app: RunningApp, slack_api: SlackStandIn):
    slack_api.usergroups["S0MANAGERS"] = [MANAGER_IN_GROUP]
    first = raise_escalation(running_app, slack_api, **refund("1500"))
    pressed_and_settled(running_app, slack_api, "decline", first, DANA)
    assert current(running_app, first).approval is Approval.declined
    assert "declined by <@U0DANA> (Head of customer care)" in shown(card_update(slack_api))

    second = raise_escalation(running_app, slack_api, **refund("1200"))
    pressed_and_settled(running_app, slack_api, "approve", second, MANAGER_IN_GROUP)
    assert current(running_app, second).approval is Approval.approved

    # Above every limit but the last's, only the last level decides: Morgan is refused.
    third = raise_escalation(running_app, slack_api, **refund("5000"))
    assert [c.params["channel"] for c in slack_api.calls_to("chat.postMessage")].count(DANA) == 1
    running_app.slack.press("approve", third.id, MORGAN)
    assert "only the Head of customer care" in slack_api.wait_for("response_url")[-1].params["text"]


def test_the_form_asks_why_and_refuses_what_nobody_may_approve(
    store: Store, database_url: str, slack_api: SlackStandIn, clock: FakeClock
):
    capped = parse_policy(
        CHAIN_YAML.replace("approvers: [U0DANA]", "approvers: [U0DANA]\n      limit: 10000")
    )
    app = start_app(database_url, slack_api, clock, capped)
    try:
        answer = app.slack.submit(handoff_values(**refund("12000"))).json()
        assert answer["response_action"] == "errors"
        assert answer["errors"] == {
            "refund_amount": "A refund or credit of 12,000.00 is above every approval limit: the most anyone "
            "may approve is 10,000.00 (Head of customer care). Ask your supervisor."
        }
        values = handoff_values(**refund("700"))
        values["refund_reason"] = {"type": "plain_text_input", "value": None}
        answer = app.slack.submit(values).json()
        assert set(answer["errors"]) == {"refund_reason"}
    finally:
        app.close()
    assert slack_api.calls_to("chat.postMessage") == []


def test_approvers_pressing_at_once_make_one_decision(postgres_url: str, slack_api: SlackStandIn):
    group = [f"U0M{n:03d}" for n in range(12)]
    slack_api.usergroups["S0MANAGERS"] = group
    policy = parse_policy(CHAIN_YAML)
    Store(postgres_url).migrate()
    clock = FakeClock()
    first, second = (
        start_app(postgres_url, slack_api, clock, policy),
        start_app(postgres_url, slack_api, clock, policy),
    )
    try:
        escalation = raise_escalation(first, slack_api, **refund("1500"))
        deciders = [MORGAN, DANA, *group]

        def press(n: int):
            return (first, second)[n % 2].slack.press(
                "approve" if n % 2 else "decline", escalation.id, deciders[n]
            )

        with ThreadPoolExecutor(max_workers=len(deciders)) as pool:
            assert all(r.status_code == 200 for r in pool.map(press, range(len(deciders))))
        first.settle()
        second.settle()

        decisions = [a for a, _, _ in history(first, escalation) if a in ("approve", "decline")]
        assert len(decisions) == 1
        refused = [c.params["text"] for c in slack_api.calls_to("response_url")]
        assert refused == ["ESC-1 has no refund waiting for approval."] * (len(deciders) - 1)
        told = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == AGENT]
        assert sum("refund or credit of 1,500.00 for Jane Doe was" in shown(c) for c in told) == 1
    finally:
        first.close()
        second.close()


def test_escalator_check_shows_the_chain_and_a_level_asked_only_on_the_card():
    from escalator.checks import policy_checks

    only_a_group = CHAIN_YAML.replace("approvers: [U0DANA]", "usergroup: S0HEADS")
    lines = [
        line
        for check in policy_checks(parse_policy(only_a_group), WEDNESDAY_MORNING)
        for line in check.lines()
    ]
    assert (
        "✓ authority: Agent up to 50.00, then Supervisor up to 500.00, then Support manager up to 2,000.00, "
        "then Head of customer care any amount"
    ) in lines
    assert (
        "! authority.levels.1: Head of customer care names only a user group: its members are asked on the "
        "card in the supervisors' channel, nobody privately"
    ) in lines
    assert not any(
        line.startswith("✓ authority")
        for c in policy_checks(parse_policy(POLICY_YAML), WEDNESDAY_MORNING)
        for line in c.lines()
    )
