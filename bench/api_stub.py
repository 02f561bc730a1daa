"""A lean stand-in for Slack's Web API, for load runs: one asyncio process, answers like Slack, and
keeps only what `bench/load.py` checks afterwards (how often each method was called, and where each
`chat.postMessage` went with the ts it was given).

    python bench/api_stub.py --port 8765

Besides `/api/<method>` and response URLs (any other POST path), it serves `GET /_stats` (what was
called since the last reset, as JSON) and `POST /_reset`. Run it in a process of its own, so it does
not share an interpreter lock with the load generator or with the app.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

BOT_USER_ID = "U0BOT"
TEAM_ID = "T0TEAM"
GROUP_DM = "C0GROUPDM1"


class ApiStub:
    def __init__(self) -> None:
        self._ts = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        # chat.postMessage: [channel, thread_ts or "", ts given, the text's first 40 characters]
        self.posts: list[list[str]] = []

    def stats(self) -> dict[str, Any]:
        return {"calls": dict(self.calls), "posts": self.posts}

    def answer(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if not path.startswith("/api/"):
            self.calls["response_url"] += 1
            return 200, {"ok": True}
        method = path.removeprefix("/api/")
        self.calls[method] += 1
        if method == "auth.test":
            return 200, {
                "ok": True,
                "url": "https://example.slack.com/",
                "team": "Example",
                "user": "escalator",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "B0BOT",
            }
        if method == "chat.postMessage":
            params = _params(content_type, body)
            channel = str(params.get("channel", ""))
            # Posting to a user ID lands in the app's DM with them, a D… channel.
            posted = "D" + channel[1:] if channel.startswith(("U", "W")) else channel
            ts = f"1764000000.{next(self._ts):06d}"
            self.posts.append([posted, str(params.get("thread_ts") or ""), ts, str(params.get("text"))[:40]])
            return 200, {"ok": True, "channel": posted, "ts": ts, "message": {"ts": ts}}
        if method == "chat.postEphemeral":
            return 200, {"ok": True, "message_ts": f"1764000000.{next(self._ts):06d}"}
        if method == "conversations.open":
            return 200, {"ok": True, "channel": {"id": GROUP_DM}}
        if method in ("views.open", "views.update", "views.publish"):
            return 200, {"ok": True, "view": {"id": f"V{next(self._ts):08d}"}}
        if method == "usergroups.users.list":
            return 200, {"ok": True, "users": []}
        if method == "conversations.history":
            return 200, {"ok": True, "messages": [], "has_more": False}
        if method == "conversations.info":  # the start-up checks: every channel exists, the bot in it
            channel = str(_params(content_type, body).get("channel"))
            return 200, {"ok": True, "channel": {"id": channel, "name": channel.lower(), "is_member": True}}
        if method == "users.info":
            return 200, {"ok": True, "user": {"id": str(_params(content_type, body).get("user"))}}
        return 200, {"ok": True}

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                if path == "/_stats":
                    status, answer = 200, self.stats()
                elif path == "/_reset":
                    self.reset()
                    status, answer = 200, {"ok": True}
                elif verb == "POST":
                    status, answer = self.answer(path.split("?", 1)[0], headers.get("content-type", ""), body)
                else:
                    status, answer = 404, {"ok": False, "error": "not_found"}
                data = json.dumps(answer).encode()
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                    f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(data)}\r\n"
                    f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
                if close:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        return json.loads(body or b"{}")
    return {key: values[0] for key, values in parse_qs(body.decode()).items()}


async def serve(host: str, port: int, lifetime: float) -> None:
    stub = ApiStub()
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
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt, TimeoutError):
        asyncio.run(serve(args.host, args.port, args.lifetime))


if __name__ == "__main__":
    main()
