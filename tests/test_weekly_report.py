"""The weekly report: the week's topics with their trend, per agent privately to the supervisors, a CSV
for the product team; sent once on Monday, and by `escalator report --week`."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import POLICY_YAML, FakeClock, RunningApp, start_app
from sqlalchemy import select
from test_ownership import pressed_and_settled

from escalator.cli import main
from escalator.domain.escalation import Escalation
from escalator.domain.feedback import arrived_without_steps, trends, week_bounds
from escalator.errors import ConfigurationError
from escalator.policy import parse_policy
from escalator.services.weekly_report import last_full_week
from escalator.standin.sender import handoff_values, text
from escalator.standin.sender import select as option
from escalator.standin.web_api import Call, SlackStandIn
from escalator.store.database import Store

MAYA, OMAR, ALEX, SUPER = "U0MAYA", "U0OMAR", "U0ALEX", "U0SUPER"
SUPERVISORS, PRODUCT, SUPER_DM = "C0123SUP", "C0PRODUCT", "D0SUPER"
WEEKLY = POLICY_YAML + 'weekly_report: {day: mon, at: "09:00", product_channel: C0PRODUCT}\n'
MONDAY = date(2026, 11, 23)  # London is on UTC in November


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# The rules.


@pytest.mark.parametrize("steps", ["n/a", "N/A.", "none", "Nothing yet!", " - ", "no", "...", "Not yet"])
def test_a_non_answer_is_no_steps_taken(steps: str):
    assert arrived_without_steps(steps)


@pytest.mark.parametrize("steps", ["Checked the invoice", "no refund possible, checked the ledger", "Reset"])
def test_real_steps_are_steps(steps: str):
    assert not arrived_without_steps(steps)


def test_topics_rank_by_this_week_and_show_their_trend():
    rows = trends(Counter(refund=5, bug=2, outage=2, login=1), Counter(refund=2, bug=4, login=1, crash=3))
    assert [(r.word, r.this_week, r.trend) for r in rows] == [
        ("refund", 5, "▲ 3"),
        ("outage", 2, "new"),  # a rise outranks a fall at the same count
        ("bug", 2, "▼ 2"),
        ("login", 1, "="),
    ]


def test_a_week_ending_with_the_clocks_going_back_is_an_hour_longer():
    start, end = week_bounds(date(2026, 10, 19), parse_policy(WEEKLY).zone)
    assert end - start == timedelta(days=7, hours=1)


def test_the_policy_keys_are_checked_by_name():
    with pytest.raises(ConfigurationError, match=r"weekly_report\.day: input should be 'mon'"):
        parse_policy(POLICY_YAML + "weekly_report: {day: monday}\n")
    with pytest.raises(ConfigurationError, match=r"weekly_report\.product_channel: .*in quotes"):
        parse_policy(POLICY_YAML + "weekly_report:\n  product_channel: #product\n")


# Through Slack.


def _raise(app: RunningApp, slack_api: SlackStandIn, agent: str, summary: str, **more: Any) -> Escalation:
    """Raise through the form as `agent`, and wait until its card and the agent's note are out."""
    before = len(slack_api.calls_to("chat.postMessage"))
    submitted = app.slack.submit(handoff_values(summary=text(summary), **more), user_id=agent)
    assert submitted.json()["response_action"] == "update"
    slack_api.wait_for("chat.postMessage", before + 2)
    app.settle()
    with app.store.reading() as tx:
        return tx.session.scalars(select(Escalation).order_by(Escalation.id.desc())).first()  # type: ignore[return-value]


def _reports(slack_api: SlackStandIn) -> dict[str, Call]:
    posts = [
        c for c in slack_api.calls_to("chat.postMessage") if "Weekly escalations report" in c.params["text"]
    ]
    return {c.params["channel"]: c for c in posts}


def _uploads(slack_api: SlackStandIn) -> dict[str, bytes]:
    """Each CSV by the channel it was shared in."""
    completed = slack_api.calls_to("files.completeUploadExternal")
    uploaded = slack_api.calls_to("file_upload")
    return {
        c.params["channel_id"]: u.params["bytes"]
        for c, u in zip(completed, uploaded, strict=True)
        if "the week of" in c.params["files"]  # not the daily digest's chart
    }


@pytest.fixture
def weekly_app(store: Store, database_url: str, slack_api: SlackStandIn) -> RunningApp:
    app = start_app(
        database_url, slack_api, FakeClock(_at(MONDAY - timedelta(days=6), 10)), parse_policy(WEEKLY)
    )
    yield app
    app.close()


