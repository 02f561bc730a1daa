"""The stand-in's workspace as a plain web page: each conversation with the messages it shows now (a card
updated in place shows its latest version), threads under their message."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from escalator.standin.readable import blocks_text

if TYPE_CHECKING:
    from escalator.standin.web_api import SlackStandIn


@dataclass
class Shown:
    ts: str
    lines: list[str]
    thread: list[Shown] = field(default_factory=list)
    only_for: str | None = None  # an ephemeral message: only this person sees it


def conversations(stand_in: SlackStandIn) -> dict[str, list[Shown]]:
    """Each conversation's messages as they show now, oldest first."""
    names = stand_in.workspace.name_of
    shown: dict[str, list[Shown]] = {}
    by_ts: dict[tuple[str, str], Shown] = {}
    for call in list(stand_in.calls):
        answer = call.response or {}
        if not answer.get("ok"):
            continue
        params = call.params
        lines = blocks_text(_blocks(params), names, str(params.get("text") or ""), stand_in.clock)
        if call.method == "chat.postMessage":
            channel, ts = str(answer.get("channel")), str(answer.get("ts"))
            message = Shown(ts, lines)
            by_ts[(channel, ts)] = message
            parent = by_ts.get((channel, str(params.get("thread_ts"))))
            (parent.thread if parent else shown.setdefault(channel, [])).append(message)
        elif call.method == "chat.update":
            found = by_ts.get((str(params.get("channel")), str(params.get("ts"))))
            if found is not None:
                found.lines = lines
        elif call.method == "chat.postEphemeral":
            only = names(str(params.get("user")))
            shown.setdefault(str(params.get("channel")), []).append(Shown("", lines, only_for=only))
    return shown


def render_page(stand_in: SlackStandIn) -> str:
    names = stand_in.workspace.name_of
    sections = []
    for channel, messages in conversations(stand_in).items():
        title = names(channel)
        if title.startswith("@"):
            title = f"{title} (their DM with Escalator)"
        body = "".join(_message(m) for m in messages)
        sections.append(f"<section><h2>{html.escape(title)}</h2>{body}</section>")
    content = "".join(sections) or "<p>Nothing has been posted yet.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Slack stand-in</title>"
        "<meta http-equiv='refresh' content='5'>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto}"
        "pre{background:#f6f6f6;padding:.6rem;white-space:pre-wrap}.thread{margin-left:2rem}"
        "</style></head><body><h1>What the Slack stand-in's workspace shows</h1>"
        f"{content}</body></html>"
    )


def _message(message: Shown, css: str = "") -> str:
    only = f"<em>only {html.escape(message.only_for)} sees this</em>" if message.only_for else ""
    text = html.escape("\n".join(message.lines))
    replies = "".join(_message(reply, "thread") for reply in message.thread)
    return f"<div class='{css}'>{only}<pre>{text}</pre>{replies}</div>"


def _blocks(params: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = params.get("blocks")
    return blocks if isinstance(blocks, list) else []
