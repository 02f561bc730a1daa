"""Serving Slack's requests: gunicorn's threaded web workers in HTTP mode, or a Socket Mode connection."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError

from escalator.errors import ConfigurationError
from escalator.log_format import formatter
from escalator.metrics import MULTIPROCESS_VARIABLE, forget_shared
from escalator.probes import serve_probes
from escalator.settings import Settings
from escalator.web import EscalatorWeb
from escalator.wiring import Worker, exit_with_configuration_error

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(
        self, build: Callable[[], Worker], options: dict[str, Any], on_exit: Callable[[], None]
    ) -> None:
        self._build = build
        self._options = options
        self._on_exit = on_exit
        self._worker: Worker | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        self.cfg.set("worker_exit", self._worker_exit)
        self.cfg.set("on_exit", lambda _server: self._on_exit())

    def load(self) -> EscalatorWeb:
        # Runs in each worker after the fork: every worker has its own connections and Bolt app.
        self._worker = self._build()
        return self._worker.web

    def _worker_exit(self, _server: object, _gunicorn_worker: object) -> None:
        if self._worker is not None:
            self._worker.close()


def gunicorn_options(settings: Settings, listen_fd: int | None = None) -> dict[str, Any]:
    """How the web workers are served (bench/floor_app.py serves the framework's floor the same way).
    `listen_fd`: a socket already listening, held by `python app.py`, so that requests wait in its
    queue rather than being refused while gunicorn itself is restarted."""
    return {
        "bind": f"fd://{listen_fd}" if listen_fd is not None else f"0.0.0.0:{settings.PORT}",
        "workers": settings.ESCALATOR_WORKERS,
        "worker_class": "gthread",
        "threads": settings.ESCALATOR_THREADS,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "logger_class": _gunicorn_logs(settings.LOG_FORMAT),
        "preload_app": False,
    }


def _gunicorn_logs(log_format: str) -> type[glogging.Logger]:
    class GunicornLogs(glogging.Logger):  # type: ignore[misc]
        """gunicorn's own lines (workers starting, stopping, timing out) in the app's LOG_FORMAT."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(formatter(log_format))

    return GunicornLogs


def serve_http(settings: Settings, build: Callable[[], Worker], listen_fd: int | None = None) -> None:
    """`POST /slack/events`, `/healthz` and `/metrics` with gunicorn's threaded workers (sync Bolt is
    thread-safe). They acknowledge and store; a delivery process delivers."""

    def on_exit() -> None:
        shared = os.environ.get(MULTIPROCESS_VARIABLE)
        if shared and listen_fd is None:  # a supervisor that made the folder removes it itself
            forget_shared(Path(shared))

    _Gunicorn(build, gunicorn_options(settings, listen_fd), on_exit).run()


def serve_socket_mode(settings: Settings, worker: Worker) -> None:
    """No public URL needed: Slack sends everything over a WebSocket, to this one process, which also
    delivers."""
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
    probes = serve_probes(settings.PORT, worker.web)
    stopped.wait()
    if probes is not None:
        probes.shutdown()
    handler.close()
    worker.close()
