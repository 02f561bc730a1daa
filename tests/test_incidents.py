"""Incidents through signed requests: one outage, many callers, one card, every caller followed up."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import MISSING, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from app_process import serve_against, stop_app_process
from conftest import ALWAYS_OPEN_POLICY_YAML, POLICY_YAML, SIGNING_SECRET, FakeClock, RunningApp, start_app
from sqlalchemy import select as query

from escalator.cli import main as escalator
from escalator.domain.escalation import Escalation, State
from escalator.domain.incidents import Incident, case_words, significant_words
from escalator.policy import parse_policy
from escalator.services.digest import Digests
from escalator.slack.rendering.digest import digest_as_text, render_digest
from escalator.standin.sender import AGENT, SlackSender, handoff_values, select, text
from escalator.standin.web_api import Call, SlackStandIn
from escalator.store.database import Store
from escalator.store.tables import timers

INCIDENT_POLICY = (
    POLICY_YAML
    + """
incident:
  channel: C0123INC
  responders: [U0ONCALL]
  detect: {threshold: 5, within: 30m}
"""
)
INCIDENTS, SUPERVISORS, TECH = "C0123INC", "C0123SUP", "C0123TECH"
ONCALL, SUPER, STRANGER = "U0ONCALL", "U0SUPER", "U0STRANGER"
OUTAGE = "Login error 503 when signing in to the app since this morning"


@pytest.fixture
def app(store: Store, database_url: str, slack_api: SlackStandIn, clock: FakeClock) -> Iterator[RunningApp]:
    running = start_app(database_url, slack_api, clock, parse_policy(INCIDENT_POLICY))
    yield running
    running.close()


def submit(app: RunningApp, summary: str, agent: str, **overrides: Any) -> dict[str, Any]:
    values = handoff_values(**{"summary": text(summary), "path": select("technical"), **overrides})
    response = app.slack.submit(values, user_id=agent)
    app.settle()
    assert response.status_code == 200
    return response.json()


def posts_to(slack_api: SlackStandIn, channel: str) -> list[Call]:
    return [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == channel]


def everything(call: Call) -> str:
    return json.dumps(call.params, ensure_ascii=False)


def escalations(app: RunningApp) -> list[Escalation]:
    with app.store.reading() as tx:
        return list(tx.session.scalars(query(Escalation).order_by(Escalation.id)))


def incident(app: RunningApp, incident_id: int = 1) -> Incident:
    with app.store.reading() as tx:
        found = tx.incidents.get(incident_id)
    assert found is not None
    return found


def raise_cluster(app: RunningApp, count: int, first_agent: int = 0) -> list[str]:
    agents = [f"U0AGENT{n:02d}" for n in range(first_agent, first_agent + count)]
    for n, agent in enumerate(agents):
        submit(app, f"{OUTAGE} (caller {n})", agent)
        app.clock.advance(minutes=2)
    return agents


def declare(app: RunningApp, slack_api: SlackStandIn, by: str = ONCALL) -> Incident:
    (suggestion, _) = posts_to(slack_api, SUPERVISORS)[-1:] * 2
    button = next(
        e
        for b in suggestion.params["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "declare_incident"
    )
    app.slack.press("declare_incident", int(button["value"]), by, channel_id=SUPERVISORS)
    app.settle()
    return incident(app)


def test_a_cluster_of_similar_escalations_makes_exactly_one_suggestion(
    app: RunningApp, slack_api: SlackStandIn
):
    raise_cluster(app, 4)
    submit(
        app, "Customer wants a refund for a double charge on an invoice", "U0OTHER", path=select("billing")
    )
    assert posts_to(slack_api, INCIDENTS) == []  # four alike: not yet

    raise_cluster(app, 1, first_agent=4)
    (to_supervisors,) = posts_to(slack_api, SUPERVISORS)
    (to_incidents,) = posts_to(slack_api, INCIDENTS)
    for suggestion in (to_supervisors, to_incidents):
        assert suggestion.params["text"].startswith("Possible incident: 5 escalations about “login error 503")
        assert "in 8 min" in suggestion.params["text"]
        shown = everything(suggestion)
        assert all(f"ESC-{n}" in shown for n in (1, 2, 3, 4, 6)) and "ESC-5" not in shown
        assert '"declare_incident"' in shown and '"dismiss_incident"' in shown

    raise_cluster(app, 3, first_agent=5)  # more of the same cluster: no second suggestion
    assert len(posts_to(slack_api, SUPERVISORS)) == 1 and len(posts_to(slack_api, INCIDENTS)) == 1
    assert all(card.params["channel"] == TECH for card in posts_to(slack_api, TECH))  # cards as usual


def test_declaring_posts_the_card_mentions_the_responders_and_links_the_cluster(
    app: RunningApp, slack_api: SlackStandIn
):
    agents = raise_cluster(app, 5)
    before = len(slack_api.calls_to("chat.update"))
    app.slack.press("declare_incident", 1, STRANGER, channel_id=SUPERVISORS)
    app.settle()
    assert incident_count(app) == 0  # only responders and supervisors declare

    declared = declare(app, slack_api)

    (card,) = posts_to(slack_api, INCIDENTS)[1:]
    assert card.params["text"].startswith(":rotating_light: INC-1 declared: login error 503")
    assert "<@U0ONCALL>" in card.params["text"]
    assert "5 customers" in everything(card)
    assert [e.incident_id for e in escalations(app)] == [declared.id] * 5
    decided = [c for c in slack_api.calls_to("chat.update")[before:] if "Declared as INC-1" in everything(c)]
    assert {c.params["channel"] for c in decided} == {SUPERVISORS, INCIDENTS}
    for agent in agents:
        (joined,) = [c for c in posts_to(slack_api, agent) if "is part of *INC-1*" in everything(c)]
        assert "Not part of INC-1" in everything(joined)


def incident_count(app: RunningApp) -> int:
    with app.store.reading() as tx:
        return len(tx.incidents.open_ones())


def test_a_case_that_matches_an_open_incident_joins_it_instead_of_getting_a_card(
    app: RunningApp, slack_api: SlackStandIn
):
    raise_cluster(app, 5)
    declare(app, slack_api)
    cards_before = len(posts_to(slack_api, TECH))

    saved = submit(app, "Login error 503 again for this caller", "U0LATE")

    assert "as part of INC-1" in json.dumps(saved["view"])
    assert len(posts_to(slack_api, TECH)) == cards_before  # no card of its own
    late = escalations(app)[-1]
    assert late.incident_id == 1
    with app.store.reading() as tx:
        pending = tx.session.execute(
            query(timers.c.kind).where(timers.c.escalation_id == late.id, timers.c.status == "pending")
        ).all()
    assert pending == []  # its SLA clocks stopped: the incident's responders have it

    # Not part of it after all: the agent says so, and the specialists get its card.
    app.slack.press("leave_incident", late.id, "U0LATE", channel_id="D0LATE")
    app.settle()
    assert escalations(app)[-1].incident_id is None
    assert [c for c in posts_to(slack_api, TECH)[cards_before:] if late.reference in everything(c)]


def test_an_escalation_of_type_incident_declares_one_and_an_agent_can_pick_it(
    app: RunningApp, slack_api: SlackStandIn
):
    submit(app, "Payments page down for everyone", AGENT, escalation_type=select("incident", "radio_buttons"))
    (card,) = posts_to(slack_api, INCIDENTS)
    assert card.params["text"].startswith(":rotating_light: INC-1 declared: payments page down everyone")
    assert posts_to(slack_api, TECH) == []

    picked = {
        "type": "static_select",
        "selected_option": {"value": "1", "text": {"type": "plain_text", "text": "x"}},
    }
    submit(app, "Cannot pay the bill", "U0SECOND", incident=picked)
    assert escalations(app)[-1].incident_id == 1
    app.clock.advance(seconds=2)
    app.deliver_due()
    updates = [c for c in slack_api.calls_to("chat.update") if c.params["channel"] == INCIDENTS]
    assert "2 customers" in everything(updates[-1])

    none = {
        "type": "static_select",
        "selected_option": {"value": "none", "text": {"type": "plain_text", "text": "x"}},
    }
    submit(app, "Payments page down for this caller too", "U0THIRD", incident=none)
    assert escalations(app)[-1].incident_id is None  # the agent said it is not


def test_a_burst_of_fifty_cases_updates_the_card_at_most_once_a_second(
    app: RunningApp, slack_api: SlackStandIn
):
    submit(app, "Login error 503 for everyone", AGENT, escalation_type=select("incident", "radio_buttons"))
    (card,) = posts_to(slack_api, INCIDENTS)
    card_ts = card.response["ts"]

    def card_updates() -> list[Call]:
        return [c for c in slack_api.calls_to("chat.update") if c.params.get("ts") == card_ts]

    elapsed = 0
    for n in range(50):  # ten a second, for five seconds
        submit(app, f"Login error 503 on caller {n}'s phone", f"U0CALLER{n:02d}")
        if n % 10 == 9:
            app.clock.advance(seconds=1)
            elapsed += 1
            app.deliver_due()
    app.clock.advance(seconds=1)
    elapsed += 1
    app.deliver_due()

    updates = card_updates()
    assert 1 <= len(updates) <= elapsed  # never two in the same second
    assert "51 customers" in everything(updates[-1])
    assert incident(app).card_update_waiting is False


def test_a_status_update_reaches_every_linked_agent_privately(app: RunningApp, slack_api: SlackStandIn):
    agents = raise_cluster(app, 5)
    declared = declare(app, slack_api)
    app.slack.submit_form(
        "incident_update_form",
        declared.id,
        {
            "status": text("Auth service overloaded; failing over."),
            "customer_line": text("Logins are slow; fixed within the hour."),
        },
        STRANGER,
    )
    app.settle()
    assert incident(app).status is None  # refused: not a responder

    app.slack.submit_form(
        "incident_update_form",
        declared.id,
        {
            "status": text("Auth service overloaded; failing over."),
            "customer_line": text("Logins are slow; fixed within the hour."),
        },
        ONCALL,
    )
    app.settle()

    for agent in agents:
        lines = [c for c in posts_to(slack_api, agent) if "Update on *INC-1*" in everything(c)]
        assert len(lines) == 1 and "Logins are slow; fixed within the hour." in everything(lines[0])
    app.slack.submit_form(
        "incident_update_form",
        declared.id,
        {"status": text("Failover done."), "customer_line": text("Logins work again for most.")},
        ONCALL,
    )
    app.settle()
    card_ts = incident(app).card_ts
    notes = [c.params["text"] for c in posts_to(slack_api, INCIDENTS) if c.params.get("thread_ts") == card_ts]
    assert notes == [  # each as it was posted, in order
        "<@U0ONCALL> posted an update: Auth service overloaded; failing over.",
        "<@U0ONCALL> posted an update: Failover done.",
    ]


def test_resolving_reaches_every_linked_agent_once_and_starts_closing_the_loop(
    app: RunningApp, slack_api: SlackStandIn
):
    agents = raise_cluster(app, 5)
    declare(app, slack_api)
    submit(app, "Login error 503 for one more caller", "U0LATE")
    agents.append("U0LATE")

    answer = app.slack.submit_form(
        "incident_resolve_form",
        1,
        {
            "status": text("Failed over to the standby auth cluster."),
            "customer_line": text("Logins work again."),
        },
        SUPER,
    ).json()
    assert answer["response_action"] == "update"  # the form says what happens next, at once
    assert "INC-1 is resolved.* Its 6 open cases are being resolved with it now" in json.dumps(answer["view"])
    app.settle()

    assert all(e.state is State.resolved for e in escalations(app))
    for agent in agents:
        handbacks = [c for c in posts_to(slack_api, agent) if "Logins work again." in everything(c)]
        assert len(handbacks) == 1, agent
        assert '"close_loop"' in everything(handbacks[0])
    with app.store.reading() as tx:
        loops = tx.session.execute(
            query(timers.c.escalation_id).where(
                timers.c.kind == "close_the_loop", timers.c.status == "pending"
            )
        ).all()
    assert len(loops) == 6
    assert not incident(app).is_open
    metrics = requests.get(app.slack.events_url.replace("/slack/events", "/metrics"), timeout=5).text
    assert 'escalator_incidents{state="resolved"} 1.0' in metrics
    app.clock.advance(seconds=2)
    app.deliver_due()
    final = [c for c in slack_api.calls_to("chat.update") if c.params["channel"] == INCIDENTS][-1]
    assert final.params["text"].startswith(":white_check_mark: INC-1 resolved")
    assert '"incident_resolve"' not in everything(final)


def test_cases_a_stopped_worker_left_to_resolve_are_resolved_at_the_next_tick_once(
    app: RunningApp, slack_api: SlackStandIn
):
    """The incident is resolved before the form's ack, its cases after it: a worker killed in between
    leaves their timers to the delivery process."""
    agents = raise_cluster(app, 5)
    declare(app, slack_api)
    actor = app.worker.runtime.directory.actor(ONCALL)
    outcome = app.worker.runtime.incidents.resolve("view:killed", 1, actor, "Fixed.", "Works again.")
    assert outcome is not None and outcome.resolving == 5
    assert not incident(app).is_open
    assert [e.state for e in escalations(app)] == [State.open] * 5

    app.tick()
    app.settle()
    app.tick()
    assert [e.state for e in escalations(app)] == [State.resolved] * 5
    for agent in agents:
        handbacks = [c for c in posts_to(slack_api, agent) if "Works again." in everything(c)]
        assert len(handbacks) == 1, agent


def test_dismissing_a_suggestion_keeps_the_cluster_from_being_suggested_again(
    app: RunningApp, slack_api: SlackStandIn
):
    raise_cluster(app, 5)
    app.slack.press("dismiss_incident", 1, SUPER, channel_id=SUPERVISORS)
    app.settle()
    assert any("Dismissed by <@U0SUPER>" in everything(c) for c in slack_api.calls_to("chat.update"))
    raise_cluster(app, 5, first_agent=5)
    assert len(posts_to(slack_api, SUPERVISORS)) == 1


def test_the_digest_counts_incidents_customers_affected_and_time_to_resolve(
    app: RunningApp, slack_api: SlackStandIn
):
    raise_cluster(app, 5)  # 10:00 to 10:08
    declare(app, slack_api)
    app.clock.advance(minutes=50)
    app.slack.submit_form(
        "incident_resolve_form",
        1,
        {"status": text("Fixed."), "customer_line": text("Logins work again.")},
        ONCALL,
    )
    app.settle()
    policy = parse_policy(INCIDENT_POLICY)
    day = app.clock.now().date()

    shown = digest_as_text(render_digest(Digests(app.store, policy, app.clock).build(day), policy))

    assert (
        "*Incidents:* 1 declared (INC-1), 5 customers affected · 1 resolved, median 50 min to resolve"
        in shown
    )


def test_the_server_spaces_card_updates_a_second_apart_in_real_time(
    tmp_path: Path, slack_api: SlackStandIn, database_url: str
):
    """The same burst against `python app.py` (two workers and the delivery process), on the wall clock,
    in parallel: on PostgreSQL, joins race the delivery process's renders, and none may be lost."""
    (tmp_path / "policy.yml").write_text(
        ALWAYS_OPEN_POLICY_YAML + INCIDENT_POLICY[INCIDENT_POLICY.index("incident:") :]
    )
    process, base = serve_against(tmp_path, slack_api, DATABASE_URL=database_url, ESCALATOR_WORKERS="2")
    sender = SlackSender(base, SIGNING_SECRET, slack_api.response_url)
    try:
        first = handoff_values(
            summary=text("Login error 503 for everyone"),
            path=select("technical"),
            escalation_type=select("incident", "radio_buttons"),
        )
        sender.submit(first)
        deadline = time.monotonic() + 10
        while not posts_to(slack_api, INCIDENTS) and time.monotonic() < deadline:
            time.sleep(0.05)
        (card,) = posts_to(slack_api, INCIDENTS)
        card_ts = card.response["ts"]

        def one(n: int) -> int:
            values = handoff_values(summary=text(f"Login error 503 for caller {n}"), path=select("technical"))
            return sender.submit(values, user_id=f"U0CALLER{n:02d}").status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            assert set(pool.map(one, range(50))) == {200}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            updates = [c for c in slack_api.calls_to("chat.update") if c.params.get("ts") == card_ts]
            if updates and "51 customers" in everything(updates[-1]):
                break
            time.sleep(0.1)
    finally:
        stop_app_process(process)
    assert "51 customers" in everything(updates[-1])
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(updates)]
    assert all(gap >= 0.95 for gap in gaps), gaps


