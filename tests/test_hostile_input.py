"""Hostile input, through the HTTP surface as Slack (or an attacker) sends it.

Forged, stale and replayed requests; garbled bodies, unknown payloads, huge fields and odd Unicode; and
typed text that tries to ping a channel or forge a mention or a link in what the bot posts.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from conftest import POLICY_YAML, RunningApp
from conftest import WEDNESDAY_MORNING as NOW
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import text as sql

from escalator.domain.escalation import EscalationType
from escalator.domain.handoff import MAX_LENGTH, HandoffField, HandoffForm, check_handoff
from escalator.policy import parse_policy
from escalator.slack import payloads
from escalator.slack.text import clip, mrkdwn_escape
from escalator.standin.sender import AGENT, SlackSender, handoff_values, sign, text, view_submission
from escalator.standin.sender import select as option
from escalator.standin.web_api import Call, Reply, SlackStandIn
from escalator.store.repositories import EscalationRepository

ALEX, SUPER, STRANGER = "U0ALEX", "U0SUPER", "U0STRANGER"
BILLING = "C0123BILL"
FORM, JSON = "application/x-www-form-urlencoded", "application/json"
COMMAND_METADATA = '{"origin":"command","channel_id":"C0AGENTS"}'
POLICY = parse_policy(POLICY_YAML)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def table_counts(app: RunningApp) -> dict[str, int]:
    """Rows per table: "nothing stored" means none of these moved."""
    tables = ("escalations", "escalation_events", "handled_requests", "outbox", "timers")
    with app.store.transaction() as tx:
        return {t: tx.session.execute(sql(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in tables}


def history_actions(app: RunningApp) -> list[str]:
    with app.store.transaction() as tx:
        return list(tx.session.scalars(sql("SELECT action FROM escalation_events ORDER BY id")))


def crashes(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Requests a listener failed on: Bolt's error handler logs them (after the ack, Slack saw a 200)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("could not handle a Slack request")
        or (r.levelno >= logging.ERROR and r.name.startswith("escalator.slack.listeners"))
    ]


def strings(value: Any) -> Iterator[str]:
    """Every string in a call's parameters, as sent (JSON would escape the control characters)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def signed_headers(sender: SlackSender, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(sender.secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest}


def post_bytes(sender: SlackSender, body: bytes, content_type: str) -> requests.Response:
    """A signed body that need not be text at all."""
    headers = {"Content-Type": content_type, **signed_headers(sender, body)}
    return requests.post(sender.events_url, data=body, headers=headers, timeout=10)


def announced_but_unsent(sender: SlackSender, length: int) -> int:
    """The status for a request that announces a `length`-byte body and sends none of it: a huge body is
    refused from its Content-Length, before a byte of it is read (or waited for)."""
    url = urlsplit(sender.events_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=5)
    try:
        connection.putrequest("POST", url.path)
        for name, value in {
            "Content-Type": JSON,
            "Content-Length": str(length),
            **signed_headers(sender, b""),
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


# 1. Forged, stale and replayed requests.


def one_of_each_kind() -> dict[str, tuple[str, str]]:
    """One body of each kind Slack sends, with its content type."""
    submission = view_submission(
        handoff_values(), view_id="V0FORGED", private_metadata=COMMAND_METADATA, user_id=AGENT
    )
    press = {
        "type": "block_actions",
        "user": {"id": ALEX},
        "trigger_id": "1.2.trigger",
        "actions": [{"action_id": "claim", "value": "1", "action_ts": "1764000001.000001"}],
    }
    event = {
        "type": "event_callback",
        "team_id": "T0TEAM",
        "event_id": "Ev0FORGED",
        "event": {"type": "app_home_opened", "user": AGENT, "tab": "home", "event_ts": "1764000001.0002"},
    }
    command = {"command": "/escalate", "text": "refund", "user_id": AGENT, "trigger_id": "1.2.trigger"}
    return {
        "command": (urlencode(command), FORM),
        "submission": (urlencode({"payload": json.dumps(submission)}), FORM),
        "press": (urlencode({"payload": json.dumps(press)}), FORM),
        "event": (json.dumps(event), JSON),
    }


def test_unsigned_forged_and_stale_requests_get_401_and_change_nothing(
    running_app: RunningApp, slack_api: SlackStandIn
):
    sender, now = running_app.slack, int(time.time())  # Bolt checks the timestamp against the real clock
    stale, future = now - 5 * 60 - 30, now + 5 * 60 + 30
    before = table_counts(running_app)
    statuses: dict[str, list[int]] = {}
    for kind, (body, content_type) in one_of_each_kind().items():
        attempts = [
            sender.post(body, content_type, signature="v0=" + "0" * 64),
            sender.post(body, content_type, signature=""),
            sender.post(body, content_type, signature=sign("not-the-secret", str(now), body)),
            sender.post(body, content_type, signature=sign(sender.secret, str(now), body + " ")),  # tampered
            sender.post(body, content_type, signature="v1=" + sign(sender.secret, str(now), body)[3:]),
            sender.post(body, content_type, timestamp=stale, signature=sign(sender.secret, str(stale), body)),
            sender.post(
                body, content_type, timestamp=future, signature=sign(sender.secret, str(future), body)
            ),
            sender.post(body, content_type, headers={"X-Slack-Request-Timestamp": "soon"}),
            sender.post(body, content_type, headers={"X-Slack-Request-Timestamp": f"{now}.5"}),
            requests.post(sender.events_url, data=body, headers={"Content-Type": content_type}, timeout=5),
            requests.post(  # a signature without its timestamp
                sender.events_url,
                data=body,
                headers={
                    "Content-Type": content_type,
                    "X-Slack-Signature": sign(sender.secret, str(now), body),
                },
                timeout=5,
            ),
        ]
        statuses[kind] = [response.status_code for response in attempts]
    running_app.settle()

    assert statuses == {kind: [401] * 11 for kind in statuses}
    assert slack_api.calls == []  # not even auth.test: nothing ran past the signature check
    assert table_counts(running_app) == before


def replay(sender: SlackSender, body: str, content_type: str, times: int) -> list[requests.Response]:
    """The very same signed request, `times` times at once: what a replay attacker, or Slack, sends."""
    stamp = int(time.time())
    signature = sign(sender.secret, str(stamp), body)
    responses: list[requests.Response | None] = [None] * times
    start = threading.Barrier(times)

    def send(i: int) -> None:
        start.wait()
        responses[i] = sender.post(body, content_type, timestamp=stamp, signature=signature)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None for r in responses)
    return responses  # type: ignore[return-value]


