"""Posting a message at most once, even when an earlier attempt's fate is unknown.

Slack has no idempotency key for chat.postMessage. When a call times out, or the process dies
mid-call, Slack may have posted the message anyway, and a blind retry would post it twice. So every
message the outbox posts carries its outbox id in Slack's message metadata, and a retry whose earlier
try is in doubt first looks for that id among the bot's messages since the message was queued. A try
known not to have posted (a 429, an error answer, a 5xx) leaves no doubt, and costs no look.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from escalator.slack.gateway import SlackCallFailed, SlackGateway
from escalator.store.repositories import OutboxMessage

log = logging.getLogger(__name__)

METADATA_EVENT = "escalator_delivery"
# Slack's clock and ours may differ a little; look a minute further back than the message was queued.
_CLOCK_SKEW = timedelta(minutes=1)
_PAGE = 200
_MAX_PAGES = 10


@dataclass(frozen=True)
class Sent:
    """Where a message landed in Slack. `detour`: Slack refused where it was meant to go, for this
    reason, and it went elsewhere (a card to the supervisors)."""

    channel: str
    ts: str
    detour: str | None = None


class Poster:
    def __init__(self, gateway: SlackGateway) -> None:
        self._gateway = gateway

    def post(
        self, message: OutboxMessage, channel: str, content: dict[str, Any], thread_ts: str | None = None
    ) -> Sent:
        """chat.postMessage, unless an earlier try of this message already posted it."""
        if message.doubt:
            earlier = self.find(message, channel, thread_ts)
            if earlier is not None:
                log.info("outbox message %s was already posted (ts %s)", message.id, earlier.ts)
                return earlier
        params: dict[str, Any] = {
            "channel": channel,
            "unfurl_links": False,
            "unfurl_media": False,
            "metadata": {"event_type": METADATA_EVENT, "event_payload": {"outbox_id": message.id}},
            **content,
        }
        if thread_ts:
            params["thread_ts"] = thread_ts
        answer = self._gateway.call("chat.postMessage", **params)
        return Sent(str(answer["channel"]), str(answer["ts"]))

    def find(self, message: OutboxMessage, channel: str, thread_ts: str | None = None) -> Sent | None:
        """Where an earlier try of `message` posted it in `channel` (or its thread), if one did."""
        try:
            conversation = self._conversation(channel)
            oldest = f"{(message.created_at - _CLOCK_SKEW).timestamp():.6f}"
            cursor = None
            for _ in range(_MAX_PAGES):
                page = self._page(conversation, thread_ts, oldest, cursor)
                for posted in page.get("messages") or []:
                    if _carries(posted, message.id):
                        return Sent(conversation, str(posted["ts"]))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not page.get("has_more") or not cursor:
                    return None
        except SlackCallFailed as exc:
            if exc.transient:
                raise  # not knowing is not knowing: try the whole delivery again later
            # A missing history scope (an install from before it was asked for): post, and say so.
            log.warning(
                "could not check whether outbox message %s was already posted (%s); posting it",
                message.id,
                exc.error,
            )
            return None
        log.warning("outbox message %s: too much history to search; posting it", message.id)
        return None

    def _page(
        self, conversation: str, thread_ts: str | None, oldest: str, cursor: str | None
    ) -> dict[str, Any]:
        query = {"oldest": oldest, "limit": _PAGE, "include_all_metadata": "true", "cursor": cursor}
        if thread_ts:  # a reply lives in its thread, which the channel's history leaves out
            return self._gateway.call("conversations.replies", channel=conversation, ts=thread_ts, **query)
        return self._gateway.call("conversations.history", channel=conversation, **query)

    def _conversation(self, channel: str) -> str:
        """A user ID stands for the app's DM with them, whose own ID the history needs."""
        if channel.startswith(("U", "W")):
            return str(self._gateway.call("conversations.open", users=channel)["channel"]["id"])
        return channel


def _carries(message: dict[str, Any], outbox_id: int) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == METADATA_EVENT and payload.get("outbox_id") == outbox_id
