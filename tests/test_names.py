"""Names in the policy (`#billing`, `@alex`, `alex@example.com`, `@billing-team`): found through the Web API
by `escalator check` and at start, kept in the database for a start while Slack is away."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_process import run_app, serve_against, stop_app_process
from conftest import ALWAYS_OPEN_POLICY_YAML, BOT_TOKEN, SIGNING_SECRET, deploy, make_settings

from escalator.cli import main as escalator
from escalator.slack.bolt_app import build_gateway
from escalator.slack.names import resolve_names
from escalator.slack.scopes import BOT_SCOPES
from escalator.standin.sender import SlackSender, handoff_values
from escalator.standin.web_api import SlackStandIn
from escalator.standin.workspace import Person, example_workspace
from escalator.store.database import Store

NAMED_POLICY_YAML = (
    ALWAYS_OPEN_POLICY_YAML.replace("channel: C0123BILL", 'channel: "#billing"')
    .replace("    after_hours_channel: C0456OOH\n", "")
    .replace("specialists: [U0ALEX, U0SAM]", 'specialists: ["@alex", sam@example.com]')
    .replace("channel: C0123TECH", 'channel: "#tech-support"')
    .replace("specialists: [U0TECH]", 'usergroup: "@billing-team"')
    .replace("channel: C0123SUP\n  users: [U0SUPER]", 'channel: "#support-leads"\n  users: ["@priya"]')
)


@pytest.fixture
def workspace_api(slack_api: SlackStandIn) -> SlackStandIn:
    slack_api.workspace = example_workspace()
    return slack_api


@pytest.fixture
def named_deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workspace_api: SlackStandIn, store: Store
) -> Path:
    return deploy(tmp_path, monkeypatch, workspace_api.url, store.url, NAMED_POLICY_YAML)


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = escalator(["check"])
    return code, capsys.readouterr().out.splitlines()


def test_check_prints_each_name_with_the_id_it_found(
    named_deployment: Path, workspace_api: SlackStandIn, capsys: pytest.CaptureFixture[str]
):
    code, lines = check(capsys)

    assert code == 0, "\n".join(lines)
    assert "✓ paths.billing.channel: #billing is C0BILLING" in lines
    assert "✓ paths.billing.specialists: @alex is U0ALEX (Alex Kim)" in lines
    assert "✓ paths.billing.specialists: sam@example.com is U0SAM (Sam Ortiz)" in lines
    assert "✓ paths.technical.usergroup: @billing-team is S0BILLING (Billing team)" in lines
    assert "✓ supervisors.channel: #support-leads is C0LEADS" in lines
    # Then the found IDs are checked like IDs written in the policy.
    assert "✓ channel C0BILLING (paths.billing.channel): #billing exists and the bot is a member" in lines
    assert "✓ user U0PRIYA (supervisors.users): exists" in lines
    listed = {c.method for c in workspace_api.calls}
    assert {"conversations.list", "users.list", "users.lookupByEmail", "usergroups.list"} <= listed


def test_check_names_precisely_what_it_could_not_find(
    named_deployment: Path, workspace_api: SlackStandIn, capsys: pytest.CaptureFixture[str]
):
    workspace_api.workspace.channels[1].is_archived = True  # #billing
    named_deployment.write_text(
        NAMED_POLICY_YAML.replace('"#tech-support"', '"#tech-suport"')
        .replace('["@priya"]', '["@prya", nobody@example.com]')
        .replace('"@billing-team"', '"@billing-crew"')
    )
    code, lines = check(capsys)

    assert code == 1
    assert "✗ paths.technical.channel: no channel #tech-suport; did you mean #tech-support?" in lines
    assert "✗ supervisors.users: no one goes by @prya; did you mean @priya?" in lines
    assert "✗ supervisors.users: no one in this workspace has the email nobody@example.com" in lines
    assert "✗ paths.technical.usergroup: no user group @billing-crew; did you mean @billing-team?" in lines
    assert "✗ paths.billing.channel: #billing is archived" in lines
    assert "    fix: correct paths.technical.channel in the policy, or write the ID there" in lines
    # A name not found is not looked up again as if it were an ID.
    assert not [c for c in workspace_api.calls_to("conversations.info") if "#" in c.params["channel"]]


def test_a_handle_two_people_go_by_is_not_guessed(workspace_api: SlackStandIn, database_url: str):
    workspace_api.workspace.people.append(
        Person("U0ALEX2", "alex.r", "Alex Rivera", "ar@example.com", "alex")
    )
    gateway = build_gateway(make_settings(database_url, workspace_api))

    found = resolve_names(gateway, {("user", "@alex"): ["paths.billing.specialists"]})

    assert found.missing[("user", "@alex")].reason == (
        "2 go by @alex: U0ALEX (Alex Kim), U0ALEX2 (Alex Rivera); write the one you mean by its ID"
    )


def test_a_large_workspace_is_listed_page_by_page(workspace_api: SlackStandIn, database_url: str):
    crowd = [Person(f"U{n:07d}", f"person{n}", f"Person {n}", f"p{n}@example.com") for n in range(2500)]
    workspace_api.workspace.people[:0] = crowd  # the people the policy names come last
    gateway = build_gateway(make_settings(database_url, workspace_api))

    found = resolve_names(gateway, {("user", "@priya"): ["supervisors.users"]})

    assert found.ids == {("user", "@priya"): "U0PRIYA"}
    assert [c.params.get("cursor") for c in workspace_api.calls_to("users.list")] == [None, "1000", "2000"]


def test_the_app_starts_with_names_and_again_while_slack_cannot_list_them(
    tmp_path: Path, workspace_api: SlackStandIn, database_url: str
):
    (tmp_path / "policy.yml").write_text(NAMED_POLICY_YAML)
    process, base = serve_against(tmp_path, workspace_api, DATABASE_URL=database_url)
    SlackSender(base, SIGNING_SECRET, workspace_api.response_url).submit(handoff_values())
    card = workspace_api.wait_for("chat.postMessage")[0]
    assert card.params["channel"] == "C0BILLING"
    stop_app_process(process)

    # Restarted while Slack answers nothing but auth.test and posts: the IDs found last time are used.
    for method in ("conversations.list", "users.list", "users.lookupByEmail", "usergroups.list"):
        workspace_api.down_while(method, lambda: True)
    process, base = serve_against(tmp_path, workspace_api, DATABASE_URL=database_url)
    SlackSender(base, SIGNING_SECRET, workspace_api.response_url).submit(handoff_values())
    posts = workspace_api.wait_for("chat.postMessage", 4)  # each start: a card and the agent's note
    log = stop_app_process(process)
    assert [c.params["channel"] for c in posts if c.params["channel"].startswith("C")] == ["C0BILLING"] * 2
    assert "#billing: Slack could not be asked" in log and "using C0BILLING, its ID when last found" in log


def test_a_name_never_found_stops_the_start_and_says_which(tmp_path: Path, workspace_api: SlackStandIn):
    (tmp_path / "policy.yml").write_text(NAMED_POLICY_YAML.replace('"#billing"', '"#biling"'))
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": workspace_api.url,
    }

    result = run_app(tmp_path, **env)

    assert result.returncode == 2, result.stderr
    assert "policy.yml: paths.billing.channel: no channel #biling; did you mean #billing?" in result.stderr


def test_the_email_scope_is_asked_for_only_when_the_policy_names_someone_by_email(
    named_deployment: Path, workspace_api: SlackStandIn, capsys: pytest.CaptureFixture[str]
):
    workspace_api.scopes = set(BOT_SCOPES) - {"users:read.email"}  # installed before it was added

    code, lines = check(capsys)
    assert code == 1
    assert "✗ slack scopes: missing users:read.email (finding the people the policy names by email)" in lines

    named_deployment.write_text(NAMED_POLICY_YAML.replace('["@alex", sam@example.com]', '["@alex", "@sam"]'))
    code, lines = check(capsys)
    assert code == 0, "\n".join(lines)
    assert "✓ slack scopes: all 14 scopes the app uses are granted" in lines


def test_the_authority_chains_approvers_may_be_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workspace_api: SlackStandIn, store: Store, capsys
):
    chained = NAMED_POLICY_YAML.replace(
        "  supervisor: 500\n",
        '  supervisor: 500\n  levels:\n    - name: Support manager\n      approvers: ["@tariq"]\n'
        '      usergroup: "@billing-team"\n',
    )
    deploy(tmp_path, monkeypatch, workspace_api.url, store.url, chained)
    code, lines = check(capsys)

    assert code == 0, "\n".join(lines)
    assert "✓ authority.levels.0.approvers: @tariq is U0TARIQ (Tariq Haddad)" in lines
    # The same group as a path's: one look-up, every key that names it.
    assert (
        "✓ paths.technical.usergroup, authority.levels.0.usergroup: @billing-team is S0BILLING (Billing team)"
        in lines
    )
