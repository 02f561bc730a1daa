"""Pure rules: detection, routing, business time, authority, the handoff's checks, callbacks, handoffs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import WEDNESDAY_MORNING
from test_authority_chain import CHAIN_YAML
from test_rendering import _escalation

from escalator.domain.authority import AGENT, SUPERVISORS, chain, deciding_level, rank_of
from escalator.domain.business_hours import add_business_time, is_business_time
from escalator.domain.callbacks import (
    CallbackStatus,
    callback_outstanding,
    callback_status,
    mark_callback_done,
)
from escalator.domain.escalation import CallbackVia, EscalationType, State, parse_reference
from escalator.domain.handoff import HandoffField, HandoffForm, check_handoff
from escalator.domain.handoffs import handoff_label, holder, ordinal
from escalator.domain.routing import detect, route
from escalator.domain.sla import humanize, sla_deadlines
from escalator.domain.timers import Decision, Due, TimerKind, callback_timers, decide
from escalator.policy import Policy, Priority, parse_policy


def test_keywords_choose_the_path_and_triggers_the_type(policy: Policy):
    found = detect("Customer wants a REFUND; invoice wrong and she'll file a chargeback", policy)
    assert found.path_key == "billing"
    assert found.escalation_type is EscalationType.priority
    assert found.priority is Priority.P2
    assert found.trigger_words == ["chargeback"]


def test_incident_words_outrank_the_others(policy: Policy):
    found = detect("Login error for everyone, she wants a manager", policy)
    assert found.path_key == "technical"
    assert found.escalation_type is EscalationType.incident
    assert found.priority is Priority.P1
    assert found.trigger_words == ["everyone", "manager"]


def test_words_match_whole_words_and_phrases(policy: Policy):
    assert detect("the patient was discharged", policy).path_key is None
    assert detect("can I speak to someone in charge", policy).escalation_type is EscalationType.hierarchical
    assert detect("", policy).escalation_type is EscalationType.functional


def test_routing_by_type_and_business_hours(policy: Policy):
    assert route("billing", EscalationType.functional, WEDNESDAY_MORNING, policy).channel_id == "C0123BILL"
    assert route("billing", EscalationType.hierarchical, WEDNESDAY_MORNING, policy).channel_id == "C0123SUP"
    evening = WEDNESDAY_MORNING.replace(hour=19)
    assert route("billing", EscalationType.functional, evening, policy).channel_id == "C0456OOH"
    # No after-hours channel: the day channel still gets it, marked after hours.
    technical = route("technical", EscalationType.functional, evening, policy)
    assert (technical.channel_id, technical.after_hours) == ("C0123TECH", True)


def test_business_time_skips_nights_and_weekends(policy: Policy):
    hours, zone = policy.business_hours, policy.zone
    friday_5pm = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    # 30 minutes left on Friday, the other 30 from Monday 09:00.
    assert add_business_time(friday_5pm, timedelta(hours=1), hours, zone) == datetime(
        2026, 11, 30, 9, 30, tzinfo=UTC
    )
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert not is_business_time(saturday, hours, zone)
    assert add_business_time(saturday, timedelta(minutes=15), hours, zone) == datetime(
        2026, 11, 30, 9, 15, tzinfo=UTC
    )
    assert add_business_time(saturday, timedelta(minutes=15), None, zone) == saturday + timedelta(minutes=15)


def test_business_time_across_a_dst_change(policy: Policy):
    # London moves to BST on Sunday 29 March 2026: Monday opens at 08:00 UTC.
    friday_evening = datetime(2026, 3, 27, 18, 0, tzinfo=UTC)
    assert add_business_time(friday_evening, timedelta(minutes=5), policy.business_hours, policy.zone) == (
        datetime(2026, 3, 30, 8, 5, tzinfo=UTC)
    )


def test_sla_deadlines_follow_the_priority(policy: Policy):
    due = sla_deadlines(WEDNESDAY_MORNING, Priority.P2, policy)
    assert due.acknowledge_by == WEDNESDAY_MORNING + timedelta(minutes=15)
    assert due.first_update_by == WEDNESDAY_MORNING + timedelta(hours=2)
    # "1d" is one working day of 8.5 open hours: 10:00 Wednesday → 10:00 Thursday.
    assert due.resolve_by == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_authority_levels(policy: Policy):
    assert deciding_level(None, policy.authority).rank == AGENT
    assert deciding_level(Decimal("50"), policy.authority).rank == AGENT
    assert deciding_level(Decimal("50.01"), policy.authority).rank == SUPERVISORS
    # No levels above the supervisors: management decides, outside the bot, as before.
    assert deciding_level(Decimal("501"), policy.authority) is None


def test_the_lowest_level_that_can_decide_an_amount():
    authority = parse_policy(CHAIN_YAML).authority
    assert [(level.rank, level.name, level.limit) for level in chain(authority)] == [
        (0, "Agent", Decimal("50")),
        (1, "Supervisor", Decimal("500")),
        (2, "Support manager", Decimal("2000")),
        (3, "Head of customer care", None),
    ]
    assert deciding_level(Decimal("500"), authority).rank == SUPERVISORS
    assert deciding_level(Decimal("1500"), authority).name == "Support manager"
    assert deciding_level(Decimal("2000.01"), authority).name == "Head of customer care"
    assert deciding_level(Decimal("999999"), authority).name == "Head of customer care"
    with_top_limit = parse_policy(
        CHAIN_YAML.replace("approvers: [U0DANA]", "approvers: [U0DANA]\n      limit: 10000")
    )
    assert deciding_level(Decimal("10000.01"), with_top_limit.authority) is None


def test_who_decides_at_which_level():
    authority = parse_policy(CHAIN_YAML).authority
    assert rank_of("U0AGENT", frozenset(), False, authority) == AGENT
    assert rank_of("U0SUPER", frozenset(), True, authority) == SUPERVISORS
    assert rank_of("U0MORGAN", frozenset(), False, authority) == 2
    assert rank_of("U0GROUPY", frozenset({"S0MANAGERS"}), True, authority) == 2
    assert rank_of("U0DANA", frozenset(), False, authority) == 3


def test_a_refund_above_the_agent_needs_a_reason_and_one_above_the_chain_is_refused():
    chained = parse_policy(
        CHAIN_YAML.replace("approvers: [U0DANA]", "approvers: [U0DANA]\n      limit: 10000")
    )
    _, errors = check_handoff(
        _form(refund_amount="120", escalation_type="hierarchical", refund_reason=None),
        chained,
        WEDNESDAY_MORNING,
    )
    assert "Say why" in errors[HandoffField.refund_reason]
    _, errors = check_handoff(
        _form(refund_amount="12000", escalation_type="hierarchical"), chained, WEDNESDAY_MORNING
    )
    assert errors[HandoffField.refund_amount].startswith(
        "A refund or credit of 12,000.00 is above every approval limit: the most anyone may approve is "
        "10,000.00 (Head of customer care)."
    )
    handoff, errors = check_handoff(_form(refund_amount="40", refund_reason=None), chained, WEDNESDAY_MORNING)
    assert errors == {} and handoff is not None and handoff.refund_reason is None


def test_humanize():
    assert humanize(timedelta(minutes=15)) == "15 min"
    assert humanize(timedelta(hours=1, minutes=30)) == "1 h 30 min"
    assert humanize(timedelta(days=3)) == "3 days"
    assert humanize(timedelta(seconds=45)) == "45 s"


def test_references():
    assert parse_reference("ESC-42") == parse_reference("esc-42") == parse_reference(" 42 ") == 42
    assert parse_reference("INC-3") is None


def _form(**changes: object) -> HandoffForm:
    base = dict(
        customer_name="Jane Doe",
        account_number="12345",
        summary="Double charge",
        steps_taken="Checked",
        desired_outcome="Reversal",
        customer_tone="Frustrated",
        path="billing",
        escalation_type="functional",
        priority="P2",
        refund_reason="Charged twice",
    )
    base.update(changes)
    return HandoffForm(**base)  # type: ignore[arg-type]


def test_a_complete_form_passes(policy: Policy):
    handoff, errors = check_handoff(_form(refund_amount="£49.99"), policy, WEDNESDAY_MORNING)
    assert errors == {}
    assert handoff is not None and handoff.refund_amount == Decimal("49.99")


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"customer_name": "   "}, HandoffField.customer_name, "Please fill this in"),
        ({"summary": "x" * 2501}, HandoffField.summary, "under 2500 characters"),
        ({"path": "shipping"}, HandoffField.path, "Choose the team"),
        ({"escalation_type": "urgent"}, HandoffField.escalation_type, "Choose the type"),
        ({"priority": "P9"}, HandoffField.priority, "Choose a priority"),
        ({"refund_amount": "lots"}, HandoffField.refund_amount, "as a number"),
        ({"refund_amount": "-5"}, HandoffField.refund_amount, "zero or more"),
        ({"refund_amount": "NaN"}, HandoffField.refund_amount, "zero or more"),
        ({"refund_amount": "120"}, HandoffField.escalation_type, "beyond an agent's authority (50)"),
        ({"deadline_at": WEDNESDAY_MORNING - timedelta(hours=1)}, HandoffField.deadline_at, "has passed"),
        ({"callback_at": WEDNESDAY_MORNING + timedelta(hours=1)}, HandoffField.callback_via, "phone, email"),
        ({"callback_via": "email"}, HandoffField.callback_at, "contacted by email"),
        ({"callback_via": "pigeon"}, HandoffField.callback_via, "Choose phone, email or chat"),
        (
            {"callback_at": WEDNESDAY_MORNING, "callback_via": "phone"},
            HandoffField.callback_at,
            "has passed",
        ),
    ],
)
def test_problems_are_reported_per_field(policy: Policy, changes: dict, field: HandoffField, says: str):
    handoff, errors = check_handoff(_form(**changes), policy, WEDNESDAY_MORNING)
    assert handoff is None
    assert says in errors[field]


def test_a_promised_callback_has_a_time_and_a_way(policy: Policy):
    at = WEDNESDAY_MORNING + timedelta(hours=4)
    handoff, errors = check_handoff(_form(callback_at=at, callback_via="chat"), policy, WEDNESDAY_MORNING)
    assert errors == {} and handoff is not None
    assert (handoff.callback_at, handoff.callback_via) == (at, CallbackVia.chat)
    handoff, _ = check_handoff(_form(), policy, WEDNESDAY_MORNING)
    assert handoff is not None and (handoff.callback_at, handoff.callback_via) == (None, None)


def test_callback_timers_and_what_they_decide(policy: Policy):
    now = WEDNESDAY_MORNING
    e = _escalation(callback_at=now + timedelta(hours=1), callback_via=CallbackVia.phone)
    assert callback_timers(e, policy, now) == [
        (TimerKind.callback_reminder, now + timedelta(minutes=45)),  # remind_before: 15m by default
        (TimerKind.callback_missed, now + timedelta(hours=1, minutes=15)),  # missed_after: 15m
    ]
    soon = _escalation(callback_at=now + timedelta(minutes=5), callback_via=CallbackVia.phone)
    assert callback_timers(soon, policy, now)[0] == (TimerKind.callback_reminder, now)  # at once
    assert callback_timers(_escalation(), policy, now) == []

    assert decide(Due(TimerKind.callback_reminder), e, policy) is Decision.remind_callback
    assert decide(Due(TimerKind.callback_missed), e, policy) is Decision.callback_missed
    assert mark_callback_done(e, "U0ALEX", now) and callback_status(e) is CallbackStatus.done
    assert not mark_callback_done(e, "U0ALEX", now)  # made once
    assert decide(Due(TimerKind.callback_missed), e, policy) is Decision.nothing
    cancelled = _escalation(callback_at=now, callback_via=CallbackVia.phone, state=State.cancelled)
    assert decide(Due(TimerKind.callback_reminder), cancelled, policy) is Decision.nothing
    missed = _escalation(callback_at=now, callback_via=CallbackVia.email, callback_missed_at=now)
    assert callback_status(missed) is CallbackStatus.missed and callback_outstanding(missed)
    assert decide(Due(TimerKind.callback_missed), missed, policy) is Decision.nothing  # told once


def test_handoffs_are_counted_by_ordinal_from_the_second():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"
    ]  # fmt: skip
    assert handoff_label(_escalation(handoffs=1)) is None
    assert handoff_label(_escalation(handoffs=3)) == ":repeat: 3rd handoff"
    assert holder(_escalation()) == "billing"
    assert holder(_escalation(escalation_type=EscalationType.hierarchical)) == "supervisors"


def test_over_authority_is_fine_when_hierarchical(policy: Policy):
    handoff, errors = check_handoff(
        _form(refund_amount="900", escalation_type="hierarchical"), policy, WEDNESDAY_MORNING
    )
    assert errors == {} and handoff is not None


def test_an_account_is_masked_to_its_last_four_characters_wherever_it_appears():
    from escalator.domain.privacy import mask_account, mask_in_text

    assert mask_account(" 12345 ") == "••2345"
    assert mask_account("1234") == "••"  # too short to show any of it
    assert mask_in_text("Account 12345, twice: 12345.", "12345") == "Account ••2345, twice: ••2345."
    assert mask_in_text("Account 123.", "123") == "Account 123."  # too short to find safely
    assert mask_in_text(None, "12345") is None
