"""Serving: gunicorn (threaded workers) in HTTP mode, or a Socket Mode connection."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError

from escalator.errors import ConfigurationError
from escalator.log_format import formatter
from escalator.metrics import MULTIPROCESS_VARIABLE, forget_shared
from escalator.policy import Policy
from escalator.scheduler import Wake
from escalator.settings import Settings
from escalator.web import EscalatorWeb
from escalator.wiring import Worker, exit_with_configuration_error, run_deliverer, web_worker_factory

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


class DeliveryProcess:
    """The process that talks to Slack for the web workers: they acknowledge and store, it delivers.

    Kept apart so that rendering and posting never compete with acknowledgements for a worker's
    interpreter, and run at a lower CPU priority, so that under load Slack's 3-second deadline wins
    and deliveries queue in the database instead. Forked from gunicorn's master, and forked again if
    it dies.
    """

    NICENESS = 15

    def __init__(self, settings: Settings, policy: Policy, wake: Wake) -> None:
        self._args = (settings, policy, wake)
        self._stopping = threading.Event()
        self._pid: int | None = None
        self._watcher = threading.Thread(target=self._watch, name="deliverer-watch", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._watcher.start()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: it finishes the delivery in progress, then exits."""
        self._stopping.set()
        if self._pid is None or not self._alive():
            return
        os.kill(self._pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._alive():
            if time.monotonic() > deadline:
                os.kill(self._pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    def _spawn(self) -> None:
        pid = os.fork()
        if pid == 0:  # the delivery process
            code = 1
            try:
                os.nice(self.NICENESS)
                run_deliverer(*self._args)
                code = 0
            except BaseException:
                log.exception("the delivery process failed")
            finally:
                os._exit(code)
        self._pid = pid

    def _alive(self) -> bool:
        assert self._pid is not None
        try:
            pid, _ = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:
            return False  # gunicorn's master reaps every child that exits, ours included
        return pid == 0

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            if not self._alive() and not self._stopping.is_set():
                log.error("the delivery process exited; starting it again")
                self._spawn()


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """How the web workers are served (bench/floor_app.py serves the framework's floor the same way)."""
    return {
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


def serve_http(settings: Settings, policy: Policy) -> None:
    """Serve `/slack/events` and `/healthz` with gunicorn's threaded workers (sync Bolt is thread-safe),
    beside one delivery process."""
    wake = multiprocessing.get_context("fork").Event()
    deliverer = DeliveryProcess(settings, policy, wake)
    deliverer.start()

    def on_exit() -> None:
        deliverer.stop()
        shared = os.environ.get(MULTIPROCESS_VARIABLE)
        if shared:
            forget_shared(Path(shared))

    _Gunicorn(web_worker_factory(settings, policy, wake), gunicorn_options(settings), on_exit).run()


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
    probes = serve_probes(settings.PORT, worker.web)
    stopped.wait()
    if probes is not None:
        probes.shutdown()
    handler.close()
    worker.close()


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *_: Any) -> None:  # a scrape every few seconds is not worth a line
        pass


def serve_probes(port: int, web: EscalatorWeb) -> WSGIServer | None:
    """Socket Mode needs no public URL, but a load balancer and Prometheus still want `/healthz` and
    `/metrics`: served on PORT, for the local network."""
    try:
        server = make_server("0.0.0.0", port, web, _ThreadingWSGIServer, _QuietHandler)
    except OSError as exc:
        log.warning("could not serve /healthz and /metrics on port %s: %s", port, exc.strerror)
        return None
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    log.info("serving /healthz and /metrics on port %s", port)
    return server
