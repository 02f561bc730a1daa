"""What a listener's failure looks like to Slack and to the person who clicked.

Listeners ack first, so a failure after the ack cannot change Slack's answer: the person is told
instead. The database being away, or too busy to answer in time, is the failure people can do
something about (try again), so they hear it at once rather than wonder why nothing happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltResponse, Respond
from sqlalchemy.exc import SQLAlchemyError

from escalator.slack.gateway import SlackCallFailed
from escalator.slack.runtime import Runtime

log = logging.getLogger(__name__)

DATABASE_AWAY = (
    ":hourglass_flowing_sand: I couldn't reach my database just now, so nothing was changed. "
    "Please try again in a moment."
)

ErrorHandler = Callable[[Exception, dict[str, Any], Respond | None], BoltResponse]


def error_handler(runtime: Runtime) -> ErrorHandler:
    """Bolt's, for a listener that failed before its ack: Slack's answer leaves at once, and the
    person is told after it."""

    def on_error(error: Exception, body: dict[str, Any], respond: Respond | None) -> BoltResponse:
        status = _status(error)
        if status == 503:
            runtime.after_ack(body, respond, lambda: _tell(runtime, body, respond, DATABASE_AWAY))
        return BoltResponse(status=status, body="")

    return on_error


def tell_failure(runtime: Runtime, error: Exception, body: dict[str, Any], respond: Respond | None) -> None:
    """For a listener's work that failed after its ack."""
    if _status(error) == 503:
        _tell(runtime, body, respond, DATABASE_AWAY)


def _status(error: Exception) -> int:
    """What the failure is, logged once: 503 when the database is away or busy, else 400."""
    if isinstance(error, SQLAlchemyError):
        log.warning("a Slack request failed: the database is unreachable or busy (%s)", type(error).__name__)
        return 503
    # A payload missing what Slack always sends. Logged without the body: it may hold customer data.
    log.warning("could not handle a Slack request: %s: %s", type(error).__name__, error)
    return 400


def _tell(runtime: Runtime, body: dict[str, Any], respond: Respond | None, text: str) -> None:
    """Privately, where the person is: through the response URL, or beside the message they reacted to."""
    try:
        if respond is not None and respond.response_url:
            respond(text=text, response_type="ephemeral", replace_original=False)
            return
        event = body.get("event") or {}
        user, channel = event.get("user"), (event.get("item") or {}).get("channel")
        if isinstance(user, str) and isinstance(channel, str):
            runtime.gateway.call("chat.postEphemeral", channel=channel, user=user, text=text)
    except (SlackCallFailed, OSError, ValueError) as exc:
        log.warning("could not tell the person their request failed: %s", type(exc).__name__)
