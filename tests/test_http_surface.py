"""The HTTP contract: signatures, /healthz, events acknowledged, nothing unexpected answered with a 500."""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests
from conftest import RunningApp, make_settings
from jsonschema import Draft7Validator

from escalator.policy import Policy
from escalator.standin.sender import sign
from escalator.standin.web_api import SlackStandIn
from escalator.wiring import build_worker

SPECS = Path(__file__).parent / "specs"


def test_a_bad_signature_is_refused_and_nothing_happens(running_app: RunningApp, slack_api: SlackStandIn):
    sender = running_app.slack
    body = "command=%2Fescalate&text=refund&user_id=U0AGENT&trigger_id=1.2.3"
    forged = sender.post(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    unsigned = requests.post(
        sender.events_url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5
    )
    stale_stamp = int(time.time()) - 6 * 60
    stale = sender.post(
        body,
        "application/x-www-form-urlencoded",
        timestamp=stale_stamp,
        signature=sign(sender.secret, str(stale_stamp), body),
    )

    assert [forged.status_code, unsigned.status_code, stale.status_code] == [401, 401, 401]
    assert slack_api.calls_to("views.open") == []


def test_healthz_answers_when_the_database_does(running_app: RunningApp):
    base = running_app.slack.events_url.removesuffix("/slack/events")
    response = requests.get(base + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert requests.get(base + "/nowhere", timeout=5).status_code == 404
    assert requests.get(base + "/slack/events", timeout=5).status_code == 405


def test_healthz_is_503_when_the_database_is_down(slack_api: SlackStandIn, policy: Policy):
    settings = make_settings("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2", slack_api)
    worker = build_worker(settings, policy, background=False)
    statuses: list[str] = []
    body = worker.web({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}, lambda s, h: statuses.append(s))
    worker.close()
    assert statuses == ["503 Service Unavailable"]
    assert json.loads(b"".join(body)) == {"status": "unavailable", "database": "down"}


def test_a_worker_never_asks_slack_who_it_is_before_an_ack(running_app: RunningApp, slack_api: SlackStandIn):
    """Bolt would call auth.test on each worker's first request, before its ack; app.py checks the
    token once at start instead, and the listeners need only the token."""
    for _ in range(2):
        running_app.slack.command("refund")
    (first, _) = slack_api.wait_for("views.open", 2)
    assert first.headers["Authorization"] == "Bearer xoxb-test-token"
    assert slack_api.calls_to("auth.test") == []


def test_subscribed_events_are_acknowledged(running_app: RunningApp, slack_api: SlackStandIn):
    reaction = {
        "type": "reaction_added",
        "user": "U0ALEX",
        "reaction": "eyes",
        "item_user": "U0BOT",
        "item": {"type": "message", "channel": "C0123BILL", "ts": "1764000000.000001"},
        "event_ts": "1764000001.000100",
    }
    home = {
        "type": "app_home_opened",
        "user": "U0AGENT",
        "channel": "D0AGENT",
        "tab": "home",
        "event_ts": "1764000001.000200",
    }
    for event in (reaction, home):
        assert running_app.slack.event(event).status_code == 200


def test_test_envelopes_follow_slacks_schema():
    schema = json.loads((SPECS / "slack_common_event_wrapper_schema.json").read_text())
    captured: list[dict] = []

    class Capture:
        def post(self, body: str, *_: object, **__: object) -> None:
            captured.append(json.loads(body))

    from escalator.standin.sender import SlackSender

    SlackSender.event(Capture(), {"type": "app_home_opened", "user": "U1", "event_ts": "1.2"})  # type: ignore[arg-type]
    assert list(Draft7Validator(schema).iter_errors(captured[0])) == []


def test_url_verification_handshake(running_app: RunningApp):
    body = json.dumps(
        {
            "token": "t",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    response = running_app.slack.post(body, "application/json")
    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.text


def test_malformed_and_unknown_payloads_never_500(running_app: RunningApp):
    sender = running_app.slack
    cases = [
        sender.post("not json at all", "application/json"),
        sender.post("payload=%7Bbroken", "application/x-www-form-urlencoded"),
        sender.interaction({"type": "block_suggestion", "action_id": "nope"}),
        sender.interaction({"type": "view_submission", "view": {"callback_id": "escalate_form"}}),
        sender.interaction(
            {"type": "view_submission", "view": {"type": "modal", "callback_id": "escalate_form"}}
        ),
        sender.post("command=%2Fescalate&user_id=U0AGENT", "application/x-www-form-urlencoded"),
    ]
    assert all(response.status_code < 500 for response in cases), [r.status_code for r in cases]
    # A submission missing its user and state keeps the modal open with a message, not a dead end.
    assert cases[4].json()["response_action"] == "errors"
