"""Serving: gunicorn (threaded workers) in HTTP mode, or a Socket Mode connection."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError

from escalator.errors import ConfigurationError
from escalator.settings import Settings
from escalator.web import EscalatorWeb
from escalator.wiring import Worker, exit_with_configuration_error

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, build: Callable[[], Worker], options: dict[str, Any]) -> None:
        self._build = build
        self._options = options
        self._worker: Worker | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        self.cfg.set("worker_exit", self._worker_exit)

    def load(self) -> EscalatorWeb:
        # Runs in each worker after the fork: every worker has its own connections and Bolt app.
        self._worker = self._build()
        return self._worker.web

    def _worker_exit(self, _server: object, _gunicorn_worker: object) -> None:
        if self._worker is not None:
            self._worker.close()


def serve_http(settings: Settings, build: Callable[[], Worker]) -> None:
    """Serve `/slack/events` and `/healthz` with gunicorn's threaded workers (sync Bolt is thread-safe)."""
    options = {
        "bind": f"0.0.0.0:{settings.PORT}",
        "workers": settings.ESCALATOR_WORKERS,
        "worker_class": "gthread",
        "threads": settings.ESCALATOR_THREADS,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "preload_app": False,
    }
    _Gunicorn(build, options).run()


def serve_socket_mode(settings: Settings, worker: Worker) -> None:
    """No public URL needed: Slack sends everything over a WebSocket, to this one process."""
    assert settings.SLACK_APP_TOKEN is not None
    handler = SocketModeHandler(worker.bolt, settings.SLACK_APP_TOKEN, web_client=worker.bolt.client)
    stopped = threading.Event()

    def stop(*_: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        handler.connect()
    except SlackApiError as exc:
        worker.close()
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        exit_with_configuration_error(
            ConfigurationError(
                f"SLACK_APP_TOKEN was refused by Slack ({error or exc.response.status_code}); generate an "
                "app-level token with connections:write under Basic Information → App-Level Tokens, "
                "or unset SLACK_APP_TOKEN for HTTP mode"
            )
        )
    log.info("connected to Slack in Socket Mode")
    stopped.wait()
    handler.close()
    worker.close()
