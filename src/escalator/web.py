"""The HTTP surface, WSGI: `POST /slack/events` for Slack, `GET /healthz` for load balancers,
`GET /metrics` for Prometheus, and `POST /api/contacts` for the nightly job that reports the day's
contact volume."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from escalator.metrics import CONTENT_TYPE, DatabaseFigures, render_metrics
from escalator.store.database import Store

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
CONTACTS_PATH = "/api/contacts"
MAX_API_BODY = 4096
# Far above anything Slack sends (a view is at most 250 KB, its inputs 3,000 characters each), so only a
# forged body is refused, before it is read into memory.
MAX_SLACK_BODY = 4 * 1024 * 1024

RecordContacts = Callable[[date, int], None]


class ContactVolume(BaseModel):
    """`{"date": "2026-11-26", "count": 412}`"""

    model_config = ConfigDict(extra="forbid")

    date: date
    count: int = Field(ge=0, le=10_000_000)


class EscalatorWeb:
    def __init__(
        self,
        bolt: App,
        store: Store,
        api_token: str | None,
        record_contacts: RecordContacts,
        figures: DatabaseFigures,
    ) -> None:
        self._slack = SlackRequestHandler(bolt, path=SLACK_EVENTS_PATH)
        self._store = store
        self._api_token = api_token
        self._record_contacts = record_contacts
        self._figures = figures

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_EVENTS_PATH:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "use POST"})
            refusal = _refuse_before_reading(environ)
            if refusal is not None:
                return _json(start_response, refusal[0], {"error": refusal[1]})
            try:
                return self._slack(environ, start_response)
            except Exception as exc:  # a body Bolt cannot parse: bad JSON, a payload missing its type
                log.warning("refused a malformed Slack request: %s", type(exc).__name__)
                return _json(start_response, "400 Bad Request", {"error": "malformed request"})
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            if self._store.ping():
                return _json(start_response, "200 OK", {"status": "ok", "database": "ok"})
            return _json(
                start_response, "503 Service Unavailable", {"status": "unavailable", "database": "down"}
            )
        if path == METRICS_PATH and method in ("GET", "HEAD"):
            data = render_metrics(self._figures)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(data)))])
            return [data]
        if path == CONTACTS_PATH and method == "POST":
            return self._contacts(environ, start_response)
        return _json(start_response, "404 Not Found", {"error": "not found"})

    def _contacts(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if not self._api_token:
            return _json(
                start_response, "404 Not Found", {"error": "the contacts API is off: set ESCALATOR_API_TOKEN"}
            )
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self._api_token.encode()
        ):
            return _json(
                start_response,
                "401 Unauthorized",
                {"error": "a valid bearer token is required"},
                [("WWW-Authenticate", "Bearer")],
            )
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if not 0 < length <= MAX_API_BODY:
            return _json(
                start_response, "400 Bad Request", {"error": 'send JSON: {"date": "YYYY-MM-DD", "count": N}'}
            )
        try:
            volume = ContactVolume.model_validate_json(environ["wsgi.input"].read(length))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            return _json(start_response, "400 Bad Request", {"error": problems})
        try:
            self._record_contacts(volume.date, volume.count)
        except SQLAlchemyError:
            log.exception("could not record a contact volume")
            return _json(
                start_response, "503 Service Unavailable", {"error": "the database is unavailable: retry"}
            )
        return _json(start_response, "200 OK", {"date": volume.date.isoformat(), "count": volume.count})


def _refuse_before_reading(environ: dict[str, Any]) -> tuple[str, str] | None:
    """What Bolt would trip over before checking the signature: a timestamp that is not a number (Bolt's
    `int()` raises, which would answer 400 instead of 401), a length that is not one, a huge body."""
    stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    if stamp is not None and not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return "401 Unauthorized", "invalid request"
    length = environ.get("CONTENT_LENGTH") or "0"
    if not (length.isascii() and length.isdigit()):
        return "400 Bad Request", "malformed request"
    if int(length) > MAX_SLACK_BODY:
        return "413 Content Too Large", "request too large"
    return None


def _json(
    start_response: StartResponse,
    status: str,
    body: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *(headers or [])]
    )
    return [data]
