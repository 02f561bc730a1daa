"""Sending requests to the app the way Slack does: signed, in Slack's own payload shapes."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import requests

from escalator.standin.web_api import TEAM_ID

AGENT = "U0AGENT"
_ids = itertools.count(1)


def sign(secret: str, timestamp: str, body: str) -> str:
    basestring = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()


class SlackSender:
    def __init__(self, base_url: str, signing_secret: str, response_url: str) -> None:
        self.events_url = base_url + "/slack/events"
        self.secret = signing_secret
        self.response_url = response_url

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature if signature is not None else sign(self.secret, stamp, body),
            **(headers or {}),
        }
        return requests.post(self.events_url, data=body.encode(), headers=all_headers, timeout=10)

    def command(
        self, text: str = "", user_id: str = AGENT, channel_id: str = "C0AGENTS"
    ) -> requests.Response:
        n = next(_ids)
        form = {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "example",
            "channel_id": channel_id,
            "channel_name": "agents",
            "user_id": user_id,
            "user_name": "agent",
            "command": "/escalate",
            "text": text,
            "api_app_id": "A0ESCALATOR",
            "is_enterprise_install": "false",
            "response_url": f"{self.response_url}/{n}",
            "trigger_id": f"{n}.1234.trigger",
        }
        return self.post(urlencode(form), "application/x-www-form-urlencoded")

    def interaction(self, payload: dict[str, Any]) -> requests.Response:
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def message_shortcut(
        self, text: str, user_id: str = AGENT, channel_id: str = "C0AGENTS"
    ) -> requests.Response:
        n = next(_ids)
        return self.interaction(
            {
                "type": "message_action",
                "token": "legacy-verification-token",
                "action_ts": "1764000000.000001",
                "team": {"id": TEAM_ID, "domain": "example"},
                "user": {"id": user_id, "name": "agent", "team_id": TEAM_ID},
                "channel": {"id": channel_id, "name": "agents"},
                "is_enterprise_install": False,
                "callback_id": "escalate_message",
                "trigger_id": f"{n}.5678.trigger",
                "response_url": f"{self.response_url}/{n}",
                "message_ts": "1764000000.000100",
                "message": {"type": "message", "user": "U0CUST", "ts": "1764000000.000100", "text": text},
            }
        )

    def submit(
        self,
        values: dict[str, dict[str, Any]],
        *,
        view_id: str | None = None,
        private_metadata: str = '{"origin":"command","channel_id":"C0AGENTS"}',
        user_id: str = AGENT,
    ) -> requests.Response:
        return self.interaction(
            view_submission(
                values,
                view_id=view_id or f"V{next(_ids):08d}",
                private_metadata=private_metadata,
                user_id=user_id,
            )
        )

    def press(
        self,
        action_id: str,
        escalation_id: int | None,
        user_id: str,
        *,
        action_ts: str | None = None,
        channel_id: str = "C0123BILL",
        message_ts: str = "1764000000.000001",
    ) -> requests.Response:
        """A button press on a card (or a private message), as a block_actions payload."""
        n = next(_ids)
        return self.interaction(
            {
                **_block_actions_from(user_id),
                "container": {
                    "type": "message",
                    "message_ts": message_ts,
                    "channel_id": channel_id,
                    "is_ephemeral": False,
                },
                "trigger_id": f"{n}.7777.trigger",
                "channel": {"id": channel_id, "name": "billing"},
                "message": {"type": "message", "ts": message_ts, "text": "card"},
                "response_url": f"{self.response_url}/{n}",
                "actions": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": "card_actions",
                        "value": str(escalation_id),
                        "text": {"type": "plain_text", "text": action_id},
                        "action_ts": action_ts or f"1764000{n:03d}.000001",
                    }
                ],
            }
        )

    def type_in_form(
        self,
        view: dict[str, Any],
        action_id: str,
        value: str,
        *,
        user_id: str = AGENT,
        view_id: str = "V0FORM",
    ) -> requests.Response:
        """Text typed in an open modal's input that dispatches actions: a block_actions payload, with
        the view as Slack has it (the blocks the app sent, its id and hash)."""
        n = next(_ids)
        typed = {"type": "plain_text_input", "value": value}
        return self.interaction(
            {
                **_block_actions_from(user_id),
                "container": {"type": "view", "view_id": view_id},
                "trigger_id": f"{n}.7777.trigger",
                "view": {
                    **view,
                    "id": view_id,
                    "team_id": TEAM_ID,
                    "hash": f"1764000{n:03d}.hash",
                    "state": {"values": {action_id: {action_id: typed}}},
                },
                "actions": [
                    {
                        "type": "plain_text_input",
                        "action_id": action_id,
                        "block_id": action_id,
                        "value": value,
                        "action_ts": f"1764000{n:03d}.000002",
                    }
                ],
            }
        )

    def submit_form(
        self,
        callback_id: str,
        escalation_id: int | None,
        values: dict[str, dict[str, Any]],
        user_id: str,
        view_id: str | None = None,
    ) -> requests.Response:
        payload = view_submission(
            values,
            view_id=view_id or f"V{next(_ids):08d}",
            private_metadata=str(escalation_id),
            user_id=user_id,
        )
        payload["view"]["callback_id"] = callback_id
        return self.interaction(payload)

    def reaction(
        self,
        reaction: str,
        user_id: str,
        channel: str,
        ts: str | None,
        *,
        added: bool = True,
        event_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        return self.event(
            {
                "type": "reaction_added" if added else "reaction_removed",
                "user": user_id,
                "reaction": reaction,
                "item_user": "U0BOT",
                "item": {"type": "message", "channel": channel, "ts": ts},
                "event_ts": f"{time.time():.6f}",
            },
            event_id=event_id,
            headers=headers,
        )

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        envelope = {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0ESCALATOR",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids):08d}",
            "event_time": int(time.time()),
            "authed_users": ["U0BOT"],
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}],
        }
        return self.post(json.dumps(envelope), "application/json", headers=headers)


def view_submission(
    values: dict[str, dict[str, Any]], *, view_id: str, private_metadata: str, user_id: str
) -> dict[str, Any]:
    """A view_submission payload as Slack sends it: state.values[block_id][action_id] = element state."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "example"},
        "user": {"id": user_id, "username": "agent", "name": "agent", "team_id": TEAM_ID},
        "api_app_id": "A0ESCALATOR",
        "token": "legacy-verification-token",
        "trigger_id": "9.9.trigger",
        "view": {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "modal",
            "callback_id": "escalate_form",
            "private_metadata": private_metadata,
            "hash": "1764000000.abcdef",
            "title": {"type": "plain_text", "text": "Escalate"},
            "blocks": [],
            "state": {"values": {block: {block: state} for block, state in values.items()}},
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def select(value: str | None, kind: str = "static_select") -> dict[str, Any]:
    return {
        "type": kind,
        "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}} if value else None,
    }


def handoff_values(**overrides: Any) -> dict[str, dict[str, Any]]:
    """The seed's example handoff note (Jane Doe, invoice #789), as form state."""
    values: dict[str, dict[str, Any]] = {
        "customer_name": text("Jane Doe"),
        "account_number": text("12345"),
        "summary": text("Double charge on invoice #789 seen in her bank."),
        "steps_taken": text("Two charges confirmed; one is pending. Checked procedures; no ability to fix."),
        "desired_outcome": text("Immediate reversal or timeline confirmation."),
        "customer_tone": text("Frustrated but polite"),
        "deadline": text("Bill due tomorrow"),
        "deadline_at": {"type": "datetimepicker", "selected_date_time": None},
        "path": select("billing"),
        "escalation_type": select("functional", "radio_buttons"),
        "priority": select("P2"),
        "refund_amount": {"type": "number_input", "value": None},
        "refund_reason": {"type": "plain_text_input", "value": None},
        "customer_consent": {
            "type": "checkboxes",
            "selected_options": [{"value": "yes", "text": {"type": "plain_text", "text": "agreed"}}],
        },
    }
    values.update(overrides)
    return values


def _block_actions_from(user_id: str) -> dict[str, Any]:
    """What every block_actions payload says of where it comes from and who pressed or typed."""
    return {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "example"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0ESCALATOR",
        "token": "legacy-verification-token",
    }
