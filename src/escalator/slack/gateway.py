"""The one door to Slack's Web API: every call the app makes goes through `SlackGateway.call`, which
takes its turn from the pacer first (Slack's rate limits, shared by all processes).

It sorts failures into the kinds callers act on: try again later (rate limit, 5xx, no connection,
timeout — and whether the call may have reached Slack all the same), refused for good (Slack's error
code), or fine.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse

from escalator.delivery.pacer import call_key
from escalator.metrics import API_CALLS

log = logging.getLogger(__name__)
T = TypeVar("T")

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
        "conversations.list",
        "users.conversations",
        "users.list",
        "users.lookupByEmail",
    }
)


class SlackCallFailed(Exception):
    """A Web API call that did not succeed.

    `transient` failures may succeed later (after `retry_after` seconds when Slack said so);
    the others carry Slack's error code (`channel_not_found`, `invalid_auth`, …) in `error`.
    `maybe_done`: the answer was lost (a timeout, a dropped connection), so Slack may have acted on it.
    `key` is the pace key the call counted against.
    """

    def __init__(
        self,
        method: str,
        error: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        maybe_done: bool = False,
    ) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.transient = transient
        self.retry_after = retry_after
        self.maybe_done = maybe_done
        self.key = method

    @property
    def rate_limited(self) -> bool:
        return self.error == "ratelimited"


class CallPacing(Protocol):
    """What the gateway asks of the pacer (escalator.delivery.pacer.Pacer), and tells it."""

    def before_call(self, key: str) -> None: ...
    def after_call(self, key: str, reached: bool | None) -> None: ...
    def rate_limited(self, key: str, retry_after: float) -> object: ...


class Unpaced:
    """For the few calls made where no database is at hand: start-up's token check, `escalator check`."""

    def before_call(self, key: str) -> None:
        pass

    def after_call(self, key: str, reached: bool | None) -> None:
        pass

    def rate_limited(self, key: str, retry_after: float) -> object:
        return None


@dataclass(frozen=True)
class BotIdentity:
    user_id: str
    team: str
    scopes: frozenset[str] | None  # None when Slack's answer did not list them


class SlackGateway:
    def __init__(self, client: WebClient, pacer: CallPacing | None = None) -> None:
        self.client = client
        self.pacer: CallPacing = pacer or Unpaced()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call `method` (such as `chat.postMessage`) and return Slack's answer, or raise SlackCallFailed."""
        response = self._paced(method, params)
        return dict(response.data) if isinstance(response.data, dict) else {}

    def identity(self) -> BotIdentity:
        """auth.test: who the token signs in as, and the scopes Slack says it holds (`x-oauth-scopes`)."""
        response = self._paced("auth.test", {})
        data = dict(response.data) if isinstance(response.data, dict) else {}
        header = next((v for k, v in response.headers.items() if k.lower() == "x-oauth-scopes"), None)
        if isinstance(header, list):
            header = header[0] if header else None
        scopes = frozenset(s.strip() for s in header.split(",") if s.strip()) if header is not None else None
        return BotIdentity(
            user_id=str(data.get("user_id") or ""), team=str(data.get("team") or ""), scopes=scopes
        )

    def _paced(self, method: str, params: dict[str, Any]) -> SlackResponse:
        return self._through_pacer(call_key(method, params), method, lambda: self._call(method, params))

    def _through_pacer(self, key: str, counted_as: str, call: Callable[[], T]) -> T:
        """Take the call's turn, make it, count its outcome, and tell the pacer how it went (a 429
        pauses `key` for every process)."""
        self.pacer.before_call(key)
        try:
            with _counting(counted_as):
                result = call()
        except SlackCallFailed as failed:
            failed.key = key
            self.pacer.after_call(key, None if failed.maybe_done else False)
            if failed.rate_limited:
                self.pacer.rate_limited(key, failed.retry_after or 1.0)
            raise
        self.pacer.after_call(key, True)
        return result

    def _call(self, method: str, params: dict[str, Any]) -> SlackResponse:
        try:
            if method in _FORM_ONLY:
                return self.client.api_call(method, params=params)
            return self.client.api_call(method, json=params)
        except SlackApiError as exc:
            raise _classify(method, exc) from None
        except (OSError, TimeoutError, http.client.HTTPException) as exc:
            raise _unreachable(method, exc) from None
        except ValueError:  # urllib refusing the Authorization header: its message quotes the token
            raise SlackCallFailed(method, "invalid_auth", transient=False) from None

    def upload_file(
        self, channel: str, filename: str, content: bytes, title: str, thread_ts: str | None
    ) -> None:
        """files_upload_v2: Slack's three steps (an upload URL, the bytes, completing into the channel),
        paced as its two Web API calls."""
        key = call_key("files.getUploadURLExternal", {})
        self.pacer.before_call(key)  # and files.completeUploadExternal, below
        self._through_pacer(
            key, "files.upload", lambda: self._upload(channel, filename, content, title, thread_ts)
        )

    def _upload(self, channel: str, filename: str, content: bytes, title: str, thread_ts: str | None) -> None:
        try:
            self.client.files_upload_v2(
                channel=channel, filename=filename, content=content, title=title, thread_ts=thread_ts
            )
        except SlackApiError as exc:
            raise _classify("files.upload", exc) from None
        except (SlackRequestError, OSError, TimeoutError, http.client.HTTPException) as exc:
            log.warning("Slack file upload failed for now: %s", type(exc).__name__)
            raise SlackCallFailed("files.upload", "upload_failed", transient=True, maybe_done=True) from None
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


def _unreachable(method: str, exc: BaseException) -> SlackCallFailed:
    """No answer. urllib wraps in URLError what failed before the request was sent whole (refused,
    unresolvable, a connect timeout): Slack did nothing. A timeout or a dropped connection while waiting
    for the answer comes unwrapped: Slack may have done it."""
    never_sent = isinstance(exc, URLError | ConnectionRefusedError)
    reason = exc.reason if isinstance(exc, URLError) else exc
    log.warning("Slack %s could not be reached: %s", method, type(reason).__name__)
    return SlackCallFailed(method, "connection_error", transient=True, maybe_done=not never_sent)


def _classify(method: str, exc: SlackApiError) -> SlackCallFailed:
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"http_{status}")
    if status == 429:
        retry_after = _retry_after(response.headers)
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
