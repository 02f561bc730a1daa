"""A local stand-in for Slack's Web API: records every call, answers like Slack, and can be told
to answer rate limits, server errors, Slack error codes, or to hang."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from escalator.slack.scopes import BOT_SCOPES
from escalator.standin.page import render_page
from escalator.standin.workspace import Workspace

BOT_USER_ID = "U0BOT"
# Methods Slack documents as not reading a JSON body: given one, they miss their arguments.
FORM_ONLY = {
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
TEAM_ID = "T0TEAM"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    response: dict[str, Any] | None = None  # what the stand-in answered
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def text_everywhere(self) -> str:
        """Every string the call carries (text, blocks, view), for assertions on what people see."""
        return json.dumps(self.params, ensure_ascii=False)


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def error(cls, code: str) -> Reply:
        return cls(body={"ok": False, "error": code})

    @classmethod
    def rate_limited(cls, retry_after: int) -> Reply:
        return cls(
            status=429, body={"ok": False, "error": "ratelimited"}, headers={"Retry-After": str(retry_after)}
        )

    @classmethod
    def server_error(cls) -> Reply:
        return cls(status=503, body=None)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # parallel tests open many connections at once; 5 would drop some


class SlackStandIn:
    def __init__(self, workspace: Workspace | None = None) -> None:
        # The channels, people and groups it lists and looks up by name; IDs it does not know still exist.
        self.workspace = workspace or Workspace()
        self.calls: list[Call] = []
        self.usergroups: dict[str, list[str]] = {}
        # The workspace `escalator check` looks at. Channels and people exist (the bot in every channel)
        # unless listed in `unknown`; `channels` overrides conversations.info's fields for one channel.
        self.scopes: set[str] | None = set(BOT_SCOPES)  # None: auth.test lists none
        self.unknown: set[str] = set()
        self.channels: dict[str, dict[str, Any]] = {}
        self.deactivated: set[str] = set()
        # What Slack shows: every message it accepted, by conversation, including those whose answer
        # the app never saw (a hang past its timeout, a process killed mid-call).
        self.posted: dict[str, list[dict[str, Any]]] = defaultdict(list)
        # Slack's clock, in epoch seconds: history's `oldest` is compared with it. Tests set their fake clock.
        self.clock: Callable[[], float] = time.time
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        # Methods answering 503 for as long as their condition holds (an outage on Slack's side).
        self._outages: dict[str, Callable[[], bool]] = {}
        self._hangs: Callable[[], bool] = lambda: False
        self._changed = threading.Condition()
        self._ts = itertools.count(1)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stub._handle(self)

            def do_GET(self) -> None:
                """What the workspace shows, as a plain web page (`escalator demo --keep`)."""
                page = render_page(stub).encode()
                self.send_response(200 if self.path in ("/", "/index.html") else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/api/"

    @property
    def response_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/response"

    def start(self) -> SlackStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, method: str, *replies: Reply) -> None:
        """The next calls to `method` get these replies, in order; later ones get the default."""
        self._scripts[method].extend(replies)

    def hang_while(self, condition: Callable[[], bool]) -> None:
        """Every call waits without an answer while `condition()` holds, as a Slack that hangs does."""
        self._hangs = condition

    def down_while(self, method: str, condition: Callable[[], bool]) -> None:
        """`method` answers 503 while `condition()` holds."""
        self._outages[method] = condition

    def calls_to(self, method: str) -> list[Call]:
        with self._changed:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until `method` has been called `count` times; an event, not a fixed sleep."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len([c for c in self.calls if c.method == method]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(f"expected {count} call(s) to {method}; calls so far: {seen}")
                self._changed.wait(remaining)
            return [c for c in self.calls if c.method == method]

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        while self._hangs():
            time.sleep(0.05)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        is_json = request.headers.get("Content-Type", "").startswith("application/json")
        if request.path.startswith("/upload/"):
            # files_upload_v2's second step: the file's bytes, to the URL the first step gave.
            method, params = "file_upload", {"file_id": request.path.rsplit("/", 1)[-1], "bytes": body}
        else:
            raw = body.decode()
            params = json.loads(raw or "{}") if is_json else {k: v[0] for k, v in parse_qs(raw).items()}
            method = (
                request.path.removeprefix("/api/") if request.path.startswith("/api/") else "response_url"
            )
        call = Call(method, params, dict(request.headers))
        with self._changed:
            reply = self._scripts[method].popleft() if self._scripts[method] else None
        outage = self._outages.get(method)
        if reply is None and outage is not None and outage():
            reply = Reply.server_error()
        if reply is None and is_json and method in FORM_ONLY:
            reply = Reply.error("invalid_arguments")
        if reply is None:
            reply = Reply(body=self._default(method, params))
            if method == "auth.test" and self.scopes is not None:
                reply.headers["x-oauth-scopes"] = ",".join(sorted(self.scopes))
        if (
            method == "files.completeUploadExternal"
            and reply.status == 200
            and reply.body
            and reply.body.get("ok")
        ):
            self._share_files(params)
        if method == "chat.postMessage" and reply.status == 200 and reply.body and reply.body.get("ok"):
            reply.body = {**self._default(method, params), **reply.body}
            self._post(params, reply.body)
        call.response = reply.body
        with self._changed:  # recorded with its answer, so a test that sees the call sees the answer too
            self.calls.append(call)
            self._changed.notify_all()
        if reply.delay:
            time.sleep(reply.delay)
        body = (
            json.dumps(reply.body).encode() if reply.body is not None else b"<html>Service Unavailable</html>"
        )
        try:
            request.send_response(reply.status)
            request.send_header("Content-Type", "application/json" if reply.body is not None else "text/html")
            for name, value in reply.headers.items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a "hang" reply)

    def _post(self, params: dict[str, Any], answer: dict[str, Any]) -> None:
        message = {"ts": answer["ts"], "text": params.get("text"), "metadata": params.get("metadata")}
        message["posted_at"] = self.clock()
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        with self._changed:
            self.posted[str(answer["channel"])].append(message)

    def _share_files(self, params: dict[str, Any]) -> None:
        """A completed upload shows in its channel (or thread) as a message with the files."""
        files = params.get("files")
        shared = json.loads(files) if isinstance(files, str) else files or []
        message = {"ts": f"1764000000.{next(self._ts):06d}", "files": shared, "posted_at": self.clock()}
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        with self._changed:
            self.posted[str(params.get("channel_id"))].append(message)

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.history (top-level messages) or .replies (one thread), newest first."""
        channel, oldest = str(params.get("channel")), float(params.get("oldest") or 0)
        thread = params.get("ts")
        with self._changed:
            messages = [
                m
                for m in self.posted.get(channel, [])
                if m["posted_at"] > oldest
                and (m.get("thread_ts") == thread if thread else "thread_ts" not in m)
            ]
        shown = [
            {
                k: v
                for k, v in m.items()
                if k != "posted_at" and (k != "metadata" or params.get("include_all_metadata") == "true")
            }
            for m in reversed(messages)
        ]
        return {"ok": True, "messages": shown, "has_more": False}

    @staticmethod
    def _page(key: str, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        """One page of a cursored list, as Slack pages them (`limit`, `cursor`, `next_cursor`)."""
        start = int(params.get("cursor") or 0)
        end = start + int(params.get("limit") or 100)
        more = str(end) if end < len(items) else ""
        return {"ok": True, key: items[start:end], "response_metadata": {"next_cursor": more}}

    def _default(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
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
            return {
                "ok": True,
                "channel": posted,
                "ts": ts,
                "message": {"ts": ts, "text": params.get("text")},
            }
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):08d}"
            return {
                "ok": True,
                "file_id": file_id,
                "upload_url": f"{self.url.removesuffix('/api/')}/upload/{file_id}",
            }
        if method == "file_upload":
            return {"ok": True}
        if method == "files.completeUploadExternal":
            return {"ok": True, "files": [{"id": "F0", "title": "chart"}]}
        if method == "usergroups.users.list":
            group_id = str(params.get("usergroup"))
            group = self.workspace.group(group_id)
            members = group.members if group and group_id not in self.usergroups else []
            return {"ok": True, "users": self.usergroups.get(group_id, members)}
        if method == "conversations.open":
            users = str(params.get("users", "")).split(",")
            return {"ok": True, "channel": {"id": "D" + users[0][1:] if len(users) == 1 else "C0GROUPDM1"}}
        if method in ("conversations.history", "conversations.replies"):
            return self._history(params)
        if method == "conversations.info":
            channel = str(params.get("channel"))
            if channel in self.unknown:
                return {"ok": False, "error": "channel_not_found"}
            known = self.workspace.channel(channel)
            fields = (
                known.as_slack()
                if known
                else {"id": channel, "name": channel.lower(), "is_archived": False, "is_member": True}
            )
            return {"ok": True, "channel": {**fields, **self.channels.get(channel, {})}}
        if method == "users.info":
            user = str(params.get("user"))
            if user in self.unknown:
                return {"ok": False, "error": "user_not_found"}
            person = self.workspace.person(user)
            if person is not None:
                return {"ok": True, "user": person.as_slack()}
            return {
                "ok": True,
                "user": {"id": user, "name": user.lower(), "deleted": user in self.deactivated},
            }
        if method == "usergroups.list":
            groups = [{"id": g, "handle": g.lower(), "date_delete": 0} for g in self.usergroups]
            groups += [g.as_slack() for g in self.workspace.groups if g.id not in self.usergroups]
            return {"ok": True, "usergroups": [g for g in groups if g["id"] not in self.unknown]}
        if method == "conversations.list":
            # A private channel shows only to a bot that is in it.
            seen = [c.as_slack() for c in self.workspace.channels if c.is_member or not c.is_private]
            return self._page("channels", seen, params)
        if method == "users.conversations":
            mine = [c.as_slack() for c in self.workspace.channels if c.is_member and not c.is_archived]
            return self._page("channels", mine, params)
        if method == "users.list":
            bot = {"id": BOT_USER_ID, "name": "escalator", "is_bot": True, "deleted": False, "profile": {}}
            return self._page("members", [bot, *(p.as_slack() for p in self.workspace.people)], params)
        if method == "users.lookupByEmail":
            email = str(params.get("email", "")).lower()
            person = next((p for p in self.workspace.people if p.email.lower() == email), None)
            return (
                {"ok": True, "user": person.as_slack()}
                if person
                else {"ok": False, "error": "users_not_found"}
            )
        if method in ("views.open", "views.update", "views.publish"):
            return {"ok": True, "view": {"id": f"V{next(self._ts):08d}"}}
        return {"ok": True}