def test_a_replayed_submission_press_and_event_each_act_once(
    running_app: RunningApp, slack_api: SlackStandIn, caplog: pytest.LogCaptureFixture
):
    app, sender = running_app, running_app.slack
    submission = view_submission(
        handoff_values(), view_id="V0REPLAY", private_metadata=COMMAND_METADATA, user_id=AGENT
    )
    answers = replay(sender, urlencode({"payload": json.dumps(submission)}), FORM, 4)
    assert [r.status_code for r in answers] == [200] * 4
    # Every copy is told it is saved, the losers of the race to the unique key included.
    assert {r.json()["response_action"] for r in answers} == {"update"}
    slack_api.wait_for("chat.postMessage", 2)
    app.settle()
    app.deliver_due()
    assert table_counts(app)["escalations"] == 1
    card = slack_api.calls_to("chat.postMessage")[0]
    card_ts = card.response["ts"]  # type: ignore[index]

    press = {
        "type": "block_actions",
        "team": {"id": "T0TEAM"},
        "user": {"id": ALEX, "team_id": "T0TEAM"},
        "trigger_id": "5.5.trigger",
        "container": {"type": "message", "message_ts": card_ts, "channel_id": BILLING},
        "channel": {"id": BILLING},
        "actions": [{"action_id": "claim", "value": "1", "action_ts": "1764000050.000001"}],
    }
    answers = replay(sender, urlencode({"payload": json.dumps(press)}), FORM, 4)
    assert [r.status_code for r in answers] == [200] * 4
    app.settle()
    app.deliver_due()

    # Alex takes the eyes off (one unclaim); that event is replayed too.
    envelope = {
        "token": "legacy-verification-token",
        "team_id": "T0TEAM",
        "api_app_id": "A0ESCALATOR",
        "type": "event_callback",
        "event_id": "Ev0REPLAYED",
        "event_time": 1764000100,
        "event": {
            "type": "reaction_removed",
            "user": ALEX,
            "reaction": "eyes",
            "item": {"type": "message", "channel": BILLING, "ts": card_ts},
            "event_ts": "1764000100.000100",
        },
    }
    answers = replay(sender, json.dumps(envelope), JSON, 4)
    assert [r.status_code for r in answers] == [200] * 4
    app.settle()
    app.deliver_due()

    assert history_actions(app) == ["raise", "claim", "unclaim"]
    cards = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == BILLING]
    assert len([c for c in cards if "thread_ts" not in c.params]) == 1
    assert len(slack_api.calls_to("chat.update")) == 2  # the card, once per change
    assert slack_api.calls_to("chat.postEphemeral") == [] and slack_api.calls_to("response_url") == []
    assert crashes(caplog) == []


def test_a_duplicate_submission_that_loses_the_race_is_told_it_is_saved(
    running_app: RunningApp, slack_api: SlackStandIn, monkeypatch: pytest.MonkeyPatch
):
    first = running_app.slack.submit(handoff_values(), view_id="V0RACE")
    assert first.json()["response_action"] == "update"
    # Two workers both looked for the key before either committed: the second one's lookup saw nothing.
    real_lookup = EscalationRepository.by_idempotency_key
    blind = iter([True])
    monkeypatch.setattr(
        EscalationRepository,
        "by_idempotency_key",
        lambda self, key: None if next(blind, False) else real_lookup(self, key),
    )

    second = running_app.slack.submit(handoff_values(), view_id="V0RACE")

    running_app.settle()
    assert table_counts(running_app)["escalations"] == 1
    assert second.json()["response_action"] == "update", second.json()


