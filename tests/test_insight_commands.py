"""`escalator digest`, `export`, `contacts`, and POST /api/contacts."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import requests
from conftest import POLICY_YAML, FakeClock, RunningApp, make_settings
from test_digest import TUESDAY, tuesday  # noqa: F401  (the fixture)

from escalator.cli import main
from escalator.policy import Policy
from escalator.standin.web_api import Reply, SlackStandIn
from escalator.store.database import Store

TOKEN = "a-long-random-api-token"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY_YAML)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ESCALATOR_POLICY", str(policy))
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return policy


@pytest.fixture
def signed_in_cli(cli_env: Path, slack_api: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The commands' environment, signed in to the stand-in."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SLACK_API_URL", slack_api.url)
    return cli_env


def test_digest_dry_run_prints_the_numbers(tuesday: Store, cli_env: Path, capsys):  # noqa: F811
    assert main(["contacts", "--date", "2026-11-24", "--count", "40"]) == 0
    assert "recorded 40 contacts on 2026-11-24" in capsys.readouterr().out

    assert main(["digest", "--date", "2026-11-24", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Escalations digest · Tuesday 24 November 2026")
    assert "*Raised:* 3" in out and "*Escalation rate:* 7.5% of 40 contacts" in out


def test_digest_posts_through_slack_api_url(
    tuesday: Store,  # noqa: F811
    signed_in_cli: Path,
    slack_api: SlackStandIn,
    capsys,
):

    assert main(["digest", "--date", "2026-11-24"]) == 0

    (post,) = slack_api.calls_to("chat.postMessage")
    assert post.params["channel"] == "C0123SUP" and "Tuesday 24 November" in post.params["text"]
    # The way the scheduled digest goes: its chart follows in its thread.
    (chart,) = slack_api.calls_to("files.completeUploadExternal")
    assert (chart.params["channel_id"], chart.params["thread_ts"]) == ("C0123SUP", post.response["ts"])
    assert "posted the digest for 2026-11-24 to C0123SUP with its chart" in capsys.readouterr().out
    with tuesday.transaction() as tx:  # the scheduler will not post that day again
        assert not tx.insight.start_digest(TUESDAY, datetime.now(UTC))


def test_digest_slack_refuses_is_told_and_kept_for_the_outbox(
    tuesday: Store,  # noqa: F811
    signed_in_cli: Path,
    slack_api: SlackStandIn,
    capsys,
):
    slack_api.script("chat.postMessage", Reply.error("not_in_channel"))

    assert main(["digest", "--date", "2026-11-24"]) == 1

    assert "Slack did not take the digest: not_in_channel" in capsys.readouterr().err
    with tuesday.reading() as tx:
        assert [m.kind for m in tx.outbox.dead()] == ["post_digest"]  # `escalator outbox retry` posts it


def test_export_as_csv_and_json_lines(tuesday: Store, cli_env: Path, capsys):  # noqa: F811
    assert main(["export", "--since", "2026-11-24", "--until", "2026-11-25"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["reference"] for r in rows] == ["ESC-2", "ESC-3", "ESC-4"]
    first = rows[0]
    assert (first["state"], first["owner"], first["csat"], first["minutes_to_acknowledge"]) == (
        "closed",
        "U0ALEX",
        "4",
        "5.0",
    )
    assert first["raised_at"] == "2026-11-24T10:00:00+00:00"

    assert main(["export", "--since", "2026-11-23", "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["reference"] for line in lines] == ["ESC-1", "ESC-2", "ESC-3", "ESC-4"]
    assert lines[2]["minutes_to_resolve"] == 180.0 and lines[2]["acknowledge_missed"] is False
    assert (lines[2]["callback_at"], lines[2]["callback_missed"], lines[2]["handoffs"]) == (None, False, 0)


def test_contacts_command_refuses_a_bad_date(cli_env: Path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["contacts", "--date", "26/11/2026", "--count", "4"])
    assert exited.value.code == 2
    assert "is not a date such as 2026-11-26" in capsys.readouterr().err


@pytest.fixture
def api_app(store: Store, database_url: str, slack_api: SlackStandIn, policy: Policy):
    from conftest import RunningApp, TrackingExecutor

    from escalator.wiring import build_worker

    settings = make_settings(database_url, slack_api, ESCALATOR_API_TOKEN=TOKEN)
    executor = TrackingExecutor(max_workers=2)
    clock = FakeClock()
    app = RunningApp(
        build_worker(settings, policy, clock, background=False, executor=executor),
        executor,
        clock,
        slack_api.response_url,
    )
    yield app
    app.close()


def test_the_contacts_api_records_a_day(api_app: RunningApp):
    url = api_app.slack.events_url.removesuffix("/slack/events") + "/api/contacts"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    ok = requests.post(url, json={"date": "2026-11-26", "count": 412}, headers=auth, timeout=5)
    again = requests.post(url, json={"date": "2026-11-26", "count": 415}, headers=auth, timeout=5)
    assert (ok.status_code, ok.json()) == (200, {"date": "2026-11-26", "count": 412})
    assert again.status_code == 200
    with api_app.store.transaction() as tx:
        assert tx.insight.contacts_on(date(2026, 11, 26)) == 415

    assert requests.post(url, json={"date": "2026-11-26", "count": 1}, timeout=5).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert (
        requests.post(url, json={"date": "2026-11-26", "count": 1}, headers=wrong, timeout=5).status_code
        == 401
    )
    bad = requests.post(url, json={"date": "yesterday", "count": -1}, headers=auth, timeout=5)
    assert bad.status_code == 400 and "date" in bad.json()["error"] and "count" in bad.json()["error"]
    assert requests.post(url, data="not json", headers=auth, timeout=5).status_code == 400
    lower = {"Authorization": f"bearer {TOKEN}"}  # the scheme is case-insensitive; the token is not
    assert (
        requests.post(url, json={"date": "2026-11-27", "count": 3}, headers=lower, timeout=5).status_code
        == 200
    )
    bare = {"Authorization": TOKEN}
    assert (
        requests.post(url, json={"date": "2026-11-27", "count": 3}, headers=bare, timeout=5).status_code
        == 401
    )


def test_the_contacts_api_is_off_without_a_token(running_app: RunningApp):
    url = running_app.slack.events_url.removesuffix("/slack/events") + "/api/contacts"
    answer = requests.post(
        url, json={"date": "2026-11-26", "count": 4}, headers={"Authorization": "Bearer x"}, timeout=5
    )
    assert answer.status_code == 404 and "ESCALATOR_API_TOKEN" in answer.json()["error"]
