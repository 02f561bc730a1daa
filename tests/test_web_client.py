"""The Web API client keeps its connections open, and still tells apart what Slack did and did not get."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from escalator.slack.gateway import SlackCallFailed, SlackGateway
from escalator.slack.web_client import PooledWebClient


class _KeptAlive(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.connections = 0
        self.answer: tuple[int, dict[str, str], dict[str, object]] = (200, {}, {"ok": True})
        self.hang = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Slack's servers

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if server.hang.is_set():
                    time.sleep(3)
                status, headers, body = server.answer
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def web_api() -> Iterator[_KeptAlive]:
    server = _KeptAlive()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _gateway(base_url: str, timeout: int = 5) -> SlackGateway:
    return SlackGateway(
        PooledWebClient(token="xoxb-test", base_url=base_url, timeout=timeout, retry_handlers=[])
    )


def test_calls_reuse_one_connection(web_api: _KeptAlive):
    gateway = _gateway(f"http://127.0.0.1:{web_api.server_port}/api/")
    for _ in range(5):
        assert gateway.call("chat.postMessage", channel="C1", text="hi") == {"ok": True}
    assert web_api.connections == 1


def test_slack_refusals_and_rate_limits_keep_their_meaning(web_api: _KeptAlive):
    gateway = _gateway(f"http://127.0.0.1:{web_api.server_port}/api/")
    web_api.answer = (429, {"Retry-After": "7"}, {"ok": False, "error": "ratelimited"})
    with pytest.raises(SlackCallFailed) as limited:
        gateway.call("chat.postMessage", channel="C1", text="hi")
    assert (limited.value.error, limited.value.retry_after, limited.value.maybe_done) == (
        "ratelimited",
        7.0,
        False,
    )
    web_api.answer = (200, {}, {"ok": False, "error": "channel_not_found"})
    with pytest.raises(SlackCallFailed) as refused:
        gateway.call("chat.postMessage", channel="C1", text="hi")
    assert (refused.value.error, refused.value.transient) == ("channel_not_found", False)


def test_nothing_sent_and_no_answer_are_told_apart(web_api: _KeptAlive):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(SlackCallFailed) as refused:
            _gateway(f"http://127.0.0.1:{port}/api/").call("chat.postMessage", channel="C1", text="hi")
    assert (refused.value.transient, refused.value.maybe_done) == (True, False)

    web_api.hang.set()
    with pytest.raises(SlackCallFailed) as lost:
        _gateway(f"http://127.0.0.1:{web_api.server_port}/api/", timeout=1).call(
            "chat.postMessage", channel="C1", text="hi"
        )
    assert (lost.value.transient, lost.value.maybe_done) == (True, True)  # sent: Slack may have posted it