# 2. Malformed payloads, unknown types, huge fields and odd Unicode.

ODD_TEXT = {
    "nul": "Jane\x00Doe",
    "lone surrogate": "Jane \ud800 Doe \udfff",
    "right to left": "\u202eeoD enaJ\u202c \u200f(RTL) \u05e9\u05dc\u05d5\u05dd",
    "combining marks": "Z\u0351\u0352\u0353a\u0301\u0302\u0303l\u0308g\u030co",
    "emoji": "Jane 👩🏽‍💻 Doe 🇬🇧",
    "four-byte": "𝕁𝕒𝕟𝕖 𠜎𠜱 𝄞",
    "terminal escapes": "Jane\x07\x1b[31mDoe\x7f\x9b",
    "byte order mark and zero width": "\ufeffJane\u200b\u200dDoe",
    "line breaks": "Jane\r\nDoe\rSmith\n",
}
TEXT_FIELDS = tuple(f.value for f in MAX_LENGTH if f is not HandoffField.refund_amount)  # the typed ones


def test_odd_unicode_in_every_field_is_saved_and_posted(
    running_app: RunningApp, slack_api: SlackStandIn, caplog: pytest.LogCaptureFixture
):
    kinds = sorted(ODD_TEXT)
    for kind in kinds:
        values = handoff_values(**{f: text(f"{ODD_TEXT[kind]} {f}") for f in TEXT_FIELDS})
        response = running_app.slack.submit(values)
        assert response.status_code == 200, (kind, response.text)
        assert response.json()["response_action"] == "update", (kind, response.json())
    slack_api.wait_for("chat.postMessage", 2 * len(kinds))
    running_app.settle()

    cards = {
        kind: next(c for c in slack_api.calls_to("chat.postMessage") if f"ESC-{n} ·" in str(c.params["text"]))
        for n, kind in enumerate(kinds, start=1)
    }
    for kind, card in cards.items():
        shown = "\n".join(strings(card.params))
        assert "customer_name" in shown and "steps_taken" in shown, kind
        for forbidden in ("\x00", "\x1b", "\x07", "\x7f", "\x9b", "\r"):
            assert forbidden not in shown, (kind, forbidden)
        if kind in ("right to left", "combining marks", "emoji", "four-byte"):
            assert ODD_TEXT[kind] in shown, kind  # kept exactly as typed
    assert "\ufffd" in cards["lone surrogate"].params["text"]  # replaced, not dropped silently
    assert "Jane\nDoe\nSmith" in cards["line breaks"].params["text"]
    assert crashes(caplog) == []


def test_huge_bodies_and_fields_are_refused_or_explained(
    running_app: RunningApp, slack_api: SlackStandIn, caplog: pytest.LogCaptureFixture
):
    sender = running_app.slack
    megabyte = "x" * (1024 * 1024)
    one_mb = sender.post(urlencode({"payload": json.dumps({"type": "block_actions", "pad": megabyte})}), FORM)
    five_mb = announced_but_unsent(sender, 5 * 1024 * 1024)
    huge_command = sender.command(megabyte)
    huge_field = sender.submit(handoff_values(summary=text("y" * 100_000), customer_name=text("n" * 100_000)))
    huge_view_id = sender.submit(handoff_values(), view_id="V" * 100_000)
    huge_metadata = sender.submit(handoff_values(), private_metadata="{" * 100_000)
    huge_user = sender.submit(handoff_values(), user_id="U" * 100_000)
    huge_action = sender.press("claim", 1, "U" * 100_000, action_ts="9" * 100_000)
    huge_event = sender.reaction("eyes", ALEX, BILLING, "1" * 100_000, event_id="E" * 100_000)
    running_app.settle()

    assert one_mb.status_code < 500 and five_mb == 413
    for response in (huge_command, huge_action, huge_event):
        assert response.status_code == 200
    assert "Please keep this under 2500 characters" in huge_field.json()["errors"]["summary"]
    assert "Please keep this under 150 characters" in huge_field.json()["errors"]["customer_name"]
    for response in (huge_view_id, huge_user):  # forged ids: refused with a message, nothing stored
        assert response.status_code == 200 and response.json()["response_action"] == "errors"
    # Unreadable metadata only loses where the form came from; the escalation is still raised.
    assert huge_metadata.json()["response_action"] == "update"
    assert table_counts(running_app)["escalations"] == 1
    (opened,) = slack_api.calls_to("views.open")  # the huge command opened the form, cut to the limit
    summary = next(b for b in opened.params["view"]["blocks"] if b.get("block_id") == "summary")
    assert len(summary["element"]["initial_value"]) == 2500
    assert crashes(caplog) == []


