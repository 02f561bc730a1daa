"""The HTTP surface: `POST /slack/events` for Slack, `GET /healthz` for load balancers. WSGI."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from escalator.store.database import Store

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


class EscalatorWeb:
    def __init__(self, bolt: App, store: Store) -> None:
        self._slack = SlackRequestHandler(bolt, path=SLACK_EVENTS_PATH)
        self._store = store

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_EVENTS_PATH:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "use POST"})
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
        return _json(start_response, "404 Not Found", {"error": "not found"})


def _json(start_response: StartResponse, status: str, body: dict[str, str]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
