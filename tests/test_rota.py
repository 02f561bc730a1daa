"""Rotas: who is on duty now, until when and who is next (the rules, DST included), and what Slack shows
of it: the card, the agent's next steps, the acknowledge nudge, a breach's re-escalation, `/escalate who`,
App Home, and `escalator check`'s gaps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import POLICY_YAML, WEDNESDAY_MORNING, FakeClock, RunningApp, deploy, start_app
from test_home import _home_of, _open_home, _shown
from test_names import NAMED_POLICY_YAML, check
from test_ownership import ALEX, BILLING, SAM, SUPER, current, pressed_and_settled, raise_escalation
from test_rendering import _escalation
from test_timers import NUDGE_TEXT, at, posts

from escalator.checks import policy_checks
from escalator.domain.escalation import State
from escalator.domain.rota import DutyKind, duty_at, next_duty, week_gaps
from escalator.policy import Policy, Rota, parse_policy
from escalator.services.rotas import who_is_on_duty
from escalator.slack.rendering.card import render_card
from escalator.slack.rendering.rota import render_who
from escalator.standin.sender import AGENT
from escalator.standin.sender import select as option
from escalator.standin.web_api import SlackStandIn
from escalator.standin.workspace import example_workspace
from escalator.store.database import Store

ONCALL, LEAD = "U0ONCALL", "U0LEAD"
LONDON = ZoneInfo("Europe/London")
_BILLING_ROTA = """    rota:
      shifts:
        - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "13:00", on_duty: [U0ALEX]}
        - {days: [mon, tue, wed, thu, fri], from: "13:00", to: "17:30", on_duty: [U0SAM]}
      after_hours: [U0ONCALL]
      overrides:
        - {from: 2026-12-24, to: "2026-12-26", on_duty: [U0SAM], note: Christmas cover}
