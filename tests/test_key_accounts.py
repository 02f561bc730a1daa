"""Key accounts: listed in the policy or a CSV beside it, raised at least at their tier's priority, said
so on the card, in the form as the account number is typed, and counted apart in the digest."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import POLICY_YAML, WEDNESDAY_MORNING, RunningApp
from test_digest import _digest_posts
from test_ownership import current, raise_escalation, shown

from escalator.domain.key_accounts import key_account_for
from escalator.errors import ConfigurationError
from escalator.policy import Policy, Priority, load_policy, parse_policy
from escalator.standin.sender import select, text
from escalator.standin.web_api import SlackStandIn

KEY_ACCOUNTS_YAML = (
    POLICY_YAML
    + """key_accounts:
  tiers:
    strategic: {priority: P1}
    gold: {priority: P2}
  accounts:
    - {account: "ACME-001", tier: strategic, name: Acme Corp}
  file: key_accounts.csv
"""
)
CSV = "account,tier,name\nGLOBEX-7,gold,Globex\n\ninitech 42 ,strategic,\n"


def policy_in(folder: Path, csv: str = CSV, yaml: str = KEY_ACCOUNTS_YAML) -> Path:
    (folder / "key_accounts.csv").write_text(csv)
    path = folder / "policy.yml"
    path.write_text(yaml)
    return path


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return load_policy(policy_in(tmp_path))


def test_accounts_come_from_the_policy_and_the_csv_beside_it(policy: Policy):
    assert policy.key_accounts is not None and policy.key_accounts.count == 3
    acme = key_account_for(" acme-001", Priority.P3, policy)
    assert acme is not None and (acme.tier, acme.name, acme.priority) == (
        "strategic",
        "Acme Corp",
        Priority.P1,
    )
    # Matched without regard to case or spaces.
    initech = key_account_for("INITECH42", None, policy)
    assert initech is not None and initech.tier == "strategic" and initech.name is None
    # Raised to the tier's priority at least, never lowered.
    assert key_account_for("globex-7", Priority.P4, policy).priority is Priority.P2
    assert key_account_for("globex-7", Priority.P1, policy).priority is Priority.P1
    assert key_account_for("12345", Priority.P3, policy) is None
    assert key_account_for("12345", Priority.P3, parse_policy(POLICY_YAML)) is None


def test_escalator_check_counts_the_key_accounts(policy: Policy):
    from escalator.checks import policy_checks

    lines = [line for check in policy_checks(policy, WEDNESDAY_MORNING) for line in check.lines()]
    assert "✓ key accounts: 3 (strategic at P1 at least, gold at P2 at least)" in lines


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        (
            "account;tier\nX,gold\n",
            "key_accounts.file: key_accounts.csv line 1: the header must be account,tier",
        ),
        (
            "account,tier\nX,gold\nY,silver\n",
            "key_accounts.file: key_accounts.csv line 3: unknown tier 'silver'; the tiers are strategic, "
            "gold",
        ),
        (
            "account,tier\nacme-001,gold\n",
            "key_accounts.file: key_accounts.csv line 2: account 'acme-001' is listed twice",
        ),
        (
            "account,tier\nX,gold,extra\n",
            "key_accounts.file: key_accounts.csv line 2: more columns than the header",
        ),
        (
            "account,tier\n" + "X" * 65 + ",gold\n",
            "key_accounts.file: key_accounts.csv line 2: account string should",
        ),
    ],
)
def test_mistakes_in_the_csv_name_the_key_and_the_line(tmp_path: Path, csv: str, expected: str):
    with pytest.raises(ConfigurationError) as caught:
        load_policy(policy_in(tmp_path, csv))
    assert expected in str(caught.value)


def test_a_missing_csv_and_mistakes_in_the_policy_name_the_key(tmp_path: Path):
    (tmp_path / "policy.yml").write_text(KEY_ACCOUNTS_YAML)
    with pytest.raises(ConfigurationError) as caught:
        load_policy(tmp_path / "policy.yml")
    assert (
        f"key_accounts.file: cannot read {tmp_path / 'key_accounts.csv'} (No such file or directory)"
        in str(caught.value)
    )
    for replace, by, expected in [
        (
            "tier: strategic, name",
            "tier: silver, name",
            "key_accounts.accounts.0.tier: unknown tier 'silver'",
        ),
        ("gold: {priority: P2}", "gold: {priority: P9}", "key_accounts.tiers.gold.priority: input should be"),
        (
            "  P2: {acknowledge: 15m, first_update: 2h, resolve: 1d}\n",
            "",
            "key_accounts.tiers.gold.priority: there are no SLA targets for P2",
        ),
        ("  tiers:\n", "  tiers: {}\n  levels:\n", "key_accounts.levels: unknown key"),
    ]:
        assert replace in KEY_ACCOUNTS_YAML
        with pytest.raises(ConfigurationError) as caught:
            load_policy(policy_in(tmp_path, yaml=KEY_ACCOUNTS_YAML.replace(replace, by, 1)))
        assert expected in str(caught.value)


def test_a_key_account_is_raised_at_its_tiers_priority(running_app: RunningApp, slack_api: SlackStandIn):
    before = len(slack_api.calls_to("chat.postMessage"))
    saved = running_app.slack.submit(_key_account_form(" acme-001", "P3")).json()
    assert "Key account — strategic (raised from P3 to P1)" in json.dumps(saved["view"], ensure_ascii=False)
    slack_api.wait_for("chat.postMessage", before + 2)
    running_app.settle()
    with running_app.store.transaction() as tx:
        escalation = tx.escalations.get(1)
    assert escalation is not None
    assert (escalation.priority, escalation.requested_priority) == (Priority.P1, Priority.P3)
    assert escalation.key_account_tier == "strategic"
    assert escalation.acknowledge_by == WEDNESDAY_MORNING + timedelta(minutes=5)  # P1's target, not P3's
    card = slack_api.calls_to("chat.postMessage")[before]
    assert "ESC-1 · P1 · Billing" in shown(card)
    assert ":star: Key account — strategic (raised from P3 to P1)" in shown(card)
    next_steps = slack_api.calls_to("chat.postMessage")[before + 1]
    assert next_steps.params[
        "channel"
    ] == "U0AGENT" and "Key account — strategic (raised from P3 to P1)." in shown(next_steps)

    # Chosen at the tier's priority already: a key account, not raised.
    second = raise_escalation(running_app, slack_api, account_number=text("GLOBEX-7"), priority=select("P1"))
    stored = current(running_app, second)
    assert (stored.priority, stored.requested_priority, stored.key_account_tier) == (
        Priority.P1,
        None,
        "gold",
    )
    assert shown(slack_api.calls_to("chat.postMessage")[-2]).count("Key account — gold") == 1


def test_the_form_says_so_as_the_account_number_is_typed(running_app: RunningApp, slack_api: SlackStandIn):
    running_app.slack.command("Customer wants a refund")
    (opened,) = slack_api.wait_for("views.open")
    view = opened.params["view"]
    account = next(b for b in view["blocks"] if b.get("block_id") == "account_number")
    assert account["dispatch_action"] is True
    assert account["element"]["dispatch_action_config"] == {
        "trigger_actions_on": ["on_enter_pressed", "on_character_entered"]
    }

    assert running_app.slack.type_in_form(view, "account_number", "12345").status_code == 200
    running_app.settle()
    assert slack_api.calls_to("views.update") == []  # not a key account: nothing to say, no call

    running_app.slack.type_in_form(view, "account_number", "Acme-001")
    (update,) = slack_api.wait_for("views.update")
    assert update.params["view_id"] == "V0FORM" and update.params["hash"].endswith(".hash")
    blocks = update.params["view"]["blocks"]
    at = [b.get("block_id") for b in blocks].index("account_number")
    note = blocks[at + 1]
    assert note["block_id"] == "key_account_note"
    assert note["elements"][0]["text"] == (
        ":star: *Key account* — strategic · Acme Corp: it is raised at P1 at least, whatever priority "
        "you choose."
    )
    assert update.params["view"]["callback_id"] == "escalate_form" and len(blocks) == len(view["blocks"]) + 1

    # Typed on to another number: the line goes again.
    running_app.slack.type_in_form(update.params["view"], "account_number", "Acme-0011")
    updates = slack_api.wait_for("views.update", 2)
    assert "key_account_note" not in [b.get("block_id") for b in updates[-1].params["view"]["blocks"]]


def test_the_digest_counts_key_accounts_apart(running_app: RunningApp, slack_api: SlackStandIn):
    raise_escalation(running_app, slack_api, account_number=text("ACME-001"), priority=select("P3"))
    raise_escalation(running_app, slack_api, account_number=text("globex-7"), priority=select("P2"))
    raise_escalation(running_app, slack_api)  # not a key account
    running_app.clock.advance(hours=1)  # past the key accounts' acknowledge targets (5 and 15 min)
    running_app.tick()  # (and Tuesday's digest, due since 09:00, goes out)
    running_app.clock.set(WEDNESDAY_MORNING.replace(day=26, hour=9))
    running_app.tick()

    _quiet_tuesday, digest = _digest_posts(slack_api)
    assert "<https://slack.com/archives/" in shown(digest)
    assert ":star: *Key accounts:* 2 escalated — strategic 1, gold 1 · 2 missed a target (" in shown(digest)


def _key_account_form(account: str, priority: str) -> dict:
    from escalator.standin.sender import handoff_values

    return handoff_values(account_number=text(account), priority=select(priority))