def test_unknown_and_incomplete_payloads_never_500(running_app: RunningApp, slack_api: SlackStandIn):
    sender = running_app.slack
    cases = {
        "unknown interaction type": sender.interaction({"type": "something_new", "user": {"id": AGENT}}),
        "no type": sender.interaction({"user": {"id": AGENT}}),
        "payload not an object": sender.post(urlencode({"payload": "[1, 2, 3]"}), FORM),
        "payload is null": sender.post("payload=null", FORM),
        "payload is a string": sender.post(urlencode({"payload": '"hello"'}), FORM),
        "empty form": sender.post("", FORM),
        "empty json object": sender.post("{}", JSON),
        "json array": sender.post("[]", JSON),
        "json null": sender.post("null", JSON),
        "json number": sender.post("1e999", JSON),
        "deeply nested json": sender.post("[" * 5000 + "]" * 5000, JSON),
        "no content type": sender.post("payload=%7B%7D", ""),
        "unknown event": sender.event({"type": "tokens_revoked", "tokens": {}}),
        "event without a type": sender.event({"user": AGENT}),
        "event not an object": sender.post(
            json.dumps({"type": "event_callback", "event": "nope", "event_id": "Ev1"}), JSON
        ),
        "reaction without item": sender.event({"type": "reaction_added", "user": ALEX, "reaction": "eyes"}),
        "reaction item not an object": sender.event(
            {"type": "reaction_added", "user": ALEX, "reaction": "eyes", "item": "C0123BILL"}
        ),
        "home opened by nobody": sender.event({"type": "app_home_opened", "tab": "home"}),
        "button without actions": sender.interaction(
            {"type": "block_actions", "user": {"id": ALEX}, "trigger_id": "1.1"}
        ),
        "button with empty actions": sender.interaction(
            {"type": "block_actions", "user": {"id": ALEX}, "trigger_id": "1.1", "actions": []}
        ),
        "button without a value": sender.press("claim", None, ALEX),
        "unknown shortcut": sender.interaction(
            {"type": "shortcut", "callback_id": "nope", "trigger_id": "1.1", "user": {"id": AGENT}}
        ),
        "message shortcut without message": sender.interaction(
            {"type": "message_action", "callback_id": "escalate_message", "trigger_id": "1.1"}
        ),
        "unknown view callback": sender.interaction(
            {"type": "view_submission", "user": {"id": AGENT}, "view": {"id": "V1", "callback_id": "nope"}}
        ),
        "view closed": sender.interaction(
            {
                "type": "view_closed",
                "user": {"id": AGENT},
                "view": {"id": "V1", "callback_id": "escalate_form"},
            }
        ),
        "command without trigger": sender.post(urlencode({"command": "/escalate", "user_id": AGENT}), FORM),
        "unknown command": sender.post(urlencode({"command": "/other", "user_id": AGENT}), FORM),
        "percent-encoded invalid utf-8": sender.post("payload=%FF%FE%FD", FORM),
        "raw invalid utf-8": post_bytes(sender, b'{"type": "\xff\xfe"}', JSON),
        "view state not an object": sender.interaction(
            {
                **view_submission({}, view_id="V9", private_metadata=COMMAND_METADATA, user_id=AGENT),
                "view": {"id": "V9", "callback_id": "escalate_form", "state": []},
            }
        ),
        "content length not a number": requests.post(
            sender.events_url,
            data=b"{}",
            headers={"Content-Type": JSON, "Content-Length": "two", **signed_headers(sender, b"{}")},
            timeout=5,
        ),
    }
    running_app.settle()
    assert {name: r.status_code for name, r in cases.items() if r.status_code >= 500} == {}
    assert table_counts(running_app)["escalations"] == 0


def test_forged_values_in_forms_are_answered_not_crashed(
    running_app: RunningApp, slack_api: SlackStandIn, caplog: pytest.LogCaptureFixture
):
    sender = running_app.slack

    def form(callback: str, metadata: str, values: dict[str, Any]) -> dict[str, Any]:
        payload = view_submission(
            values, view_id=f"V{time.monotonic_ns()}", private_metadata=metadata, user_id=AGENT
        )
        payload["view"]["callback_id"] = callback
        return payload

    # Unreadable metadata on the handoff form only loses where it was opened from: ESC-1 is raised.
    raised_anyway = sender.submit(handoff_values(), private_metadata="²")
    assert raised_anyway.json()["response_action"] == "update"
    running_app.settle()
    answers = {
        "superscript id": sender.interaction(form("update_form", "²", {"update": text("x")})),
        "huge id": sender.interaction(form("update_form", "9" * 5000, {"update": text("x")})),
        "id past 32 bits": sender.interaction(
            form("update_form", "99999999999999999999", {"update": text("x")})
        ),
        "superscript rating": sender.interaction(
            form("close_form", "1", {"csat": option("²", "radio_buttons")})
        ),
        "huge new owner": sender.interaction(
            form("reassign_form", "1", {"new_owner": {"type": "users_select", "selected_user": "U" * 5000}})
        ),
        "forged path": sender.submit(handoff_values(path=option("<!channel>"), priority=option("P9\x00"))),
        "element not an object": sender.submit({**handoff_values(), "summary": "text"}),  # type: ignore[dict-item]
        "elements swapped": sender.submit(
            handoff_values(
                deadline_at=option("0"),
                customer_name={"type": "checkboxes", "selected_options": [{"value": "yes"}]},
                customer_consent=text("no"),
                path={"type": "datetimepicker", "selected_date_time": 1764000000},
            )
        ),
    }
    running_app.settle()

    assert {name: r.status_code for name, r in answers.items() if r.status_code != 200} == {}
    assert answers["superscript rating"].json()["errors"] == {"csat": "Please fill this in."}
    assert answers["huge new owner"].json()["errors"] == {"new_owner": "Please fill this in."}
    assert set(answers["forged path"].json()["errors"]) == {"path", "priority"}
    assert answers["element not an object"].json()["response_action"] == "errors"
    assert set(answers["elements swapped"].json()["errors"]) == {"customer_name", "path"}
    assert table_counts(running_app)["escalations"] == 1
    assert history_actions(running_app) == ["raise"]
    assert crashes(caplog) == []


