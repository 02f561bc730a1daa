"""A lean stand-in for Slack's Web API, for load runs: one asyncio process, answers like Slack, and
keeps what the benchmarks check afterwards (every call with its time and answer, and where each
`chat.postMessage` went with the ts it was given).

    python bench/api_stub.py --port 8765 [--slack-limits] [--latency 0.1] [--connect-cost 0.05]

With `--slack-limits` it holds the app to Slack's rate limits as Slack publishes them: `chat.postMessage`
one a second per channel with bursts of three, every other method its tier's calls a minute (in any
sliding minute); over a limit it answers 429 with `Retry-After`. `--latency` is how long each answer
takes. `--connect-cost` is what each new connection costs before its first answer (Slack's TLS
handshake, about 50 ms away from its region); a keep-alive connection pays it once. `POST /_control`
with `{"down": ["chat.postMessage"], "seconds": 120}` makes those methods answer 503 for that long
(Slack's posting side down).

Besides `/api/<method>` and response URLs (any other POST path), it serves `GET /_stats` (what was
called since the last reset, as JSON, with the number of connections opened for those calls) and
`POST /_reset`. Run it in a process of its own, so it does not share an interpreter lock with the load
generator or with the app.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import Counter, defaultdict, deque
from typing import Any
from urllib.parse import parse_qs

BOT_USER_ID = "U0BOT"
TEAM_ID = "T0TEAM"
GROUP_DM = "C0GROUPDM1"
POST_BURST, POST_PER_SECOND = 3, 1.0
# Calls a minute, by method: Slack's tiers, as each method's page gives them (Tier 2: 20, 3: 50, 4: 100).
TIERS = {
    "chat.update": 50,
    "chat.postEphemeral": 100,
    "conversations.history": 50,
    "conversations.replies": 50,
    "conversations.open": 50,
    "conversations.info": 50,
    "views.open": 100,
    "views.update": 100,
    "views.publish": 100,
    "usergroups.users.list": 20,
    "usergroups.list": 20,
    "users.info": 100,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
}


class Limits:
    """Slack's limits: a token bucket per channel for posts, a sliding minute per method for the rest."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # channel → (tokens, at)
        self._windows: dict[str, deque[float]] = defaultdict(deque)

    def wait(self, method: str, channel: str, now: float) -> float:
        """0 when the call is allowed now (and counted); else the seconds until it would be."""
        if method == "chat.postMessage":
            tokens, at = self._buckets.get(channel, (POST_BURST, now))
            tokens = min(POST_BURST, tokens + (now - at) * POST_PER_SECOND)
            if tokens >= 1:
                self._buckets[channel] = (tokens - 1, now)
                return 0.0
            self._buckets[channel] = (tokens, now)
            return (1 - tokens) / POST_PER_SECOND
        per_minute = TIERS.get(method)
        if per_minute is None:
            return 0.0
        window = self._windows[method]
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) < per_minute:
            window.append(now)
            return 0.0
        return window[0] + 60 - now


