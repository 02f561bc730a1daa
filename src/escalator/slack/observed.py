"""Bolt's App, measured: every request from Slack (over HTTP or Socket Mode) is counted by listener,
its time to ack observed, and logged as one line with its Slack request id."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse

from escalator.log_format import request_context
from escalator.metrics import SLACK_REQUESTS, TIME_TO_ACK
from escalator.slack.ids import CallbackId, IncidentActionId
from escalator.slack.payloads import parse_escalation_id

log = logging.getLogger("escalator.requests")

# Names come from the app's own manifest and blocks; anything else is folded, so that a payload
# cannot grow the metrics' label sets.
_NAME = re.compile(r"^[A-Za-z0-9_:/.\-]{1,64}$")
_ABOUT_INCIDENTS = frozenset(
    {
        IncidentActionId.declare,
        IncidentActionId.dismiss,
        IncidentActionId.post_update,
        IncidentActionId.resolve,
        CallbackId.incident_update_form,
        CallbackId.incident_resolve_form,
    }
)


class ObservedApp(App):  # type: ignore[misc]  # slack_bolt's App is untyped in places
    def dispatch(self, req: BoltRequest) -> BoltResponse:
        started = time.perf_counter()
        body = req.body if isinstance(req.body, dict) else {}
        with request_context(slack_request_id(body), escalation_mentioned(body)) as context:
            response: BoltResponse = super().dispatch(req)
        elapsed = time.perf_counter() - started
        # A request that failed its signature check is not Slack's: its payload names nothing.
        listener = "unverified" if response.status == 401 else listener_name(body)
        SLACK_REQUESTS.labels(listener, str(response.status)).inc()
        TIME_TO_ACK.labels(listener).observe(elapsed)
        retry = _header(req, "x-slack-retry-num")
        log.info(
            "slack request",
            extra={
                "listener": listener,
                "status": response.status,
                "ack_ms": round(elapsed * 1000, 1),
                **context.fields(),
                **({"slack_retry": retry} if retry else {}),
            },
        )
        return response


def listener_name(body: dict[str, Any]) -> str:
    """`command /escalate`, `action claim`, `view escalate`, `shortcut escalate_message`, `event
    reaction_added`, …"""
    kind = body.get("type")
    if "command" in body:
        return _named("command", body.get("command"))
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return _named("action", actions[0].get("action_id") if isinstance(actions[0], dict) else None)
    if kind in ("view_submission", "view_closed"):
        return _named(kind, _get(body, "view", "callback_id"))
    if kind in ("shortcut", "message_action"):
        return _named("shortcut", body.get("callback_id"))
    if kind == "event_callback":
        return _named("event", _get(body, "event", "type"))
    if "ssl_check" in body:
        return "ssl_check"
    return kind if kind in ("url_verification", "app_rate_limited") else "other"


def slack_request_id(body: dict[str, Any]) -> str | None:
    """Slack's own id of this request: the event id, the interaction's trigger id, or the view's id."""
    for found in (body.get("event_id"), body.get("trigger_id"), _get(body, "view", "id")):
        if isinstance(found, str) and _NAME.match(found):
            return found
    return None


def escalation_mentioned(body: dict[str, Any]) -> int | None:
    """The escalation a button or a case form is about, as the app wrote it into them (an incident's
    buttons and forms carry the incident's or the suggestion's id instead)."""
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        if actions[0].get("action_id") in _ABOUT_INCIDENTS:
            return None
        value = actions[0].get("value") or ""
        return parse_escalation_id(str(value).split(":", 1)[0])
    if _get(body, "view", "callback_id") in _ABOUT_INCIDENTS:
        return None
    metadata = _get(body, "view", "private_metadata")
    return parse_escalation_id(metadata) if isinstance(metadata, str) else None


def _named(kind: str, name: object) -> str:
    return f"{kind} {name}" if isinstance(name, str) and _NAME.match(name) else f"{kind} other"


def _get(body: dict[str, Any], outer: str, inner: str) -> object:
    nested = body.get(outer)
    return nested.get(inner) if isinstance(nested, dict) else None


def _header(req: BoltRequest, name: str) -> str | None:
    values = req.headers.get(name)
    return values[0] if values else None