def test_a_superscript_or_huge_number_on_a_button_is_ignored(
    running_app: RunningApp, slack_api: SlackStandIn, caplog: pytest.LogCaptureFixture
):
    sender = running_app.slack
    for value in ("²", "٣", "9" * 5000, "99999999999999999999", "-1", "0", " 1"):
        payload = {
            "type": "block_actions",
            "user": {"id": ALEX},
            "trigger_id": "1.1.trigger",
            "actions": [{"action_id": "claim", "value": value, "action_ts": "1.1"}],
        }
        assert sender.interaction(payload).status_code == 200
    running_app.settle()
    assert slack_api.calls_to("response_url") == [] and table_counts(running_app)["handled_requests"] == 0
    assert crashes(caplog) == []


def test_a_forged_reminder_button_is_ignored(
    running_app: RunningApp, slack_api: SlackStandIn, caplog: pytest.LogCaptureFixture
):
    for action_id in ("snooze_hour", "mute"):
        payload = {
            "type": "block_actions",
            "user": {"id": AGENT},
            "trigger_id": "1.1.trigger",
            "actions": [{"action_id": action_id, "value": "²:close_the_loop:1", "action_ts": "1.1"}],
        }
        assert running_app.slack.interaction(payload).status_code == 200
    running_app.settle()
    assert crashes(caplog) == []


# Property-based: garbled bodies through the running app, arbitrary text through the handoff form.

KEYS = st.sampled_from(
    [
        "type",
        "user",
        "id",
        "view",
        "state",
        "values",
        "callback_id",
        "private_metadata",
        "actions",
        "action_id",
        "value",
        "action_ts",
        "trigger_id",
        "event",
        "item",
        "channel",
        "ts",
        "reaction",
        "message",
        "text",
        "selected_option",
        "team",
        "event_id",
    ]
)
TYPES = st.sampled_from(
    [
        "view_submission",
        "block_actions",
        "message_action",
        "shortcut",
        "event_callback",
        "reaction_added",
        "reaction_removed",
        "app_home_opened",
        "url_verification",
        "view_closed",
        "block_suggestion",
        "escalate_form",
        "claim",
    ]
)
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT | TYPES
JSON_VALUES = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS | ANY_TEXT, children, max_size=6),
    max_leaves=30,
)


@st.composite
def garbled_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """Bodies from plain garbage to Slack's envelopes holding arbitrary values."""
    content_type = draw(st.sampled_from([FORM, JSON, "text/plain", "multipart/form-data", ""]))
    shape = draw(st.sampled_from(["bytes", "text", "payload", "envelope", "json", "command"]))
    if shape == "bytes":
        return draw(st.binary(max_size=300)), content_type
    if shape == "text":
        return draw(ANY_TEXT).encode("utf-8", "surrogatepass"), content_type
    value = draw(JSON_VALUES)
    if shape == "payload":
        return urlencode({"payload": json.dumps(value)}).encode(), FORM
    if shape == "envelope":
        envelope = {"type": "event_callback", "event_id": draw(ANY_TEXT), "event": value}
        return json.dumps(envelope).encode(), JSON
    if shape == "json":
        return json.dumps(value).encode(), JSON
    fields = draw(st.dictionaries(st.sampled_from(["command", "text", "user_id", "trigger_id"]), ANY_TEXT))
    return urlencode(
        {"command": "/escalate", **fields}, encoding="utf-8", errors="surrogatepass"
    ).encode(), FORM


@FUZZ
@given(body=garbled_bodies())
def test_garbled_signed_bodies_never_get_a_5xx(running_app: RunningApp, body: tuple[bytes, str]):
    data, content_type = body
    response = post_bytes(running_app.slack, data, content_type)
    assert response.status_code < 500, (response.status_code, data[:200])


@FUZZ
@given(
    values=st.fixed_dictionaries(
        {field: st.text(st.characters(exclude_categories=()), max_size=60) for field in TEXT_FIELDS}
    )
)
def test_any_typed_text_gets_saved_or_a_message_next_to_the_field(
    running_app: RunningApp, values: dict[str, str]
):
    response = running_app.slack.submit(handoff_values(**{f: text(v) for f, v in values.items()}))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["response_action"] in ("update", "errors")
    if answer["response_action"] == "errors":
        assert set(answer["errors"]) <= {f.value for f in HandoffField}
        assert "again in a moment" not in json.dumps(answer)  # a retry that could never work


