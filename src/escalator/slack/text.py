"""Putting people's text into Slack messages safely."""

from __future__ import annotations

from datetime import datetime

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
ELLIPSIS = "…"


def mrkdwn_escape(value: object) -> str:
    """Escape text for mrkdwn, so that typed text can never become a mention, a ping or a link."""
    return "".join(_ESCAPES.get(char, char) for char in str(value))


def clip(escaped: str, limit: int) -> str:
    """Shorten escaped mrkdwn to `limit` characters without cutting an `&amp;`-style entity in half."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def truncate_plain(value: object, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def slack_date(moment: datetime, token_format: str = "{date_short_pretty} at {time}") -> str:
    """A time every reader sees in their own timezone; the fallback is UTC."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{token_format}|{fallback}>"
