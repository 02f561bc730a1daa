"""The requests `bench/load.py` sends: Slack's own payload shapes (as escalator.standin.sender builds
them), signed with the signing secret, rendered to raw HTTP/1.1 bytes ahead of the timed part.

A mix is a shuffled list of slash commands, handoff form submissions, claim reactions on cards and
claim button presses; every view id, event id and trigger id in it is new. A small share of the
submissions and reactions is delivered a second time shortly after, as Slack does when an answer is
late (events carry `X-Slack-Retry-Num`), so the run can check that nothing is done twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

TEAM_ID = "T0TEAM"
# A support floor: twenty agents raising escalations, eight billing specialists claiming them (the
# bench policy names them). Who is involved matters: each change re-publishes their App Home.
AGENTS = tuple(f"U0AGENT{i:02d}" for i in range(1, 21))
SPECIALISTS = tuple(f"U0SPEC{i:02d}" for i in range(1, 9))
CLAIM_EMOJI = "eyes"
EVENTS_PATH = "/slack/events"
FORM = "application/x-www-form-urlencoded"


class Kind(StrEnum):
    command = "slash command"
    view = "view submission"
    reaction = "claim reaction"
    button = "claim button"


# The realistic mix: what agents and specialists do most.
DEFAULT_WEIGHTS: dict[Kind, float] = {
    Kind.command: 0.30,
    Kind.view: 0.20,
    Kind.reaction: 0.25,
    Kind.button: 0.25,
}


@dataclass(frozen=True)
class Card:
    """A posted card the claims aim at: its escalation id, and where Slack says it is."""

    escalation_id: int
    channel: str
    ts: str


@dataclass(frozen=True)
class MixSpec:
    """Everything the generator process needs to build a phase's requests itself."""

    label: str  # makes every id in this phase unique across the run
    count: int
    cards: tuple[Card, ...]
    weights: dict[Kind, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    redeliver: float = 0.0  # share of submissions and reactions sent a second time
    seed: int = 1
    paths: tuple[str, ...] = ("billing",)  # the forms' paths, in turn (each path's cards in its channel)
    agents: tuple[str, ...] = AGENTS  # who submits, in turn


@dataclass(frozen=True)
class Unsigned:
    kind: Kind
    content_type: str
    body: bytes
    retry: bool = False  # a redelivery: events say so in X-Slack-Retry-Num
    view_id: str | None = None


@dataclass(frozen=True)
class Prepared:
    kind: Kind
    raw: bytes  # the whole HTTP request
    view_id: str | None


def handoff_values(n: int, path: str = "billing") -> dict[str, dict[str, Any]]:
    """The seed's example handoff note as form state, with a customer of its own, for `path`."""

    def text(value: str) -> dict[str, Any]:
        return {"type": "plain_text_input", "value": value}

    def select(value: str, kind: str = "static_select") -> dict[str, Any]:
        return {
            "type": kind,
            "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
        }

    return {
        "customer_name": text(f"Jane Doe {n}"),
        "account_number": text(f"{10000 + n % 90000}"),
        "summary": text("Double charge on invoice #789 seen in her bank."),
        "steps_taken": text("Two charges confirmed; one is pending. Checked procedures; no ability to fix."),
        "desired_outcome": text("Immediate reversal or timeline confirmation."),
        "customer_tone": text("Frustrated but polite"),
        "deadline": text("Bill due tomorrow"),
        "deadline_at": {"type": "datetimepicker", "selected_date_time": None},
        "path": select(path),
        "escalation_type": select("functional", "radio_buttons"),
        "priority": select("P2"),
        "refund_amount": {"type": "number_input", "value": None},
        "customer_consent": {
            "type": "checkboxes",
            "selected_options": [{"value": "yes", "text": {"type": "plain_text", "text": "agreed"}}],
        },
    }


class SlackShapes:
    """Unsigned requests in Slack's shapes; `response_url` points at the Web API stand-in."""

    def __init__(self, response_url: str) -> None:
        self._response_url = response_url

    def command(self, n: str, user: str) -> Unsigned:
        form = {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "example",
            "channel_id": "C0AGENTS",
            "channel_name": "agents",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/escalate",
            "text": "refund please, invoice charged twice",
            "api_app_id": "A0ESCALATOR",
            "is_enterprise_install": "false",
            "response_url": f"{self._response_url}/{n}",
            "trigger_id": f"{n}.1234.trigger",
        }
        return Unsigned(Kind.command, FORM, urlencode(form).encode())

    def view_submission(self, view_id: str, n: int, user: str, path: str = "billing") -> Unsigned:
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
            "api_app_id": "A0ESCALATOR",
            "token": "legacy-verification-token",
            "trigger_id": f"{view_id}.9.trigger",
            "view": {
                "id": view_id,
                "team_id": TEAM_ID,
                "type": "modal",
                "callback_id": "escalate_form",
                "private_metadata": '{"origin":"command","channel_id":"C0AGENTS"}',
                "hash": "1764000000.abcdef",
                "title": {"type": "plain_text", "text": "Escalate"},
                "blocks": [],
                "state": {"values": {b: {b: state} for b, state in handoff_values(n, path).items()}},
            },
            "response_urls": [],
            "is_enterprise_install": False,
        }
        return Unsigned(Kind.view, FORM, _interaction(payload), view_id=view_id)

    def claim_button(self, n: str, card: Card, user: str) -> Unsigned:
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
            "api_app_id": "A0ESCALATOR",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": card.ts,
                "channel_id": card.channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{n}.7777.trigger",
            "channel": {"id": card.channel, "name": "billing"},
            "message": {"type": "message", "ts": card.ts, "text": "card"},
            "response_url": f"{self._response_url}/{n}",
            "actions": [
                {
                    "type": "button",
                    "action_id": "claim",
                    "block_id": "card_actions",
                    "value": str(card.escalation_id),
                    "text": {"type": "plain_text", "text": "Claim"},
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return Unsigned(Kind.button, FORM, _interaction(payload))

    def claim_reaction(self, event_id: str, card: Card, user: str) -> Unsigned:
        envelope = {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0ESCALATOR",
            "event": {
                "type": "reaction_added",
                "user": user,
                "reaction": CLAIM_EMOJI,
                "item_user": "U0BOT",
                "item": {"type": "message", "channel": card.channel, "ts": card.ts},
                "event_ts": f"{time.time():.6f}",
            },
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authed_users": ["U0BOT"],
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}],
        }
        return Unsigned(Kind.reaction, "application/json", json.dumps(envelope).encode())