"""
_SUPERVISORS_ROTA = """  rota:
    shifts:
      - {days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", on_duty: [U0LEAD]}
"""
# The tests' policy with a rota for Billing (after hours: an on-call contact who is no specialist) and
# one for the supervisors (a lead on duty in the day, named only there).
ROTA_POLICY_YAML = POLICY_YAML.replace(
    "    keywords: [refund, invoice, charge, chargeback]\n",
    "    keywords: [refund, invoice, charge, chargeback]\n" + _BILLING_ROTA,
).replace("  users: [U0SUPER]\n", "  users: [U0SUPER]\n" + _SUPERVISORS_ROTA)


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


def _rota(shifts: list[dict], **rest: object) -> Rota:
    return Rota.model_validate({"shifts": shifts, **rest})


@pytest.fixture
def rota_policy() -> Policy:
    return parse_policy(ROTA_POLICY_YAML)


@pytest.fixture
def billing_rota(rota_policy: Policy) -> Rota:
    rota = rota_policy.paths["billing"].rota
    assert rota is not None
    return rota


# ---------------------------------------------------------------- the rules


def test_a_shift_says_who_until_when_and_who_is_next(billing_rota: Rota):
    now = duty_at(billing_rota, WEDNESDAY_MORNING, LONDON)  # Wednesday 10:00

    assert (now.people, now.kind, now.until) == ((ALEX,), DutyKind.shift, _local(2026, 11, 25, 13, 0))
    after = next_duty(billing_rota, now, LONDON)
    assert after is not None
    assert (after.people, after.since, after.until) == ((SAM,), now.until, _local(2026, 11, 25, 17, 30))
    evening = next_duty(billing_rota, after, LONDON)
    assert evening is not None and (evening.people, evening.kind) == ((ONCALL,), DutyKind.after_hours)
    assert evening.until == _local(2026, 11, 26, 9, 0)


def test_after_hours_covers_the_weekend(billing_rota: Rota):
    saturday = duty_at(billing_rota, _local(2026, 11, 28, 12, 0), LONDON)

    assert (saturday.people, saturday.kind) == ((ONCALL,), DutyKind.after_hours)
    assert saturday.until == _local(2026, 11, 30, 9, 0)  # Monday morning


def test_an_override_replaces_the_shifts_on_its_dates(billing_rota: Rota):
    christmas_eve = duty_at(billing_rota, _local(2026, 12, 24, 10, 0), LONDON)  # a Thursday

    assert (christmas_eve.people, christmas_eve.kind) == ((SAM,), DutyKind.override)
    assert christmas_eve.note == "Christmas cover"
    assert christmas_eve.until == _local(2026, 12, 27, 0, 0)  # the day after its last, at midnight
    the_day_before = duty_at(billing_rota, _local(2026, 12, 23, 20, 0), LONDON)
    assert the_day_before.until == _local(2026, 12, 24, 0, 0)


def test_an_overnight_shift_ends_the_next_morning():
    rota = _rota([{"days": ["fri"], "from": "22:00", "to": "06:00", "on_duty": [SAM]}])

    assert duty_at(rota, _local(2026, 11, 27, 21, 59), LONDON).people == ()
    friday_night = duty_at(rota, _local(2026, 11, 28, 3, 0), LONDON)  # Saturday, 3 in the morning
    assert friday_night.people == (SAM,) and friday_night.until == _local(2026, 11, 28, 6, 0)
    assert duty_at(rota, _local(2026, 11, 28, 6, 0), LONDON).people == ()
    assert [gap.describe() for gap in week_gaps(rota)] == ["Sat 06:00–Fri 22:00"]


def test_overlapping_shifts_put_both_on_duty():
    rota = _rota(
        [
            {"days": ["mon"], "from": "09:00", "to": "17:00", "on_duty": [ALEX]},
            {"days": ["mon"], "from": "12:00", "to": "14:00", "on_duty": [SAM, ALEX]},
        ]
    )

    lunch = duty_at(rota, _local(2026, 11, 30, 12, 30), LONDON)
    assert lunch.people == (ALEX, SAM) and lunch.until == _local(2026, 11, 30, 14, 0)


def test_shifts_keep_to_the_wall_clock_across_a_dst_change():
    # Europe/London moves to summer time at 01:00 UTC on Sunday 28 March 2027.
    rota = _rota(
        [
            {
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "from": "09:00",
                "to": "17:00",
                "on_duty": [ALEX],
            },
            {"days": ["sat"], "from": "22:00", "to": "06:00", "on_duty": [SAM]},
            {"days": ["sun"], "from": "01:30", "to": "03:00", "on_duty": [SUPER]},  # half in the lost hour
        ]
    )

    saturday = duty_at(rota, datetime(2027, 3, 27, 10, 0, tzinfo=UTC), LONDON)
    assert saturday.until == datetime(2027, 3, 27, 17, 0, tzinfo=UTC)
    night = duty_at(rota, datetime(2027, 3, 27, 23, 0, tzinfo=UTC), LONDON)
    assert night.people == (SAM,)
    # The lost hour: the 01:30 shift starts the moment the clocks jump to 02:00.
    assert night.until == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    overlap = next_duty(rota, night, LONDON)
    assert overlap is not None and overlap.people == (SAM, SUPER)
    assert overlap.until == datetime(2027, 3, 28, 2, 0, tzinfo=UTC)  # 03:00 summer time
    # The night shift is an hour shorter: it still ends at 06:00 on the wall clock.
    assert duty_at(rota, overlap.until, LONDON).until == datetime(2027, 3, 28, 5, 0, tzinfo=UTC)
    monday = duty_at(rota, datetime(2027, 3, 29, 8, 30, tzinfo=UTC), LONDON)
    assert monday.people == (ALEX,) and monday.until == datetime(2027, 3, 29, 16, 0, tzinfo=UTC)


def test_a_rota_that_never_changes_has_no_next():
    rota = Rota.model_validate({"after_hours": [ONCALL]})

    always = duty_at(rota, WEDNESDAY_MORNING, LONDON)
    assert always.people == (ONCALL,) and always.until is None
    assert next_duty(rota, always, LONDON) is None


def test_the_weeks_gaps():
    weekdays = {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "from": "09:00",
        "to": "17:30",
        "on_duty": [ALEX],
    }

    assert [gap.describe() for gap in week_gaps(_rota([weekdays]))] == [
        "Mon 17:30–Tue 09:00",
        "Tue 17:30–Wed 09:00",
        "Wed 17:30–Thu 09:00",
        "Thu 17:30–Fri 09:00",
        "Fri 17:30–Mon 09:00",
    ]
    assert week_gaps(_rota([weekdays], after_hours=[ONCALL])) == []
    around_the_clock = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "from": "08:00",
        "to": "08:00",
        "on_duty": [ALEX],
    }
    with pytest.raises(ValueError, match="must not equal the shift's from"):
        _rota([around_the_clock])


def test_rota_gaps_warn_in_the_policy_checks(rota_policy: Policy):
    checks = {c.subject: c for c in policy_checks(rota_policy, WEDNESDAY_MORNING)}

    assert checks["paths.billing.rota"].lines() == [
        "✓ paths.billing.rota: someone is on duty at every hour of the week"
    ]
    lead = checks["supervisors.rota"]
    assert lead.passed and lead.warning
    assert lead.lines()[0] == (
        "⚠ supervisors.rota: nobody on duty Mon 18:00–Tue 08:00, Tue 18:00–Wed 08:00, "
        "Wed 18:00–Thu 08:00, Thu 18:00–Fri 08:00, Fri 18:00–Mon 08:00"
    )
    assert "supervisors.rota.after_hours" in lead.lines()[1]


# ---------------------------------------------------------------- through Slack


@pytest.fixture
def rota_app(
    store: Store, database_url: str, slack_api: SlackStandIn, clock: FakeClock, rota_policy: Policy
) -> Iterator[RunningApp]:
    app = start_app(database_url, slack_api, clock, rota_policy)
    yield app
    app.close()


def _text(call) -> str:  # type: ignore[no-untyped-def]
    return json.dumps(call.params.get("blocks", []), ensure_ascii=False) + str(call.params.get("text", ""))


def test_the_card_and_the_next_steps_name_who_is_on_duty(rota_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(rota_app, slack_api)  # Wednesday 10:00: Alex's shift

    (card,) = posts(slack_api, BILLING)
    until = "<!date^" + str(int(_local(2026, 11, 25, 13, 0).timestamp()))
    assert f"On duty: <@U0ALEX> until {until}" in _text(card)
    # Everyone on the path may still claim: the rota's after-hours contact too.
    assert "Billing specialists: <@U0ALEX>, <@U0SAM>, <@U0ONCALL> · react with :eyes:" in _text(card)
    (next_steps,) = posts(slack_api, AGENT, "What happens next")
    assert "On duty: <@U0ALEX> until" in _text(next_steps)

    pressed_and_settled(rota_app, slack_api, "claim", escalation, SAM)
    assert "On duty" not in _text(slack_api.calls_to("chat.update")[-1])  # claimed: only its owner


def test_the_acknowledge_nudge_asks_who_is_on_duty_first(rota_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(rota_app, slack_api)

    at(rota_app, escalation.raised_at + timedelta(minutes=11, seconds=15))  # 75 % of 15 min

    (nudge,) = posts(slack_api, BILLING, NUDGE_TEXT)
    assert "<@U0ALEX> (on duty): react with :eyes: on the card to claim it" in nudge.params["text"]
    assert "any of the Billing specialists may" in nudge.params["text"]
    assert "<@U0SAM>" not in nudge.params["text"]
    (direct,) = posts(slack_api, ALEX, NUDGE_TEXT)
    assert "You are on duty" in direct.params["text"]
    assert posts(slack_api, SAM, NUDGE_TEXT) == []
    # Alex claims from the private nudge.
    actions = [b for b in direct.params["blocks"] if b["type"] == "actions"]
    buttons = [element["action_id"] for block in actions for element in block["elements"]]
    assert buttons == ["claim", "mute"]  # snoozing would only nudge everyone again later
    pressed_and_settled(rota_app, slack_api, "claim", escalation, ALEX)
    assert current(rota_app, escalation).owner_user_id == ALEX


def test_the_card_follows_the_rota_while_the_case_waits(rota_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(rota_app, slack_api, priority=option("P4"))  # acknowledge within 4 h
    card_ts = escalation.card_ts

    at(rota_app, _local(2026, 11, 25, 12, 59))
    assert slack_api.calls_to("chat.update") == []
    at(rota_app, _local(2026, 11, 25, 13, 0))  # Sam's shift: the card says so, and Sam is nudged

    (refreshed,) = [c for c in slack_api.calls_to("chat.update") if c.params["ts"] == card_ts]
    assert "On duty: <@U0SAM> until" in _text(refreshed) and "On duty: <@U0ALEX>" not in _text(refreshed)
    (nudge,) = posts(slack_api, BILLING, NUDGE_TEXT)
    assert "<@U0SAM> (on duty)" in nudge.params["text"]
    with rota_app.store.transaction() as tx:
        changes = [t.due_at for t in tx.timers.pending(escalation.id or 0) if t.kind == "duty_change"]
    assert changes == [_local(2026, 11, 25, 17, 30)]  # one at a time: the next change of duty
    pressed_and_settled(rota_app, slack_api, "claim", escalation, SAM)
    updates = len(slack_api.calls_to("chat.update"))
    at(rota_app, _local(2026, 11, 25, 17, 30))  # claimed: the next change leaves the card alone
    assert len(slack_api.calls_to("chat.update")) == updates
    with rota_app.store.transaction() as tx:
        assert not [t for t in tx.timers.pending(escalation.id or 0) if t.kind == "duty_change"]


def test_a_breach_re_escalation_tells_the_supervisor_on_duty(rota_app: RunningApp, slack_api: SlackStandIn):
    escalation = raise_escalation(rota_app, slack_api)

    at(rota_app, escalation.raised_at + timedelta(minutes=15))

    assert current(rota_app, escalation).card_channel_id == "C0123SUP"
    (card,) = posts(slack_api, "C0123SUP", "Hierarchical escalation")
    assert "On duty: <@U0LEAD> until" in _text(card)
    (told,) = posts(slack_api, LEAD, "was not acknowledged")
    assert "You are the supervisor on duty" in told.params["text"]
    assert posts(slack_api, SUPER, "was not acknowledged") == []
    # Named only on the supervisors' rota, the lead is a supervisor: they may claim it.
    pressed_and_settled(rota_app, slack_api, "claim", escalation, LEAD)
    assert current(rota_app, escalation).owner_user_id == LEAD


def test_the_after_hours_contact_is_asked_and_may_claim(rota_app: RunningApp, slack_api: SlackStandIn):
    rota_app.clock.set(_local(2026, 11, 25, 19, 0))  # Wednesday evening
    escalation = raise_escalation(rota_app, slack_api)

    (card,) = posts(slack_api, "C0456OOH")
    assert "On duty: <@U0ONCALL> (after hours) until" in _text(card)
    pressed_and_settled(rota_app, slack_api, "claim", escalation, ONCALL)
    claimed = current(rota_app, escalation)
    assert (claimed.state, claimed.owner_user_id) == (State.claimed, ONCALL)


def test_escalate_who_answers_privately(rota_app: RunningApp, slack_api: SlackStandIn):
    rota_app.slack.command("who", user_id=AGENT)

    (answer,) = slack_api.wait_for("response_url")
    assert answer.params["response_type"] == "ephemeral"
    assert answer.params["text"].splitlines() == [
        "*Who is on duty* · Wed 25 Nov 10:00 (Europe/London)",
        "*Billing:* <@U0ALEX> until 13:00 · next: <@U0SAM> from 13:00 until 17:30",
        "*Technical support:* no rota: any of <@U0TECH> may pick cases up",
        "*Supervisors:* <@U0LEAD> until 18:00 · next: nobody from 18:00 until Thu 08:00",
    ]
    assert slack_api.calls_to("views.open") == []
    rota_app.slack.command("who broke the login page?", user_id=AGENT)  # any other text: the form
    assert slack_api.wait_for("views.open")[0].params["view"]["callback_id"] == "escalate_form"


def test_app_home_shows_the_rota_of_the_readers_paths(rota_app: RunningApp, slack_api: SlackStandIn):
    _open_home(rota_app, ONCALL)
    _open_home(rota_app, "U0TECH")
    _open_home(rota_app, SUPER)

    oncall = _shown(_home_of(slack_api, ONCALL))
    assert "On duty" in oncall
    assert "*Billing:* <@U0ALEX> until 13:00 · next: <@U0SAM> from 13:00 until 17:30" in oncall
    assert (
        "Mon–Fri 09:00–13:00: <@U0ALEX> · Mon–Fri 13:00–17:30: <@U0SAM> · after hours: <@U0ONCALL> · "
        "24 Dec–26 Dec: <@U0SAM> (Christmas cover)"
    ) in oncall
    assert "*Supervisors:*" not in oncall
    assert "On duty" not in _shown(_home_of(slack_api, "U0TECH"))  # Technical support has no rota
    supervisor = _shown(_home_of(slack_api, SUPER))
    assert "*Billing:*" in supervisor and "*Supervisors:* <@U0LEAD> until 18:00" in supervisor


def test_check_shows_the_rotas_names_and_gaps(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack_api: SlackStandIn,
    store: Store,
    capsys: pytest.CaptureFixture[str],
):
    slack_api.workspace = example_workspace()
    rota = (
        "  rota:\n    shifts:\n"
        '      - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", on_duty: ["@priya"]}\n'
        '      - {days: [sat], from: "10:00", to: "14:00", on_duty: [sam@example.com]}\n'
    )
    with_rota = NAMED_POLICY_YAML.replace('  users: ["@priya"]\n', '  users: ["@priya"]\n' + rota)
    deploy(tmp_path, monkeypatch, slack_api.url, store.url, with_rota)

    code, lines = check(capsys)

    assert code == 0, "\n".join(lines)
    assert "✓ supervisors.users, supervisors.rota.shifts.0.on_duty: @priya is U0PRIYA (Priya Nair)" in lines
    named = "paths.billing.specialists, supervisors.rota.shifts.1.on_duty"
    assert f"✓ {named}: sam@example.com is U0SAM (Sam Ortiz)" in lines
    assert (
        "⚠ supervisors.rota: nobody on duty Mon 17:00–Tue 09:00, Tue 17:00–Wed 09:00, Wed 17:00–Thu 09:00, "
        "Thu 17:00–Fri 09:00, Fri 17:00–Sat 10:00, Sat 14:00–Mon 09:00"
    ) in lines
    assert lines[-1].startswith("all ") and lines[-1].endswith("checks passed (1 with a warning)")


def test_an_override_on_a_date_written_either_way():
    for written in ("2026-12-24", '"2026-12-24"'):
        policy = parse_policy(ROTA_POLICY_YAML.replace("from: 2026-12-24", f"from: {written}"))
        rota = policy.paths["billing"].rota
        assert rota is not None and rota.overrides[0].first_day == date(2026, 12, 24)


def test_a_rotas_note_stays_text(rota_policy: Policy):
    hostile = ROTA_POLICY_YAML.replace("note: Christmas cover", 'note: "<!channel> cover & more"')
    policy = parse_policy(hostile)
    christmas = _local(2026, 12, 24, 10, 0)
    escalation = _escalation()  # open, on Billing

    card = json.dumps(render_card(escalation, policy, christmas).blocks, ensure_ascii=False)
    who = render_who(who_is_on_duty(policy, christmas), policy, christmas)
    for shown in (card, who):
        assert "<!channel>" not in shown and "(&lt;!channel&gt; cover &amp; more)" in shown
