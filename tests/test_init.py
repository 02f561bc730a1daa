"""`escalator init`: asks for the token and who owns what, writes a commented policy with names, and
`escalator check` passes right after it on a workspace that is set up."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from app_process import app_env, escalator_command
from conftest import BOT_TOKEN, SIGNING_SECRET

from escalator.standin.web_api import Reply, SlackStandIn
from escalator.standin.workspace import example_workspace


@pytest.fixture
def workspace_api(slack_api: SlackStandIn) -> SlackStandIn:
    slack_api.workspace = example_workspace()
    return slack_api


def _env(slack_api: SlackStandIn, tmp_path: Path, **extra: str) -> dict[str, str]:
    return app_env(tmp_path, SLACK_API_URL=slack_api.url, **extra)


def _escalator(
    tmp_path: Path, env: dict[str, str], *args: str, answers: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        escalator_command(*args),
        cwd=tmp_path,
        env=env,
        input=answers,
        capture_output=True,
        text=True,
        timeout=60,
    )


ANSWERS = [
    BOT_TOKEN,  # the token
    SIGNING_SECRET,
    "",  # paths: the default, billing and technical
    "",  # billing's label: Billing
    "#biling",  # a channel the bot is not in: asked again
    "2",  # #billing, by its number
    "@alx, sam@example.com",  # a misspelt handle: asked again
    "@alex, sam@example.com",
    "refund, invoice",
    "Technical support",
    "#tech-support",
    "@billing-team",  # a user group
    "",
    "4",  # the supervisors: #support-leads
    "@priya",
    "Europe/London",
    "mon-fri 09:00-17:30",
]


def test_init_writes_a_policy_with_names_that_check_then_passes(tmp_path: Path, workspace_api: SlackStandIn):
    result = _escalator(tmp_path, _env(workspace_api, tmp_path), "init", answers="\n".join(ANSWERS) + "\n")

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "  ✓ signed in as U0BOT in Example" in out
    assert "  1. #frontline — where agents work" in out and "#random" not in out  # only the bot's channels
    assert (
        "the bot is not in #biling: pick a number above, or type `/invite @Escalator` in #biling first" in out
    )
    assert "no one goes by @alx; did you mean @alex?" in out
    assert "✓ @alex is Alex Kim (U0ALEX)" in out and "✓ @billing-team is the user group Billing team" in out
    policy_text = (tmp_path / "policy.yml").read_text()
    assert policy_text.startswith("# Escalator policy, written by `escalator init`")
    policy = yaml.safe_load(policy_text)
    assert policy["paths"]["billing"] == {
        "label": "Billing",
        "channel": "#billing",
        "specialists": ["@alex", "sam@example.com"],
        "keywords": ["refund", "invoice"],
    }
    assert policy["paths"]["technical"]["usergroup"] == "@billing-team"
    assert policy["supervisors"] == {"channel": "#support-leads", "users": ["@priya"]}
    assert policy["business_hours"] == {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00",
        "end": "17:30",
    }
    env_file = tmp_path / ".env"
    assert env_file.read_text() == f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSLACK_SIGNING_SECRET={SIGNING_SECRET}\n"
    assert env_file.stat().st_mode & 0o777 == 0o600

    check = _escalator(tmp_path, _env(workspace_api, tmp_path), "check")

    assert check.returncode == 0, check.stdout + check.stderr
    assert "✓ paths.billing.channel: #billing is C0BILLING" in check.stdout
    assert "✓ supervisors.channel, digest.channel: #support-leads is C0LEADS" in check.stdout


def test_init_uses_the_token_already_set_and_asks_before_replacing_a_policy(
    tmp_path: Path, workspace_api: SlackStandIn
):
    (tmp_path / "policy.yml").write_text("# mine\n")
    env = _env(workspace_api, tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)

    kept = _escalator(tmp_path, env, "init", answers="\n")
    assert kept.returncode == 1 and "Nothing written." in kept.stdout
    assert (tmp_path / "policy.yml").read_text() == "# mine\n"

    answers = ["y", "billing", "", "2", "@alex", "", "4", "@priya", "UTC", "none"]
    replaced = _escalator(tmp_path, env, "init", answers="\n".join(answers) + "\n")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert "Using SLACK_BOT_TOKEN from the environment." in replaced.stdout
    assert not (tmp_path / ".env").exists()  # nothing was typed that the environment lacks
    assert "business_hours" not in yaml.safe_load((tmp_path / "policy.yml").read_text())


def test_init_stops_clearly_when_the_token_is_refused_or_the_answers_run_out(
    tmp_path: Path, workspace_api: SlackStandIn
):
    workspace_api.script("auth.test", Reply.error("invalid_auth"))
    refused = _escalator(tmp_path, _env(workspace_api, tmp_path), "init", answers="xoxb-wrong\n")
    assert refused.returncode == 2
    assert "✗ Slack did not take the token (invalid_auth): copy it again" in refused.stdout

    short = _escalator(
        tmp_path, _env(workspace_api, tmp_path), "init", answers=f"{BOT_TOKEN}\n{SIGNING_SECRET}\nbilling\n"
    )
    assert short.returncode == 2
    assert "init stopped, nothing more written: no answer (standard input ended)" in short.stderr
    assert not (tmp_path / "policy.yml").exists()
