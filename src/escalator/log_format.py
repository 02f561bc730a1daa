"""How a log line looks (`LOG_FORMAT`: readable text by default, or one JSON object per line), and the
request it belongs to.

While a Slack request is handled, its Slack request id (and the escalation it is about, once known) sit
in a context variable, so every line logged for it, in any thread its work moves to, carries them.
Lines carry ids and states, never a customer's name or account number.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")
LOG_FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
# What a LogRecord holds by itself; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


@dataclass
class RequestContext:
    slack_request_id: str | None
    escalation_id: int | None = None

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


_current: ContextVar[RequestContext | None] = ContextVar("escalator_request", default=None)


@contextmanager
def request_context(
    slack_request_id: str | None, escalation_id: int | None = None
) -> Iterator[RequestContext]:
    context = RequestContext(slack_request_id, escalation_id)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def note_escalation(escalation_id: int) -> None:
    """The request being handled is about this escalation (a new one, once stored)."""
    context = _current.get()
    if context is not None and context.escalation_id is None:
        context.escalation_id = escalation_id


class ContextThreadPool(ThreadPoolExecutor):
    """A thread pool whose tasks run in the context of the thread that submitted them, so that the work
    a listener does after its ack still logs its request's ids."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(copy_context().run, fn, *args, **kwargs)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The request's ids, then what the line itself passed in `extra=`."""
    context = _current.get()  # formatting happens in the thread that logged the line
    fields = context.fields() if context is not None else {}
    fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
    return fields


class TextFormatter(logging.Formatter):
    """`2026-11-27 10:00:00,123 INFO escalator.x [42] message key=value …`"""

    def __init__(self) -> None:
        super().__init__(_TEXT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        if not extra:
            return line
        head, newline, trace = line.partition("\n")  # the fields stay on the first line
        return f"{head} {extra}{newline}{trace}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process, message, the request's ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def chosen_format() -> str:
    """LOG_FORMAT from the environment; an unknown value reads as text (settings then report it)."""
    value = os.environ.get("LOG_FORMAT", "text").strip().lower()
    return value if value in LOG_FORMATS else "text"


def use_format(log_format: str) -> None:
    """Write every line of this process, ours and the libraries', to standard error in this format."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(formatter(log_format))
    root.setLevel(logging.INFO)