def test_a_case_reopened_after_its_incident_gets_a_card_of_its_own(app: RunningApp, slack_api: SlackStandIn):
    submit(app, "Login error 503 for everyone", AGENT, escalation_type=select("incident", "radio_buttons"))
    app.slack.submit_form(
        "incident_resolve_form", 1, {"status": text("Fixed."), "customer_line": text("Works again.")}, ONCALL
    )
    app.settle()
    assert posts_to(slack_api, TECH) == []

    app.slack.press("reopen", 1, AGENT, channel_id="D0AGENT")
    app.settle()

    card, note = posts_to(slack_api, TECH)  # the card, then the reopening in its thread
    assert "ESC-1" in card.params["text"] and note.params["thread_ts"] == card.response["ts"]
    reopened = escalations(app)[0]
    assert reopened.state is State.open and reopened.incident_id is None


def test_what_makes_cases_alike_leaves_out_the_customers_name_and_account():
    case = Escalation(
        **{
            **{f.name: None for f in fields(Escalation) if f.default is MISSING},
            "customer_name": "Jane Doe",
            "account_number": "12345",
            "summary": "Jane Doe (account 12345) gets login error 503 since the upgrade",
        }
    )
    assert case_words(case) == ["account", "login", "error", "503", "upgrade"]
    assert significant_words("The customer says: " + "x" * 41 + " login") == ["login"]