def test_monday_brings_the_report_to_each_audience_once(weekly_app: RunningApp, slack_api: SlackStandIn):
    app = weekly_app
    _raise(app, slack_api, MAYA, "Customer asks for a refund")  # the week before
    app.clock.set(_at(MONDAY + timedelta(days=1), 10))
    first = _raise(app, slack_api, MAYA, "Refund for a double charge on the invoice")
    _raise(app, slack_api, MAYA, "Refund please", steps_taken=text("n/a"))
    moved = _raise(app, slack_api, OMAR, "Login bug: app crash", path=option("technical"))
    pressed_and_settled(app, slack_api, "claim", first, ALEX)
    app.slack.press("resolve", first.id, ALEX)
    app.slack.submit_form(
        "resolve_form", first.id, {"done": text("Refunded"), "for_customer": text("Done")}, ALEX
    )
    app.settle()
    app.slack.press("move", moved.id, OMAR)
    app.slack.submit_form(
        "move_form", moved.id, {"destination": option("billing"), "reason": text("Billing owns it")}, OMAR
    )
    app.settle()

    app.clock.set(_at(MONDAY + timedelta(days=7), 8))
    app.tick()
    assert _reports(slack_api) == {}  # not before the policy's time
    app.clock.set(_at(MONDAY + timedelta(days=7), 9))
    for _ in range(3):  # the next ticks, or another worker's, send nothing more
        app.tick()

    reports = _reports(slack_api)
    assert set(reports) == {SUPERVISORS, SUPER, PRODUCT}
    csvs = _uploads(slack_api)
    assert set(csvs) == {SUPERVISORS, SUPER_DM, PRODUCT}  # the supervisor's in their DM with the app
    channel = str(reports[SUPERVISORS].params["blocks"])
    assert "23 November – 29 November 2026" in channel and "*3* escalations raised" in channel
    assert "refund: 2 (▲ 1)" in channel and "bug: 1 (new)" in channel
    assert MAYA not in channel and "Per agent" not in channel  # per agent is for the supervisors only
    private = str(reports[SUPER].params["blocks"])
    assert f"<@{MAYA}>: 2 · 1 · 1" in private and f"<@{OMAR}>: 1 · 0 · 0" in private

    rows = list(csv.DictReader(io.StringIO(csvs[SUPER_DM].decode())))
    assert {
        "kind": "agent",
        "agent": MAYA,
        "raised": "2",
        "resolved_by_first_specialist": "1",
        "without_steps_taken": "1",
    }.items() <= rows[-2].items() or any(r["agent"] == MAYA and r["without_steps_taken"] == "1" for r in rows)
    product = list(csv.DictReader(io.StringIO(csvs[PRODUCT].decode())))
    assert {r["kind"] for r in product} == {"topic"}  # no per-agent figures for the product team
    refund = next(r for r in product if r["topic"] == "refund" and r["path"] == "")
    assert (refund["escalations"], refund["last_week"], refund["change"]) == ("2", "1", "1")


def test_escalator_report_week_prints_it_and_writes_the_csv(
    store: Store,
    database_url: str,
    slack_api: SlackStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    policy = parse_policy(WEEKLY)
    week = last_full_week(datetime.now(UTC), policy)  # the command's clock is the real one
    app = start_app(database_url, slack_api, FakeClock(_at(week + timedelta(days=2), 11)), policy)
    try:
        _raise(app, slack_api, MAYA, "Outage: everyone is down", steps_taken=text("none"))
    finally:
        app.close()
    (tmp_path / "policy.yml").write_text(WEEKLY)
    monkeypatch.setenv("ESCALATOR_POLICY", str(tmp_path / "policy.yml"))
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert main(["report", "--week", "--csv", str(tmp_path / "week.csv")]) == 0
    out = capsys.readouterr().out
    assert "1* escalations raised" in out and "outage: 1 (new)" in out and f"<@{MAYA}>: 1 · 0 · 1" in out
    rows = list(csv.DictReader((tmp_path / "week.csv").open()))
    assert {r["topic"] for r in rows if r["kind"] == "topic"} >= {"outage", "everyone"}
    assert main(["report", "--week", "--weeks-ago", "1"]) == 0
    assert "*0* escalations raised" in capsys.readouterr().out


def test_escalator_report_week_post_sends_it_as_the_scheduler_would_and_only_once(
    store: Store, database_url: str, slack_api: SlackStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "policy.yml").write_text(WEEKLY)
    for name, value in {
        "ESCALATOR_POLICY": str(tmp_path / "policy.yml"),
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_API_URL": slack_api.url,
    }.items():
        monkeypatch.setenv(name, value)

    assert main(["report", "--week", "--post"]) == 0
    assert set(_reports(slack_api)) == {SUPERVISORS, SUPER, PRODUCT}
    assert set(_uploads(slack_api)) == {SUPERVISORS, SUPER_DM, PRODUCT}
    # The scheduler, at the week's sending time, does not send that week's again.
    policy = parse_policy(WEEKLY)
    week = last_full_week(datetime.now(UTC), policy)
    app = start_app(database_url, slack_api, FakeClock(_at(week + timedelta(days=7), 10)), policy)
    try:
        app.tick()
    finally:
        app.close()
    assert len([c for c in slack_api.calls_to("chat.postMessage") if "Weekly" in c.params["text"]]) == 3