class ApiStub:
    def __init__(self, limits: bool, latency: float, connect_cost: float = 0.0) -> None:
        self._ts = itertools.count(1)
        self._limits_on = limits
        self._latency = latency
        self._connect_cost = connect_cost
        self.reset()

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        # chat.postMessage: [channel, thread_ts or "", ts given, the text's first 40 characters]
        self.posts: list[list[str]] = []
        # Every Web API call: [time, method, channel, HTTP status, thread_ts, text's first 60, outbox id]
        self.records: list[list[Any]] = []
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)  # what each channel shows
        self.down: dict[str, float] = {}  # method → answering 503 until
        self.limits = Limits()
        self.connections = 0  # opened to call Slack (the bench's own /_stats and /_reset not counted)

    def stats(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "posts": self.posts,
            "records": self.records,
            "connections": self.connections,
        }

    def control(self, body: bytes) -> dict[str, Any]:
        order = json.loads(body or b"{}")
        until = time.time() + float(order.get("seconds", 0))
        for method in order.get("down", []):
            self.down[method] = until
        return {"ok": True, "down_until": until}

    def answer(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any] | None, float]:
        """(status, JSON answer or None for an HTML error page, Retry-After seconds)."""
        if not path.startswith("/api/"):
            self.calls["response_url"] += 1
            return 200, {"ok": True}, 0.0
        method = path.removeprefix("/api/")
        self.calls[method] += 1
        params = _params(content_type, body)
        channel = str(params.get("channel") or "")
        now = time.time()
        record = [
            now,
            method,
            channel,
            200,
            str(params.get("thread_ts") or ""),
            _text(params),
            _outbox_id(params),
        ]
        self.records.append(record)
        if self.down.get(method, 0) > now:
            record[3] = 503
            return 503, None, 0.0
        wait = self.limits.wait(method, channel, now) if self._limits_on else 0.0
        if wait > 0:
            record[3] = 429
            return 429, {"ok": False, "error": "ratelimited"}, wait
        return 200, self._ok(method, params, now), 0.0

    def _ok(self, method: str, params: dict[str, Any], now: float) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://example.slack.com/",
                "team": "Example",
                "user": "escalator",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "B0BOT",
            }
        if method == "chat.postMessage":
            channel = str(params.get("channel", ""))
            # Posting to a user ID lands in the app's DM with them, a D… channel.
            posted = "D" + channel[1:] if channel.startswith(("U", "W")) else channel
            ts = f"1764000000.{next(self._ts):06d}"
            thread = str(params.get("thread_ts") or "")
            self.posts.append([posted, thread, ts, str(params.get("text"))[:40]])
            shown = {"ts": ts, "text": params.get("text"), "metadata": params.get("metadata"), "at": now}
            self.messages[posted].append({**shown, "thread_ts": thread} if thread else shown)
            return {"ok": True, "channel": posted, "ts": ts, "message": {"ts": ts}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1764000000.{next(self._ts):06d}"}
        if method == "conversations.open":
            users = str(params.get("users", "")).split(",")
            return {"ok": True, "channel": {"id": "D" + users[0][1:] if len(users) == 1 else GROUP_DM}}
        if method in ("views.open", "views.update", "views.publish"):
            return {"ok": True, "view": {"id": f"V{next(self._ts):08d}"}}
        if method == "usergroups.users.list":
            return {"ok": True, "users": []}
        if method in ("conversations.history", "conversations.replies"):
            return self._history(params)
        if method == "conversations.info":  # the start-up checks: every channel exists, the bot in it
            channel = str(params.get("channel"))
            return {"ok": True, "channel": {"id": channel, "name": channel.lower(), "is_member": True}}
        if method == "users.info":
            return {"ok": True, "user": {"id": str(params.get("user"))}}
        return {"ok": True}

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        """The bot's messages in a channel (or one thread) since `oldest`, newest first, as a retry looks
        for one an interrupted try may have posted."""
        oldest, thread = float(params.get("oldest") or 0), params.get("ts")
        shown = [
            {k: v for k, v in m.items() if k != "at"}
            for m in reversed(self.messages.get(str(params.get("channel")), []))
            if m["at"] > oldest and (m.get("thread_ts") == thread if thread else "thread_ts" not in m)
        ]
        return {"ok": True, "messages": shown, "has_more": False}

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *lines = head.decode("latin-1").split("\r\n")
                verb, path, version = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                if first and not path.startswith("/_"):
                    # The handshake before the first request gets through, as TLS costs a new connection.
                    self.connections += 1
                    if self._connect_cost:
                        await asyncio.sleep(self._connect_cost)
                first = False
                retry_after = 0.0
                if path == "/_stats":
                    status, answer = 200, self.stats()
                elif path == "/_reset":
                    self.reset()
                    status, answer = 200, {"ok": True}
                elif path == "/_control":
                    status, answer = 200, self.control(body)
                elif verb == "POST":
                    content_type = headers.get("content-type", "")
                    status, answer, retry_after = self.answer(path.split("?", 1)[0], content_type, body)
                    if self._latency and path.startswith("/api/"):
                        await asyncio.sleep(self._latency)
                else:
                    status, answer = 404, {"ok": False, "error": "not_found"}
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                writer.write(_response(status, answer, retry_after, close))
                await writer.drain()
                if close:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()


_REASONS = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}


def _response(status: int, answer: dict[str, Any] | None, retry_after: float, close: bool) -> bytes:
    data = json.dumps(answer).encode() if answer is not None else b"<html>Service Unavailable</html>"
    kind = "application/json; charset=utf-8" if answer is not None else "text/html"
    extra = f"Retry-After: {max(1, math.ceil(retry_after))}\r\n" if status == 429 else ""
    return (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {len(data)}\r\n{extra}Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    ).encode() + data


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        return json.loads(body or b"{}")
    return {key: values[0] for key, values in parse_qs(body.decode()).items()}


def _text(params: dict[str, Any]) -> str:
    return str(params.get("text") or "")[:60]


def _outbox_id(params: dict[str, Any]) -> int | None:
    metadata = params.get("metadata")
    if isinstance(metadata, dict):
        return (metadata.get("event_payload") or {}).get("outbox_id")
    return None


async def serve(
    host: str, port: int, lifetime: float, limits: bool, latency: float, connect_cost: float
) -> None:
    stub = ApiStub(limits, latency, connect_cost)
    server = await asyncio.start_server(stub.serve_connection, host, port, backlog=1024)
    print(f"api stub listening on http://{host}:{port}/api/", flush=True)
    async with server:
        # Stops by itself, should whoever started it not stop it.
        await asyncio.wait_for(server.serve_forever(), lifetime)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lifetime", type=float, default=4 * 3600, help="seconds before it stops by itself")
    parser.add_argument("--slack-limits", action="store_true", help="answer 429 over Slack's rate limits")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each Web API answer takes")
    parser.add_argument(
        "--connect-cost", type=float, default=0.0, help="seconds a new connection waits for its first answer"
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt, TimeoutError):
        asyncio.run(
            serve(args.host, args.port, args.lifetime, args.slack_limits, args.latency, args.connect_cost)
        )


if __name__ == "__main__":
    main()