def test_a_case_whose_refund_awaits_a_supervisor_keeps_its_card(app: RunningApp, slack_api: SlackStandIn):
    submit(app, "Login error 503 for everyone", AGENT, escalation_type=select("incident", "radio_buttons"))
    refund = {"type": "number_input", "value": "120"}  # over the agent's authority of 50: a supervisor's call
    up = select("hierarchical", "radio_buttons")
    saved = submit(
        app,
        "Login error 503 and wants 120 back",
        "U0REFUND",
        refund_amount=refund,
        refund_reason={"type": "plain_text_input", "value": "Charged for a week without service"},
        escalation_type=up,
    )
    assert saved.get("response_action") == "update", saved
    case = escalations(app)[-1]
    assert case.incident_id is None
    (card,) = [c for c in posts_to(slack_api, SUPERVISORS) if "ESC-2" in c.params["text"]]
    assert '"approve"' in everything(card)


def test_resolving_leaves_out_a_case_cancelled_meanwhile(app: RunningApp, slack_api: SlackStandIn):
    agents = raise_cluster(app, 5)
    declare(app, slack_api)
    app.slack.submit_form("cancel_form", 1, {"reason": text("Duplicate of ESC-2")}, agents[0])
    app.settle()
    app.slack.submit_form(
        "incident_resolve_form", 1, {"status": text("Fixed."), "customer_line": text("Works again.")}, ONCALL
    )
    app.settle()
    states = [e.state for e in escalations(app)]
    assert states == [State.cancelled] + [State.resolved] * 4
    assert not [c for c in posts_to(slack_api, agents[0]) if "Works again." in everything(c)]