# 3. Typed text never pings, mentions or links.

# Each hostile sequence targets ids that no policy or person here has, so any trace of it unescaped in a
# message can only have come from typed text.
HOSTILE = (
    "<!channel> <!here> <!everyone> @channel @here @everyone <!subteam^S123|@team> <!subteam^S123> "
    "<@U999> <@U999|the boss> <#C999> <#C999|general> <https://evil.example|click here> "
    "<mailto:evil@example.com|mail us> <tel:+15555550100|call> "
    "&lt;@U998&gt; &lt;!subteam^S124&gt; &amp;lt;!channel&amp;gt; *bold* _it_ ~gone~ `code` > quoted"
)
HOSTILE_SHORT = "<!channel><!here><@U999><#C999><!subteam^S123>&lt;@U998&gt;"  # fits 64 characters
HOSTILE_NAME = "<!everyone> <@U999|boss> <https://evil.example|click> &lt;@U998&gt; *Jane*"
FORGED = (
    "<!channel",
    "<!here",
    "<!everyone",
    "<!subteam^S123",
    "<@U999",
    "<#C999",
    "<https://evil",
    "<mailto:evil",
    "<tel:",
    "&lt;@U998",  # typed as an entity: shown escaped it reads &amp;lt;…
    "&lt;!subteam^S124",
)
# Keys whose strings Slack never renders as mrkdwn: an input's own text, and data the app reads back.
NOT_RENDERED = {"initial_value", "private_metadata", "value", "metadata", "action_id", "block_id"}


