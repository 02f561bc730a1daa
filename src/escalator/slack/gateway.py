"""The one door to Slack's Web API: every call the app makes goes through `SlackGateway.call`.

It sorts failures into the three kinds callers act on: try again later (rate limit, 5xx, timeout),
refused for good (Slack's error code), or fine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse

from escalator.metrics import API_CALLS

log = logging.getLogger(__name__)

# Slack error codes that mean "not now" rather than "never".
_TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)


# Methods that do not read a JSON body: their arguments go form-encoded (None values left out).
_FORM_ONLY = frozenset(
    {
        "usergroups.users.list",
        "usergroups.list",
        "users.info",
        "conversations.info",
        "conversations.history",
        "conversations.replies",
    }
)


class SlackCallFailed(Exception):
    """A Web API call that did not succeed.

    `transient` failures may succeed later (after `retry_after` seconds when Slack said so);
    the others carry Slack's error code (`channel_not_found`, `invalid_auth`, …) in `error`.
    """

    def __init__(self, method: str, error: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class BotIdentity:
    user_id: str
    team: str
    scopes: frozenset[str] | None  # None when Slack's answer did not list them


class SlackGateway:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call `method` (such as `chat.postMessage`) and return Slack's answer, or raise SlackCallFailed."""
        response = self._counted(method, params)
        return dict(response.data) if isinstance(response.data, dict) else {}

    def identity(self) -> BotIdentity:
        """auth.test: who the token signs in as, and the scopes Slack says it holds (`x-oauth-scopes`)."""
        response = self._counted("auth.test", {})
        data = dict(response.data) if isinstance(response.data, dict) else {}
        header = next((v for k, v in response.headers.items() if k.lower() == "x-oauth-scopes"), None)
        if isinstance(header, list):
            header = header[0] if header else None
        scopes = frozenset(s.strip() for s in header.split(",") if s.strip()) if header is not None else None
        return BotIdentity(
            user_id=str(data.get("user_id") or ""), team=str(data.get("team") or ""), scopes=scopes
        )

    def _counted(self, method: str, params: dict[str, Any]) -> SlackResponse:
        with _counting(method):
            return self._call(method, params)

    def _call(self, method: str, params: dict[str, Any]) -> SlackResponse:
        try:
            if method in _FORM_ONLY:
                return self.client.api_call(method, params=params)
            return self.client.api_call(method, json=params)
        except SlackApiError as exc:
            raise _classify(method, exc) from None
        except (OSError, TimeoutError) as exc:  # connection refused, reset, DNS, socket timeout
            log.warning("Slack %s could not be reached: %s", method, type(exc).__name__)
            raise SlackCallFailed(method, "connection_error", transient=True) from None
        except ValueError:  # urllib refusing the Authorization header: its message quotes the token
            raise SlackCallFailed(method, "invalid_auth", transient=False) from None

    def upload_file(
        self, channel: str, filename: str, content: bytes, title: str, thread_ts: str | None
    ) -> None:
        """files_upload_v2: Slack's three steps (an upload URL, the bytes, completing into the channel)."""
        with _counting("files.upload"):
            self._upload(channel, filename, content, title, thread_ts)

    def _upload(self, channel: str, filename: str, content: bytes, title: str, thread_ts: str | None) -> None:
        try:
            self.client.files_upload_v2(
                channel=channel, filename=filename, content=content, title=title, thread_ts=thread_ts
            )
        except SlackApiError as exc:
            raise _classify("files.upload", exc) from None
        except (SlackRequestError, OSError, TimeoutError) as exc:
            log.warning("Slack file upload failed for now: %s", type(exc).__name__)
            raise SlackCallFailed("files.upload", "upload_failed", transient=True) from None
        except ValueError:
            raise SlackCallFailed("files.upload", "invalid_auth", transient=False) from None


@contextmanager
def _counting(method: str) -> Iterator[None]:
    """Count the call in the metrics by its outcome: ok, ratelimited or error."""
    try:
        yield
    except SlackCallFailed as failed:
        API_CALLS.labels(method, "ratelimited" if failed.error == "ratelimited" else "error").inc()
        raise
    API_CALLS.labels(method, "ok").inc()


def _classify(method: str, exc: SlackApiError) -> SlackCallFailed:
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"http_{status}")
    if status == 429:
        retry_after = _retry_after(response.headers)
        log.warning("Slack rate-limited %s; retry after %ss", method, retry_after)
        return SlackCallFailed(method, "ratelimited", transient=True, retry_after=retry_after)
    if status >= 500 or error in _TRANSIENT_ERRORS:
        log.warning("Slack %s failed for now: %s (HTTP %s)", method, error, status)
        return SlackCallFailed(method, error, transient=True)
    log.warning("Slack refused %s: %s", method, error)
    return SlackCallFailed(method, error, transient=False)


def _retry_after(headers: dict[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(float(raw), 0.0)
            except (TypeError, ValueError):
                break
    return 1.0
