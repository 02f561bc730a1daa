"""What an on-call admin sees: `escalator check` before go-live, `/metrics`, log lines, and the SQL and
backup commands."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from alembic.script import ScriptDirectory
from app_process import free_port, serve_against, stop_app_process
from conftest import ALWAYS_OPEN_POLICY_YAML, BOT_TOKEN, POLICY_YAML, SIGNING_SECRET, RunningApp, deploy
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError
from test_ownership import ALEX, pressed_and_settled, raise_escalation

from escalator.cli import main as escalator
from escalator.domain.messages import Message
from escalator.log_format import JsonFormatter, TextFormatter
from escalator.probes import serve_probes
from escalator.standin.sender import AGENT, SlackSender, handoff_values
from escalator.standin.web_api import Reply, SlackStandIn
from escalator.store.database import Store, alembic_config

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


# ---------------------------------------------------------------- escalator check


@pytest.fixture
def deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack_api: SlackStandIn, store: Store
) -> Path:
    """The environment an admin sets, against the stand-in workspace and a migrated database."""
    return deploy(tmp_path, monkeypatch, slack_api.url, store.url, POLICY_YAML)


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = escalator(["check"])
    return code, capsys.readouterr().out.splitlines()


def test_check_passes_a_ready_deployment_line_by_line(deployment: Path, capsys: pytest.CaptureFixture[str]):
    code, lines = check(capsys)

    assert code == 0, "\n".join(lines)
    assert "✓ slack token: signed in as bot user U0BOT in Example" in lines
    assert "✓ slack scopes: all 14 scopes the app uses are granted" in lines
    # Each channel once, with every key that names it.
    assert (
        "✓ channel C0123SUP (supervisors.channel, digest.channel): #c0123sup exists and the bot is a member"
        in lines
    )
    assert "✓ user U0SAM (paths.billing.specialists): exists" in lines
    assert any(
        line.startswith("✓ database: sqlite") or line.startswith("✓ database: postgresql") for line in lines
    )
    assert any(line.startswith("✓ timezone and business hours: it is now") for line in lines)
    assert "✓ outbox: no message given up" in lines
    assert "! delivery: no delivery process has run yet" in lines  # before the app's first start
    assert lines[-1].startswith("all ") and lines[-1].endswith(" checks passed")
    assert not [line for line in lines if line.startswith("✗")]


def test_check_reports_messages_given_up_and_a_delivery_process_that_stopped(
    deployment: Path, store: Store, capsys: pytest.CaptureFixture[str]
):
    now = datetime.now(UTC)
    with store.transaction() as tx:
        tx.processes.alive("db1:42", now - timedelta(hours=2), now - timedelta(minutes=5))
        dead = tx.outbox.add(Message.post_digest, now, None, {"day": "2026-11-24"}, to="C0123SUP")
        tx.outbox.bury(dead, "channel_not_found")

    code, lines = check(capsys)
    text = "\n".join(lines)

    assert code == 1
    assert "✗ delivery: no delivery process has run since" in text
    assert "fix: start one: `escalator deliver` (python app.py runs one beside the web workers)" in text
    assert "✗ outbox: 1 message(s) given up (the oldest: post_digest, channel_not_found)" in text
    assert (
        "fix: see `escalator outbox list`; fix what Slack refused, then `escalator outbox retry --all`"
        in text
    )
    with store.transaction() as tx:
        tx.processes.alive("db1:43", now, now)
    code, lines = check(capsys)
    assert "✓ delivery: 1 delivery process(es) running (db1:43)" in lines


def test_check_names_each_problem_its_policy_key_and_the_fix(
    deployment: Path, slack_api: SlackStandIn, capsys: pytest.CaptureFixture[str]
):
    slack_api.channels["C0123TECH"] = {"is_member": False, "name": "tech-support"}
    slack_api.channels["C0123SUP"] = {"is_archived": True, "name": "support-leads"}
    slack_api.unknown |= {"C0456OOH", "U0SAM"}
    slack_api.deactivated.add("U0TECH")
    assert slack_api.scopes is not None
    slack_api.scopes -= {"users:read", "groups:read"}

    code, lines = check(capsys)
    text = "\n".join(lines)

    assert code == 1
    assert (
        "✗ channel C0123TECH (paths.technical.channel): the bot is not a member of #tech-support\n"
        "    fix: type `/invite @Escalator` in #tech-support"
    ) in text
    assert (
        "✗ channel C0123SUP (supervisors.channel, digest.channel): #support-leads is archived\n"
        "    fix: unarchive #support-leads, or set supervisors.channel and digest.channel to a channel in use"
    ) in text
    assert "✗ channel C0456OOH (paths.billing.after_hours_channel): channel not found" in text
    assert (
        "fix: check paths.billing.after_hours_channel (in Slack: channel details → About → Channel ID)"
        in text
    )
    assert "✗ user U0SAM (paths.billing.specialists): user not found" in text
    assert "✗ user U0TECH (paths.technical.specialists): this account is deactivated" in text
    scopes = next(line for line in lines if line.startswith("✗ slack scopes"))
    assert "groups:read (" in scopes and "users:read (" in scopes and "chat:write" not in scopes
    assert lines[-1] == f"{len([x for x in lines if x[:1] in ('✓', '✗', '!')])} checks, 6 failed"


def test_check_says_when_slack_cannot_be_reached_or_refuses_the_token(
    deployment: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack_api: SlackStandIn,
    capsys: pytest.CaptureFixture[str],
):
    slack_api.script("auth.test", Reply.error("invalid_auth"))
    code, lines = check(capsys)
    assert code == 1
    assert "✗ slack token: Slack refused SLACK_BOT_TOKEN (invalid_auth)" in lines

    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # nothing listens there
    code, lines = check(capsys)
    assert code == 1
    assert "✗ slack token: Slack could not be reached (connection_error)" in lines
    assert not [line for line in lines if line.startswith("✗ channel")]  # not 5 more timeouts


def test_check_reports_the_environment_policy_and_database_it_cannot_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never-migrated.db'}")
    (tmp_path / "policy.yml").write_text(
        POLICY_YAML.replace("P3: {acknowledge: 1h,", "P3: {acknowledge: 5d,").replace(
            "    channel: C0123TECH\n", ""
        )
    )

    code, lines = check(capsys)
    text = "\n".join(lines)

    assert code == 1
    assert "✗ environment: SLACK_BOT_TOKEN is not set" in text
    assert "✗ policy: policy.yml: paths.technical.channel: field required" in text
    assert "✗ database:" in text and "fix: run `escalator migrate`" in text
    assert "! slack workspace: not checked: fix the environment and the policy first" in text


def test_check_flags_sla_targets_out_of_order_and_unused_after_hours_channels(
    deployment: Path, capsys: pytest.CaptureFixture[str]
):
    hours = POLICY_YAML[POLICY_YAML.index("business_hours:") : POLICY_YAML.index("priorities:")]
    deployment.write_text(
        POLICY_YAML.replace(hours, "").replace("P3: {acknowledge: 1h,", "P3: {acknowledge: 5d,")
    )

    code, lines = check(capsys)

    assert code == 1
    assert (
        "✗ SLA targets priorities.P3: acknowledge, first_update and resolve are not in increasing order"
        in lines
    )
    assert (
        "✗ business hours: paths.billing.after_hours_channel is never used: the policy has no business_hours"
        in lines
    )
    assert any(line.startswith("✓ timezone: it is now") for line in lines)


def test_check_looks_up_the_policys_user_groups(
    deployment: Path, slack_api: SlackStandIn, capsys: pytest.CaptureFixture[str]
):
    deployment.write_text(
        POLICY_YAML.replace("    specialists: [U0TECH]\n", "    usergroup: S0TECH\n").replace(
            "  users: [U0SUPER]\n", "  usergroup: S0LEADS\n"
        )
    )
    slack_api.usergroups["S0TECH"] = ["U0TECH"]

    code, lines = check(capsys)

    assert code == 1
    assert "✓ user group S0TECH (paths.technical.usergroup): @s0tech exists" in lines
    assert "✗ user group S0LEADS (supervisors.usergroup): no such user group in this workspace" in lines


# ---------------------------------------------------------------- /metrics


def scrape(app: RunningApp) -> Samples:
    response = requests.get(app.slack.events_url.replace("/slack/events", "/metrics"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def samples(exposition: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_acks_and_web_api_calls_by_outcome(
    running_app: RunningApp, slack_api: SlackStandIn
):
    before = scrape(running_app)
    running_app.slack.command("refund please")
    escalation = raise_escalation(running_app, slack_api)
    slack_api.script("chat.postMessage", Reply.rate_limited(retry_after=1))
    running_app.slack.press("claim", escalation.id, "U0STRANGER")  # refused: still a request
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)  # its thread note meets the 429
    after = scrape(running_app)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("escalator_slack_requests_total", listener="command /escalate", status="200") == 1
    assert grew("escalator_slack_requests_total", listener="view_submission escalate_form", status="200") == 1
    assert grew("escalator_slack_requests_total", listener="action claim", status="200") == 2
    assert grew("escalator_slack_ack_seconds_count", listener="command /escalate") == 1
    assert grew("escalator_slack_ack_seconds_bucket", listener="command /escalate", le="3.0") == 1
    assert grew("escalator_slack_api_calls_total", method="views.open", outcome="ok") == 1
    assert grew("escalator_slack_api_calls_total", method="chat.postMessage", outcome="ratelimited") == 1
    assert grew("escalator_slack_api_calls_total", method="chat.postMessage", outcome="ok") >= 2


def test_metrics_refuse_to_label_an_unsigned_request_by_its_payload(running_app: RunningApp):
    before = scrape(running_app)
    forged = requests.post(
        running_app.slack.events_url,
        data={"command": "/anything-at-all", "text": "x"},
        headers={"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=forged"},
        timeout=5,
    )
    assert forged.status_code == 401
    after = scrape(running_app)
    assert (
        value(after, "escalator_slack_requests_total", listener="unverified", status="401")
        - value(before, "escalator_slack_requests_total", listener="unverified", status="401")
        == 1
    )
    assert not [key for key in after if "anything-at-all" in str(key)]


def test_metrics_read_the_queue_timers_states_and_breaches_from_the_database(
    running_app: RunningApp, slack_api: SlackStandIn
):
    first = raise_escalation(running_app, slack_api)
    raise_escalation(
        running_app, slack_api, path={"type": "static_select", "selected_option": {"value": "technical"}}
    )
    pressed_and_settled(running_app, slack_api, "claim", first, ALEX)

    found = scrape(running_app)
    assert value(found, "escalator_database_up") == 1
    assert value(found, "escalator_escalations", state="claimed", path="billing") == 1
    assert value(found, "escalator_escalations", state="open", path="technical") == 1
    assert value(found, "escalator_outbox_waiting") == 0
    assert value(found, "escalator_timers_due") == 0

    # Slack goes away: a message waits; the clock passes the acknowledge target with nobody ticking.
    slack_api.script("chat.postMessage", *[Reply.server_error()] * 20)
    running_app.clock.advance(minutes=20)
    raise_escalation_without_waiting(running_app)
    found = scrape(running_app)
    assert value(found, "escalator_outbox_waiting") == 2  # the new card, and the agent's note behind it
    assert value(found, "escalator_outbox_oldest_waiting_seconds") >= 0
    assert value(found, "escalator_timers_due") >= 1  # the technical case's acknowledge breach
    assert value(found, "escalator_timers_late") >= 1  # due 5 min ago, unfired
    running_app.tick()
    found = scrape(running_app)
    assert value(found, "escalator_sla_breaches_total", target="acknowledge", priority="P2") == 1
    assert value(found, "escalator_sla_breaches_total", target="resolve", priority="P2") == 0


def raise_escalation_without_waiting(app: RunningApp) -> None:
    assert app.slack.submit(handoff_values()).json()["response_action"] == "update"
    app.settle()


def test_metrics_say_the_database_is_down_rather_than_fail(running_app: RunningApp):
    original = running_app.store.reading

    def unreachable():  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    running_app.store.reading = unreachable  # type: ignore[method-assign]
    try:
        found = scrape(running_app)
    finally:
        running_app.store.reading = original  # type: ignore[method-assign]
    assert value(found, "escalator_database_up") == 0
    assert ("escalator_outbox_waiting", ()) not in found


# ---------------------------------------------------------------- log lines


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


def parsed(lines: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in lines.getvalue().splitlines()]


def test_json_logs_one_line_per_request_and_per_state_change_with_their_ids(
    running_app: RunningApp, slack_api: SlackStandIn, json_log: io.StringIO
):
    escalation = raise_escalation(running_app, slack_api)
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    lines = parsed(json_log)

    requests_ = [line for line in lines if line["message"] == "slack request"]
    submitted, claimed = requests_[-2], requests_[-1]
    assert submitted["listener"] == "view_submission escalate_form" and submitted["status"] == 200
    assert submitted["escalation_id"] == escalation.id  # known once stored, before the ack
    assert claimed["listener"] == "action claim" and claimed["escalation_id"] == escalation.id
    assert claimed["slack_request_id"].endswith(".7777.trigger") and claimed["ack_ms"] >= 0

    changes = [line for line in lines if line["logger"] == "escalator.changes"]
    raised, claim = changes[-2], changes[-1]
    assert (raised["action"], raised["to_state"], raised["actor"]) == ("raise", "open", AGENT)
    assert (claim["action"], claim["from_state"], claim["to_state"]) == ("claim", "open", "claimed")
    assert claim["escalation_id"] == escalation.id
    # The claim was stored after the ack, on the listener pool: it still carries its request's id.
    assert claim["slack_request_id"] == claimed["slack_request_id"]
    assert raised["slack_request_id"] == submitted["slack_request_id"]
    assert {"time", "level", "process"} <= set(claim)


def test_logs_carry_no_customer_details_or_secrets(
    running_app: RunningApp, slack_api: SlackStandIn, json_log: io.StringIO
):
    escalation = raise_escalation(running_app, slack_api)
    running_app.slack.submit_form(
        "update_form",
        escalation.id,
        {"update": {"type": "plain_text_input", "value": "Rang Jane Doe"}},
        AGENT,
    )
    pressed_and_settled(running_app, slack_api, "claim", escalation, ALEX)
    written = json_log.getvalue()
    for private in ("Jane Doe", "12345", "invoice #789", BOT_TOKEN, SIGNING_SECRET):
        assert private not in written


def test_text_logs_keep_the_ids_readable_on_one_line():
    record = logging.LogRecord(
        "escalator.changes", logging.INFO, __file__, 1, "escalation %s", ("claim",), None
    )
    record.escalation_id = 42
    record.to_state = "claimed"
    assert TextFormatter().format(record).endswith("escalation claim escalation_id=42 to_state=claimed")


# ---------------------------------------------------------------- migrate --sql, backup


def test_migrate_sql_prints_the_upgrade_and_changes_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert escalator(["migrate", "--sql"]) == 0
    printed = capsys.readouterr()
    assert "CREATE TABLE escalations" in printed.out and "CREATE TABLE outbox" in printed.out
    assert "from an empty database" in printed.err
    assert not Store(database_url).schema_is_current()

    assert escalator(["migrate"]) == 0
    capsys.readouterr()
    assert escalator(["migrate", "--sql"]) == 0
    printed = capsys.readouterr()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert "CREATE TABLE" not in printed.out and f"from revision {head}" in printed.err


def test_migrate_sql_from_an_older_schema_prints_only_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    with store.engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    store.dispose()
    monkeypatch.setenv("DATABASE_URL", url)

    assert escalator(["migrate", "--sql"]) == 0
    printed = capsys.readouterr()
    assert "from revision 0004" in printed.err
    assert "posted_channel" in printed.out and "CREATE TABLE contact_volumes" not in printed.out
    assert not Store(url).schema_is_current()  # the real database is untouched


def test_backup_copies_the_running_database_into_one_file(
    running_app: RunningApp,
    slack_api: SlackStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    if not running_app.store.url.startswith("sqlite"):
        monkeypatch.setenv("DATABASE_URL", running_app.store.url)
        assert escalator(["backup", str(tmp_path / "x.db")]) == 2
        assert "pg_dump" in capsys.readouterr().err
        return
    escalation = raise_escalation(running_app, slack_api)
    monkeypatch.setenv("DATABASE_URL", running_app.store.url)
    target = tmp_path / "backups"
    target.mkdir()

    assert escalator(["backup", str(target)]) == 0  # while the app holds its connections
    (copy,) = target.glob("escalator-*.db")
    assert "backed up" in capsys.readouterr().out
    with sqlite3.connect(copy) as db:
        assert db.execute(
            "SELECT customer_name FROM escalations WHERE id = ?", (escalation.id,)
        ).fetchone() == ("Jane Doe",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert Store(f"sqlite:///{copy}").schema_is_current()
    assert not list(target.glob(".*partial"))


def test_backup_refuses_to_overwrite_the_database_itself(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    if not store.url.startswith("sqlite"):
        pytest.skip("SQLite only")
    monkeypatch.setenv("DATABASE_URL", store.url)
    assert escalator(["backup", store.url.removeprefix("sqlite:///")]) == 2
    assert "PATH is the database itself" in capsys.readouterr().err


# ---------------------------------------------------------------- the real server


def test_the_server_warns_at_start_adds_up_every_process_and_logs_json(
    tmp_path: Path, slack_api: SlackStandIn, database_url: str
):
    (tmp_path / "policy.yml").write_text(ALWAYS_OPEN_POLICY_YAML)
    slack_api.channels["C0123TECH"] = {"is_member": False, "name": "tech-support"}
    process, base = serve_against(
        tmp_path, slack_api, DATABASE_URL=database_url, ESCALATOR_WORKERS="3", LOG_FORMAT="json"
    )
    sender = SlackSender(base, SIGNING_SECRET, slack_api.response_url)
    try:
        for _ in range(12):  # spread over the three workers by the kernel
            assert sender.command("refund please").status_code == 200
        assert sender.submit(handoff_values()).json()["response_action"] == "update"
        slack_api.wait_for("chat.postMessage", 2)  # posted by the delivery process
        deadline = time.monotonic() + 10
        while True:  # every scrape, whichever worker answers it, adds up all the processes
            found = samples(requests.get(base + "/metrics", timeout=5).text)
            posted = value(found, "escalator_slack_api_calls_total", method="chat.postMessage", outcome="ok")
            if posted >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for _ in range(3):
            found = samples(requests.get(base + "/metrics", timeout=5).text)
            assert (
                value(found, "escalator_slack_requests_total", listener="command /escalate", status="200")
                == 12
            )
        assert value(found, "escalator_slack_ack_seconds_count", listener="command /escalate") == 12
        assert posted >= 2
        assert value(found, "escalator_escalations", state="open", path="billing") == 1
    finally:
        log = stop_app_process(process)

    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is JSON
    warnings = [line["message"] for line in lines if line["level"] == "WARNING"]
    assert any(
        "check failed: channel C0123TECH (paths.technical.channel): the bot is not a member of "
        "#tech-support; fix: type `/invite @Escalator` in #tech-support" in warning
        for warning in warnings
    )
    assert any(line["logger"].startswith("gunicorn") for line in lines)  # gunicorn's own lines too
    assert [line for line in lines if line.get("listener") == "view_submission escalate_form"]
    assert "Jane Doe" not in log and "12345" not in log and BOT_TOKEN not in log


def test_a_database_error_in_the_logs_does_not_quote_the_values_it_was_storing(store: Store):
    from sqlalchemy import text as sql

    with pytest.raises(Exception) as failed, store.transaction() as tx:
        tx.session.execute(sql("INSERT INTO no_such_table (name) VALUES (:name)"), {"name": "Jane Doe"})
    assert "Jane Doe" not in str(failed.value)


def test_socket_mode_serves_healthz_and_metrics_on_its_port(running_app: RunningApp):
    port = free_port()
    probes = serve_probes(port, running_app.worker.web)
    assert probes is not None
    try:
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["status"] == "ok"
        assert "escalator_database_up 1.0" in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert serve_probes(port, running_app.worker.web) is None  # port taken: a warning, not a crash
    finally:
        probes.shutdown()
        probes.server_close()