def rendered_strings(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string Slack renders as mrkdwn (plain_text objects are never parsed for mentions)."""
    if isinstance(value, dict):
        plain = value.get("type") == "plain_text"
        for key, item in value.items():
            if key in NOT_RENDERED or (plain and key == "text"):
                continue
            yield from rendered_strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from rendered_strings(item, f"{where}[{index}]")
    elif isinstance(value, str):
        yield where, value


def forged_sequences(method: str, params: dict[str, Any]) -> list[str]:
    found = []
    for where, string in rendered_strings(params):
        found += [f"{method}{where}: {seq!r} in {string[:120]!r}" for seq in FORGED if seq in string]
    return found


def hostile_handoff(**extra: Any) -> dict[str, dict[str, Any]]:
    return handoff_values(
        customer_name=text(HOSTILE_NAME),
        account_number=text(HOSTILE_SHORT),
        summary=text(HOSTILE),
        steps_taken=text(HOSTILE),
        desired_outcome=text(HOSTILE),
        customer_tone=text(HOSTILE_NAME),
        deadline=text(HOSTILE_NAME),
        **extra,
    )


def raised(app: RunningApp, slack_api: SlackStandIn, values: dict[str, Any]) -> tuple[int, Call]:
    """Raise through the form; the escalation's id and its card."""
    posts = len(slack_api.calls_to("chat.postMessage"))
    response = app.slack.submit(values)
    assert response.json()["response_action"] == "update", response.json()
    slack_api.wait_for("chat.postMessage", posts + 2)
    app.settle()
    with app.store.transaction() as tx:
        escalation_id = tx.session.execute(sql("SELECT MAX(id) FROM escalations")).scalar_one()
    return escalation_id, slack_api.calls_to("chat.postMessage")[posts]


def test_typed_text_never_pings_mentions_or_links_anywhere_the_bot_posts(
    running_app: RunningApp, slack_api: SlackStandIn, caplog: pytest.LogCaptureFixture
):
    app, sender = running_app, running_app.slack
    answers: list[requests.Response] = []

    # The form, opened from /escalate and from the message shortcut with hostile text to pre-fill it.
    answers.append(sender.command(HOSTILE))
    answers.append(sender.message_shortcut(HOSTILE))
    slack_api.wait_for("views.open", 2)

    # ESC-1: every text field hostile, a customer deadline, and the whole life of a case.
    deadline = int((app.clock.now() + timedelta(hours=3)).timestamp())
    first, card = raised(
        app,
        slack_api,
        hostile_handoff(deadline_at={"type": "datetimepicker", "selected_date_time": deadline}),
    )
    assert "&lt;!channel&gt;" in card.text_everywhere  # the test is not vacuous: the text did arrive
    answers.append(sender.reaction("eyes", ALEX, BILLING, card.response["ts"]))  # type: ignore[index]
    answers.append(sender.reaction("eyes", STRANGER, BILLING, card.response["ts"]))  # type: ignore[index]
    app.settle()
    answers.append(sender.press("post_update", first, ALEX))
    answers.append(sender.submit_form("update_form", first, {"update": text(HOSTILE)}, ALEX))
    answers.append(
        sender.submit_form(
            "move_form", first, {"destination": option("supervisors"), "reason": text(HOSTILE)}, ALEX
        )
    )
    app.settle()
    app.deliver_due()
    answers.append(sender.press("claim", first, SUPER))
    app.settle()
    answers.append(
        sender.submit_form(
            "resolve_form", first, {"done": text(HOSTILE), "for_customer": text(HOSTILE)}, SUPER
        )
    )
    app.settle()
    answers.append(
        sender.submit_form(
            "close_form", first, {"csat": option("4", "radio_buttons"), "comment": text(HOSTILE)}, AGENT
        )
    )
    app.settle()

    # ESC-2: cancelled with a hostile reason.
    second, _card = raised(app, slack_api, hostile_handoff())
    answers.append(sender.submit_form("cancel_form", second, {"reason": text(HOSTILE)}, AGENT))
    app.settle()

    # ESC-3: its channel refuses the card, so the supervisors get it with the problem; then its clocks run.
    slack_api.script("chat.postMessage", Reply.error("channel_not_found"))
    posts = len(slack_api.calls_to("chat.postMessage"))
    answers.append(
        sender.submit(hostile_handoff(deadline_at={"type": "datetimepicker", "selected_date_time": deadline}))
    )
    slack_api.wait_for("chat.postMessage", posts + 3)
    app.settle()
    for _ in range(4):
        app.clock.advance(hours=1)
        app.tick()
    app.settle()

    # Everyone's App Home, the week's stats, and the next morning's digest.
    for user in (AGENT, ALEX, SUPER):
        answers.append(
            sender.event({"type": "app_home_opened", "user": user, "tab": "home", "event_ts": "1.2"})
        )
    answers.append(sender.command("stats", user_id=SUPER))
    app.settle()
    app.clock.set(app.clock.now().replace(hour=9, minute=5, tzinfo=UTC) + timedelta(days=1))
    app.tick()
    app.tick()
    app.settle()

    assert history_actions(app) == [
        *("raise", "claim", "post_update", "move", "claim", "resolve", "close"),
        *("raise", "cancel"),
        *("raise", "move"),  # ESC-3 went unacknowledged, and up to the supervisors
    ]
    methods = {call.method for call in slack_api.calls}
    for expected in ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.publish"):
        assert expected in methods, f"the scenario never reached {expected}"
    assert any("digest" in json.dumps(c.params).lower() for c in slack_api.calls_to("chat.postMessage"))
    assert all(r.status_code == 200 for r in answers), [r.status_code for r in answers]

    forged: list[str] = []
    for call in slack_api.calls:
        forged += forged_sequences(call.method, call.params)
        assert call.params.get("link_names") in (None, False, 0, "false", "0"), call.method
        assert call.params.get("parse") != "full", call.method
    for response in answers:  # what Slack renders from our HTTP answers (the saved view, errors)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            forged += forged_sequences("response", response.json())
    assert forged == []
    # The pre-filled form keeps the agent's text as typed: a plain-text input shows it, never parses it.
    prefill = slack_api.calls_to("views.open")[0].params["view"]["blocks"]
    assert next(b for b in prefill if b.get("block_id") == "summary")["element"]["initial_value"] == HOSTILE
    assert crashes(caplog) == []


# Property-based: the payload models and the handoff checks, called directly with anything at all.

HANDOFF_FIELDS = [field.value for field in HandoffField]
ELEMENT_STATES = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "plain_text_input",
                "number_input",
                "users_select",
                "static_select",
                "radio_buttons",
                "checkboxes",
                "datetimepicker",
                "unknown",
            ]
        )
    },
    optional={
        "value": JSON_VALUES,
        "selected_user": JSON_VALUES,
        "selected_option": st.fixed_dictionaries({}, optional={"value": JSON_VALUES}) | JSON_VALUES,
        "selected_options": JSON_VALUES,
        "selected_date_time": st.integers() | st.floats() | JSON_VALUES,
    },
)
BLOCK_IDS = st.sampled_from(
    [*HANDOFF_FIELDS, "update", "done", "for_customer", "reason", "csat", "new_owner"]
)


@st.composite
def submissions(draw: st.DrawFn) -> dict[str, Any]:
    """view_submission payloads: Slack's shape, with any element state and any id or metadata."""
    values = draw(st.dictionaries(BLOCK_IDS, ELEMENT_STATES, max_size=len(HANDOFF_FIELDS)))
    payload = view_submission(
        values,
        view_id=draw(st.text(max_size=300) | st.just("V0001")),
        private_metadata=draw(ANY_TEXT | st.just(COMMAND_METADATA) | st.integers().map(str)),
        user_id=draw(st.text(max_size=40) | st.just(AGENT)),
    )
    if draw(st.booleans()):  # and now and then, something broken anywhere in it
        payload[draw(KEYS)] = draw(JSON_VALUES)
    return payload


@settings(max_examples=60, deadline=None)
@given(payload=submissions())
def test_a_submission_parses_to_a_form_or_a_validation_error(payload: dict[str, Any]):
    try:
        submission = payloads.ViewSubmission.model_validate(payload)
    except ValidationError:
        return
    form = submission.handoff_form()
    for block in ("update", "reason", "csat", "new_owner", *HANDOFF_FIELDS):
        typed = submission.text(block)
        assert isinstance(typed, str) and storable(typed)
    escalation_id = submission.escalation_id()
    assert escalation_id is None or 0 < escalation_id < 2**31
    assert len(f"view:{submission.view.id}") <= 255 and len(submission.user.id) <= 32
    origin = payloads.FormOrigin.load(submission.view.private_metadata)
    assert all(len(v) <= 32 for v in (origin.channel_id, origin.message_ts) if v)
    handoff, problems = check_handoff(form, POLICY, NOW)
    assert (handoff is None) != (problems == {})


