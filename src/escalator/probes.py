"""`/healthz` and `/metrics` on PORT for processes that serve no Slack requests over HTTP (Socket Mode,
a delivery process): for a load balancer or orchestrator, and for Prometheus, on the local network."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

log = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *_: Any) -> None:  # a scrape every few seconds is not worth a line
        pass


def serve_probes(port: int, app: Callable[..., Any]) -> WSGIServer | None:
    """Serve the WSGI `app` on `port` in a thread; None (and a warning) when the port is taken."""
    try:
        server = make_server("0.0.0.0", port, app, _ThreadingWSGIServer, _QuietHandler)
    except OSError as exc:
        log.warning("could not serve /healthz and /metrics on port %s: %s", port, exc.strerror)
        return None
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    log.info("serving /healthz and /metrics on port %s", port)
    return server