def _interaction(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def build_mix(spec: MixSpec, shapes: SlackShapes) -> list[Unsigned]:
    """`spec.count` requests in a shuffled order; claims go round the cards, two specialists racing."""
    rng = random.Random(spec.seed)
    kinds = rng.choices(list(spec.weights), weights=list(spec.weights.values()), k=spec.count)
    mix: list[Unsigned] = []
    claims = 0
    for i, kind in enumerate(kinds):
        n = f"{spec.label}-{i}"
        agent = spec.agents[i % len(spec.agents)]
        if kind is Kind.command:
            mix.append(shapes.command(n, agent))
        elif kind is Kind.view:
            path = spec.paths[i % len(spec.paths)]
            mix.append(shapes.view_submission(f"V{spec.label}x{i}", i, agent, path))
        else:
            # Each card gets two claims (reaction or button) from two specialists in turn: the first
            # wins, the next is refused ("already claimed"), as when two go for the same case.
            card = spec.cards[(claims // 2) % len(spec.cards)]
            user = SPECIALISTS[claims % 2]
            claims += 1
            if kind is Kind.reaction:
                mix.append(shapes.claim_reaction(f"Ev{spec.label}x{i}", card, user))
            else:
                mix.append(shapes.claim_button(n, card, user))
    if spec.redeliver > 0:
        mix = _with_redeliveries(mix, spec.redeliver, rng)
    return mix


def _with_redeliveries(mix: list[Unsigned], share: float, rng: random.Random) -> list[Unsigned]:
    """A second delivery of some submissions and reactions, three requests after the first."""
    out = list(mix)
    inserted = 0
    for i, request in enumerate(mix):
        if request.kind in (Kind.view, Kind.reaction) and rng.random() < share:
            again = Unsigned(request.kind, request.content_type, request.body, True, request.view_id)
            out.insert(min(i + inserted + 4, len(out)), again)
            inserted += 1
    return out


def sign_all(mix: list[Unsigned], secret: str, host: str) -> list[Prepared]:
    """Sign with the current time (Slack's signatures are good for five minutes) and render to bytes."""
    stamp = str(int(time.time()))
    key = secret.encode()
    prepared = []
    for request in mix:
        signature = hmac.new(key, b"v0:" + stamp.encode() + b":" + request.body, hashlib.sha256).hexdigest()
        retry = "X-Slack-Retry-Num: 1\r\nX-Slack-Retry-Reason: http_timeout\r\n" if request.retry else ""
        head = (
            f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {request.content_type}\r\n"
            f"Content-Length: {len(request.body)}\r\nX-Slack-Request-Timestamp: {stamp}\r\n"
            f"X-Slack-Signature: v0={signature}\r\n{retry}Connection: keep-alive\r\n\r\n"
        )
        prepared.append(Prepared(request.kind, head.encode() + request.body, request.view_id))
    return prepared