@settings(max_examples=100, deadline=None)
@given(
    payload=st.fixed_dictionaries(
        {
            "type": st.just("block_actions"),
            "user": st.fixed_dictionaries({"id": ANY_TEXT}),
            "trigger_id": ANY_TEXT,
        },
        optional={
            "actions": st.lists(
                st.fixed_dictionaries(
                    {
                        "action_id": st.sampled_from(["claim", "snooze_hour", "mute", "reminder_menu"])
                        | ANY_TEXT
                    },
                    optional={
                        "value": ANY_TEXT | st.integers().map(str) | st.just("3:close_the_loop:2"),
                        "action_ts": ANY_TEXT | st.text("0123456789", max_size=400),
                        "selected_option": st.fixed_dictionaries(
                            {"value": ANY_TEXT | st.just("mute|3:close_the_loop:1")}
                        ),
                    },
                ),
                max_size=3,
            )
        },
    )
)
def test_a_button_press_parses_to_a_bounded_identity_or_a_validation_error(payload: dict[str, Any]):
    try:
        press = payloads.BlockActions.model_validate(payload)
    except ValidationError:
        return
    escalation_id = press.escalation_id()
    assert escalation_id is None or 0 < escalation_id < 2**31
    assert len(press.identity) <= 255
    reminder = press.reminder()
    if reminder is not None:
        _which, found, kind, number = reminder
        assert 0 < found < 2**31 and 0 < number < 2**31 and kind


@settings(max_examples=100, deadline=None)
@given(
    payload=JSON_VALUES,
    model=st.sampled_from(
        ["SlashCommand", "MessageShortcut", "ReactionEvent", "ViewSubmission", "BlockActions", "FormOrigin"]
    ),
)
def test_any_json_is_a_payload_or_a_validation_error(payload: Any, model: str):
    try:
        parsed = getattr(payloads, model).model_validate(payload)
    except ValidationError:
        return
    for value in parsed.model_dump().values():
        if isinstance(value, str):
            value.encode("utf-8")  # never a lone surrogate, whatever was sent


def storable(value: str) -> bool:
    """What PostgreSQL and Slack both take: encodable, no NUL, no other control but tab and newline."""
    value.encode("utf-8")
    return not any(ord(c) < 32 and c not in "\t\n" for c in value)


# Mostly short, now and then past every limit: generating only long strings would make the test slow.
FORM_TEXT = (
    st.none()
    | st.text(st.characters(exclude_categories=()), max_size=40)
    | st.builds(lambda s, n: (s or "x") * n, ANY_TEXT, st.integers(1, 200))
)


@settings(max_examples=100, deadline=None)
@given(
    form=st.builds(
        HandoffForm,
        customer_name=FORM_TEXT,
        account_number=FORM_TEXT,
        summary=FORM_TEXT,
        steps_taken=FORM_TEXT,
        desired_outcome=FORM_TEXT,
        customer_tone=FORM_TEXT,
        deadline=FORM_TEXT,
        deadline_at=st.none() | st.datetimes(timezones=st.just(UTC)),
        path=st.none() | st.sampled_from(["billing", "technical"]) | ANY_TEXT,
        escalation_type=st.none() | st.sampled_from([t.value for t in EscalationType]) | ANY_TEXT,
        priority=st.none() | st.sampled_from(["P1", "P2", "P3", "P4"]) | ANY_TEXT,
        refund_amount=st.none()
        | st.decimals(allow_nan=True, allow_infinity=True).map(str)
        | st.sampled_from(["£1,200.50", "1e999999", "-0", "sNaN", "١٢٣", "1_000", " 12 ", "0x10"])
        | ANY_TEXT,
        customer_consent=st.booleans(),
    )
)
def test_check_handoff_returns_a_handoff_or_problems_by_field_and_never_raises(form: HandoffForm):
    handoff, problems = check_handoff(form, POLICY, NOW)

    if handoff is None:
        assert problems and all(
            isinstance(k, HandoffField) and isinstance(v, str) and v for k, v in problems.items()
        )
        return
    assert problems == {}
    for field, limit in MAX_LENGTH.items():
        value = getattr(handoff, field.value, None)
        if isinstance(value, str):
            assert storable(value) and len(value) <= limit and value == value.strip()
    assert handoff.refund_amount is None or 0 <= handoff.refund_amount < 10**9


@settings(max_examples=100, deadline=None)
@given(typed=st.text(st.characters(exclude_categories=()), max_size=200), limit=st.integers(2, 220))
def test_escaped_text_clipped_anywhere_has_no_control_sequence_or_broken_entity(typed: str, limit: int):
    shown = clip(mrkdwn_escape(typed), limit)
    assert "<" not in shown and ">" not in shown
    assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*…?", shown, re.DOTALL), shown
