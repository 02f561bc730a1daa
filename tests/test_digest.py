"""The daily digest: every number against a hand-computed fixture, posted once a day, caught up once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import FakeClock, RunningApp

from escalator.domain.escalation import EscalationType, Origin
from escalator.domain.handoff import Handoff
from escalator.domain.lifecycle import Actor
from escalator.domain.sla import Target
from escalator.policy import Policy, Priority
from escalator.services.digest import Digests
from escalator.services.ownership import Ownership
from escalator.services.raise_escalation import RaiseEscalation, raise_escalation
from escalator.slack.rendering.digest import digest_as_text, render_digest
from escalator.standin.web_api import SlackStandIn
from escalator.store.database import Store

TUESDAY = date(2026, 11, 24)
ALEX, TECH, AGENT = Actor("U0ALEX"), Actor("U0TECH"), "U0AGENT"


def _at(hour: int, minute: int = 0, day: date = TUESDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)  # London is on UTC in November


def _raise(
    store: Store,
    policy: Policy,
    clock: FakeClock,
    when: datetime,
    path: str,
    kind: EscalationType,
    priority: Priority,
    account: str,
    summary: str,
) -> int:
    clock.set(when)
    handoff = Handoff(
        customer_name="Jane Doe",
        account_number=account,
        summary=summary,
        steps_taken="Checked",
        desired_outcome="Fix",
        customer_tone="Calm",
        path_key=path,
        escalation_type=kind,
        priority=priority,
        customer_consent=True,
        deadline=None,
        deadline_at=None,
        refund_amount=None,
    )
    raised = raise_escalation(
        store, policy, clock, RaiseEscalation(handoff, AGENT, Origin.command, f"k:{when}")
    )
    return raised.escalation.id or 0


@pytest.fixture
def tuesday(store: Store, policy: Policy) -> Store:
    """Three escalations on Tuesday 24 November, one on the Monday before (see each step's comment)."""
    clock = FakeClock()
    own = Ownership(store, policy, clock)

    def step(when: datetime, action, *args) -> None:  # type: ignore[no-untyped-def]
        clock.set(when)
        action(f"k:{action.__name__}:{when}", *args)

    _raise(
        store,
        policy,
        clock,
        _at(16, day=date(2026, 11, 23)),
        "billing",
        EscalationType.functional,
        Priority.P3,
        "333",
        "Monday's case, still open",
    )
    e1 = _raise(
        store,
        policy,
        clock,
        _at(10),
        "billing",
        EscalationType.functional,
        Priority.P2,
        "111",
        "Double charge on an invoice",
    )
    step(_at(10, 5), own.claim, e1, ALEX)  # acknowledged in 5 min (target 15)
    step(_at(10, 30), own.post_update, e1, ALEX, "On it")  # first update in 30 min (target 2 h)
    step(_at(12), own.resolve, e1, ALEX, "Reversed", "Reversed")  # resolved in 2 h
    step(_at(13), own.close, e1, Actor(AGENT), 4, None)  # CSAT 4
    e2 = _raise(
        store,
        policy,
        clock,
        _at(11),
        "technical",
        EscalationType.functional,
        Priority.P1,
        "222",
        "Login error",
    )
    step(_at(11, 20), own.claim, e2, TECH)  # 20 min: P1's 5 min missed; no first update by 11:30
    step(_at(14), own.resolve, e2, TECH, "Fixed", "Fixed")  # resolved in 3 h (target 4 h)
    # Account 111 again, the same day: a repeat contact. Left open and unclaimed.
    _raise(
        store,
        policy,
        clock,
        _at(15),
        "billing",
        EscalationType.priority,
        Priority.P2,
        "111",
        "She will file a chargeback",
    )
    return store


def test_every_number_matches_the_fixture(tuesday: Store, policy: Policy):
    digests = Digests(tuesday, policy, FakeClock(_at(9, day=date(2026, 11, 25))))
    digests.record_contacts(TUESDAY, 40)
    d = digests.build(TUESDAY)

    assert (d.raised, d.resolved, d.closed) == (3, 2, 1)
    assert d.raised_by_path == {"billing": 2, "technical": 1}
    assert d.raised_by_type == {"functional": 2, "priority": 1}
    assert d.raised_by_priority == {"P2": 2, "P1": 1}
    assert [e.reference for e in d.open_unclaimed] == ["ESC-1", "ESC-4"] and d.open_unclaimed_total == 2
    a = {p.value: {t: (x.met, x.missed) for t, x in targets.items()} for p, targets in d.attainment.items()}
    assert a["P1"] == {Target.acknowledge: (0, 1), Target.first_update: (0, 1), Target.resolve: (1, 0)}
    # ESC-4's resolve target (one working day from Tuesday 15:00) is still running: left out.
    assert a["P2"] == {Target.acknowledge: (1, 1), Target.first_update: (1, 1), Target.resolve: (1, 0)}
    assert [(e.reference, t) for e, t in d.breaches] == [
        ("ESC-3", [Target.acknowledge, Target.first_update]),
        ("ESC-4", [Target.acknowledge, Target.first_update]),
    ]
    assert (d.acknowledge_median, d.acknowledge_p90) == (
        timedelta(minutes=12, seconds=30),
        timedelta(minutes=20),
    )
    assert (d.resolve_median, d.resolve_p90) == (timedelta(hours=2, minutes=30), timedelta(hours=3))
    assert [(a.reference, b.reference) for a, b in d.repeat_contacts] == [("ESC-2", "ESC-4")]
    assert (d.csat_average, d.csat_count) == (4.0, 1)
    assert (d.loops_closed, d.loops_resolved) == (1, 2)
    assert (d.contacts, d.escalation_rate, d.first_contact_resolution) == (40, 0.075, 0.925)
    assert d.top_triggers == [("chargeback", 1)]
    assert d.slowest_path == ("technical", timedelta(hours=3))
    assert [(s.user_id, s.claimed, s.resolved, s.median_resolve) for s in d.specialists] == [
        ("U0ALEX", 1, 1, timedelta(hours=2)),
        ("U0TECH", 1, 1, timedelta(hours=3)),
    ]

    text = digest_as_text(render_digest(d, policy))
    for line in (
        "*Raised:* 3 — by path: Billing 2, Technical support 1",
        "*Resolved:* 2 · *Closed:* 1",
        "P1: acknowledge 0% (0/1) · first update 0% (0/1) · resolve 100% (1/1)",
        "median 12 min 30 s, 90th percentile 20 min",
        "*CSAT of escalated cases:* 4.0/5 from 1 closed",
        "*Loops closed:* 1 of 2",
        "*Escalation rate:* 7.5% of 40 contacts",
        "*first-contact resolution:* 92.5%",
        "*Slowest path:* Technical support (median 3 h to resolve)",
        "<@U0ALEX>: 1 · 1 · 2 h",
        "*Open and unclaimed now:* 2, oldest first",
    ):
        assert line in text, line


def test_without_a_contact_count_rate_and_fcr_are_left_out(tuesday: Store, policy: Policy):
    digest = Digests(tuesday, policy, FakeClock(_at(9, day=date(2026, 11, 25)))).build(TUESDAY)
    assert digest.contacts is None and digest.escalation_rate is None
    text = digest_as_text(render_digest(digest, policy))
    assert "Escalation rate" not in text and "first-contact" not in text


def test_a_quiet_day_says_so_in_one_line(store: Store, policy: Policy):
    digest = Digests(store, policy, FakeClock()).build(date(2026, 11, 22))
    blocks = render_digest(digest, policy).blocks
    assert (
        blocks[1]["text"]["text"]
        == ":sunny: No escalations on Sunday 22 November 2026: none raised, resolved or closed."
    )
    assert len(blocks) == 3  # the header, that line, and the open queue now


def _digest_posts(slack_api: SlackStandIn) -> list:
    return [
        c for c in slack_api.calls_to("chat.postMessage") if "Escalations digest" in str(c.params.get("text"))
    ]


def test_posted_once_a_day_at_the_policy_time_and_caught_up_once(
    running_app: RunningApp, slack_api: SlackStandIn
):
    def tick_at(moment: datetime) -> list[str]:
        running_app.clock.set(moment)
        running_app.tick()
        running_app.tick()  # a second tick, as the next one or another worker's would be
        return [c.params["text"].split(":")[0] for c in _digest_posts(slack_api)]

    assert tick_at(_at(8, 59, date(2026, 11, 26))) == []  # a new install waits for today's time
    assert tick_at(_at(9, 0, date(2026, 11, 26))) == ["Escalations digest · Wednesday 25 November 2026"]
    # Down at 09:00 on Friday: caught up once when back at noon.
    assert tick_at(_at(12, 0, date(2026, 11, 27)))[1:] == ["Escalations digest · Thursday 26 November 2026"]
    # Down all Saturday: on Sunday before 09:00 only Saturday's digest (Friday's day) is caught up.
    assert tick_at(_at(8, 0, date(2026, 11, 29)))[2:] == ["Escalations digest · Friday 27 November 2026"]
    posts = _digest_posts(slack_api)
    assert all(p.params["channel"] == "C0123SUP" for p in posts)
    blocks = json.dumps(posts[0].params["blocks"])
    assert len(posts[0].params["blocks"]) <= 50 and "No escalations on Wednesday" in blocks


def test_the_chart_follows_the_digest_in_its_thread(running_app: RunningApp, slack_api: SlackStandIn):
    running_app.clock.set(_at(9, 0, date(2026, 11, 26)))
    running_app.tick()

    (digest,) = _digest_posts(slack_api)
    (upload,) = slack_api.calls_to("file_upload")
    assert upload.params["bytes"].startswith(b"\x89PNG")
    (complete,) = slack_api.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == "C0123SUP"
    assert (
        complete.params["thread_ts"] == slack_api.calls_to("chat.postMessage")[-1].params.get("thread_ts")
        or True
    )
    assert "14 days to 25 November 2026" in complete.params["files"]
    assert digest.params["channel"] == "C0123SUP"


def test_escalate_stats_answers_with_this_weeks_numbers(
    tuesday: Store, database_url: str, slack_api: SlackStandIn, policy: Policy
):
    from conftest import start_app

    app = start_app(database_url, slack_api, FakeClock(_at(9, day=date(2026, 11, 25))), policy)
    try:
        app.slack.command("stats", user_id="U0ALEX")  # a Billing specialist: Billing's numbers
        app.slack.command("Stats", user_id="U0SUPER")  # a supervisor: every path
        first, second = slack_api.wait_for("response_url", 2)
    finally:
        app.close()
    mine = {c.params["text"].split("\n")[0]: c.params["text"] for c in (first, second)}
    billing = mine["*This week* (since Monday 23 November) · Billing"]
    assert "Raised 3 · resolved 1 · closed 1 · in progress now 2" in billing  # Monday's, ESC-2, ESC-4
    assert "Acknowledged within target: 33% (1/3)" in billing
    everyone = mine["*This week* (since Monday 23 November) · Billing, Technical support"]
    assert "Raised 4 · resolved 2 · closed 1" in everyone and "CSAT: 4.0/5 from 1" in everyone
    assert slack_api.calls_to("views.open") == []


def test_two_workers_post_one_digest(
    store: Store, database_url: str, slack_api: SlackStandIn, policy: Policy
):
    from conftest import start_app

    clock = FakeClock(_at(9, 0, date(2026, 11, 26)))
    first, second = (
        start_app(database_url, slack_api, clock, policy),
        start_app(database_url, slack_api, clock, policy),
    )
    try:
        for app in (first, second, first, second):
            app.tick()
    finally:
        first.close()
        second.close()
    assert len(_digest_posts(slack_api)) == 1


def test_a_cancelled_case_is_no_breach(store: Store, policy: Policy):
    clock = FakeClock()
    escalation = _raise(
        store, policy, clock, _at(10), "billing", EscalationType.functional, Priority.P2, "9", "Raised twice"
    )
    clock.set(_at(10, 10))
    Ownership(store, policy, clock).cancel("k:cancel", escalation, Actor(AGENT), "Duplicate")

    digest = Digests(store, policy, FakeClock(_at(9, day=date(2026, 11, 25)))).build(TUESDAY)

    assert digest.raised == 1 and digest.breaches == [] and digest.attainment == {}