def test_forgetting_a_customer_rewrites_the_suggestion_that_listed_their_case(
    app: RunningApp, slack_api: SlackStandIn, monkeypatch: pytest.MonkeyPatch
):
    agents = raise_cluster(app, 4)
    submit(app, f"{OUTAGE} for the customer on account 778899", agents[0], account_number=text("778899"))
    (suggestion,) = posts_to(slack_api, SUPERVISORS)
    assert "account 778899" in everything(suggestion)
    monkeypatch.setenv("DATABASE_URL", app.store.url)
    assert escalator(["forget", "--account", "778899"]) == 0
    app.clock.set(datetime.now(UTC) + timedelta(minutes=1))  # the command queues on the wall clock
    app.deliver_due()
    rewritten = [
        c for c in slack_api.calls_to("chat.update") if c.params.get("ts") == suggestion.response["ts"]
    ]
    assert rewritten and "778899" not in everything(rewritten[-1])


def test_the_form_lists_the_open_incidents_for_the_agent_to_pick(app: RunningApp, slack_api: SlackStandIn):
    app.slack.command("login is broken")
    app.settle()
    assert '"block_id": "incident"' not in json.dumps(slack_api.calls_to("views.open")[-1].params)
    submit(app, "Login error 503 for everyone", AGENT, escalation_type=select("incident", "radio_buttons"))
    app.clock.advance(seconds=6)  # the list is kept five seconds

    app.slack.command("login is broken")
    app.settle()

    (menu,) = [
        b
        for b in slack_api.calls_to("views.open")[-1].params["view"]["blocks"]
        if b.get("block_id") == "incident"
    ]
    options = [(o["value"], o["text"]["text"]) for o in menu["element"]["options"]]
    assert options == [("1", "INC-1 · login error 503 everyone"), ("none", "Not part of an incident")]
