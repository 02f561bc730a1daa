"""Block Kit as a person reads it in a terminal: titles, fields, context lines, buttons as `[Claim]`.

Mentions and links are shown as Slack shows them (`<@U0ALEX>` → `@alex`, `<#C0BILLING>` → `#billing`,
`<https://…|ESC-1>` → `ESC-1`), and Slack's escaping of `&`, `<` and `>` is undone.
"""

from __future__ import annotations

import html
import re
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Names = Callable[[str], str]  # an ID → how Slack shows it (#billing, @alex)
Now = Callable[[], float]  # Slack's clock, in epoch seconds: for "2 min ago"

_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<([^@#!][^>|]*)(?:\|([^>]*))?>")
_DATE = re.compile(r"<!date\^(\d+)\^([^|>]*)\|([^>]*)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_EMOJI = {
    "white_check_mark": "✅",
    "eyes": "👀",
    "lock": "🔒",
    "arrow_right": "➡️",
    "arrow_up": "⬆️",
    "telephone_receiver": "📞",
    "warning": "⚠️",
    "rotating_light": "🚨",
    "hourglass_flowing_sand": "⏳",
    "wastebasket": "🗑️",
    "memo": "📝",
    "bell": "🔔",
    "x": "❌",
}
_SHORTCODE = re.compile(r":([a-z0-9_+\-]+):")
_WIDTH = 100


def mrkdwn(text: str, names: Names, now: Now = time.time) -> str:
    """Slack's mrkdwn as plain text."""

    def date(match: re.Match[str]) -> str:
        stamp, token_format = int(match.group(1)), match.group(2)
        if token_format == "{ago}":
            return _ago(now() - stamp)
        return f"{datetime.fromtimestamp(stamp, UTC):%a %d %b %H:%M:%S} UTC"

    def mention(match: re.Match[str]) -> str:
        sigil, target, label = match.groups()
        if sigil == "!":
            return f"@{target}"
        return label or names(target) if sigil == "#" else names(target)

    text = _DATE.sub(date, text)
    text = _MENTION.sub(mention, text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _BOLD.sub(lambda m: m.group(1), text)
    text = _SHORTCODE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), text)
    return html.unescape(text)


def _ago(seconds: float) -> str:
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    return f"{seconds // 86400:.0f} days ago"


def blocks_text(
    blocks: list[dict[str, Any]], names: Names, fallback: str = "", now: Now = time.time
) -> list[str]:
    """The lines a message's (or a view's) blocks show."""
    lines: list[str] = []
    for block in blocks:
        lines += _block(block, names, now)
    if not lines and fallback:
        lines = _wrapped(mrkdwn(fallback, names, now))
    return lines


def view_text(view: dict[str, Any], names: Names, now: Now = time.time) -> list[str]:
    """A modal or App Home: its title, its blocks, its submit button."""
    title = _plain(view.get("title"))
    lines = [f"┌ {title} ┐"] if title else []
    lines += blocks_text(view.get("blocks") or [], names, now=now)
    if view.get("submit"):
        lines.append(f"[{_plain(view.get('close')) or 'Cancel'}]  [{_plain(view.get('submit'))}]")
    return lines


def _block(block: dict[str, Any], names: Names, now: Now) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = _plain(block.get("text"))
        return [title, "═" * min(len(title), _WIDTH)]
    if kind == "divider":
        return ["─" * 40]
    if kind == "section":
        lines = _wrapped(_text(block.get("text"), names, now)) if block.get("text") else []
        for field in block.get("fields") or []:
            label, _, value = _text(field, names, now).partition("\n")
            lines += _wrapped(f"{label}: {value}" if value else label, indent="  ")
        accessory = block.get("accessory")
        if accessory:
            lines.append(_element(accessory, names))
        return lines
    if kind == "context":
        parts = [_text(e, names, now) for e in block.get("elements") or [] if e.get("type") != "image"]
        return [line for part in parts for line in _wrapped(part, indent="  · ")]
    if kind == "actions":
        return ["  ".join(_element(e, names) for e in block.get("elements") or [])]
    if kind == "input":
        label = _plain(block.get("label"))
        optional = " (optional)" if block.get("optional") else ""
        return [f"{label}{optional}: {_element(block.get('element') or {}, names)}"]
    if kind == "image":
        return [f"[image: {block.get('alt_text', '')}]"]
    if kind == "rich_text":
        return _wrapped(_rich_text(block))
    return []


def _element(element: dict[str, Any], names: Names) -> str:
    kind = element.get("type")
    if kind == "button":
        return f"[{_plain(element.get('text'))}]"
    if kind == "overflow":
        return "[⋯ " + " | ".join(_plain(o.get("text")) for o in element.get("options") or []) + "]"
    if kind in ("static_select", "radio_buttons", "checkboxes"):
        options = [_plain(o.get("text")) for o in element.get("options") or []]
        chosen = element.get("initial_option")
        shown = " | ".join(options[:6]) + (" | …" if len(options) > 6 else "")
        return f"({_plain(chosen.get('text'))} ▾)" if chosen else f"({shown})"
    if kind == "plain_text_input":
        initial = element.get("initial_value")
        return f"“{initial}”" if initial else "________"
    if kind in ("users_select", "multi_users_select"):
        return "(pick a person ▾)"
    return f"({kind})" if kind else ""


def _text(obj: Any, names: Names, now: Now) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    return mrkdwn(text, names, now) if obj.get("type") == "mrkdwn" else text


def _plain(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _rich_text(block: dict[str, Any]) -> str:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "text" in node and isinstance(node["text"], str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(block.get("elements"))
    return "".join(found)


def _wrapped(text: str, indent: str = "") -> list[str]:
    lines = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(
            paragraph, _WIDTH, initial_indent=indent, subsequent_indent=" " * len(indent)
        ) or [""]
    return lines
