"""Keeping secrets out of logs and error output.

Slack tokens can reach a log line without anyone logging them on purpose: slack_sdk logs "Invalid header
value b'Bearer xoxb-…'" at ERROR when a token holds a line break, and the same text then ends a
traceback. So every log record is redacted where it is made — its message, its arguments and its
traceback — whichever logger or handler (ours, Bolt's, slack_sdk's, gunicorn's, pytest's) handles it,
and so are uncaught exceptions printed on standard error.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

REDACTED = "[redacted]"
# The environment variables that hold secrets.
SECRET_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "ESCALATOR_API_TOKEN")
# Slack's token shapes (bot, user, app-level, refresh, configuration...) and any bearer credential.
_PATTERNS = (
    re.compile(r"xox[a-z]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(?<=\bbearer )[^\s'\"\\]+"),
)
# Shorter values would redact ordinary words; real secrets are far longer.
_SHORTEST_SECRET = 8


class RedactSecrets(logging.Filter):
    """Replaces Slack tokens, bearer credentials and the configured secret values in a record."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Also redact these exact values (settings read from `.env` are not in the environment)."""
        with self._lock:
            known = set(self._secrets)
            for secret in secrets:
                # As set, trimmed, and line by line: a value with a line break is logged as its lines.
                for value in {secret, (secret or "").strip(), *(secret or "").splitlines()}:
                    if value and len(value) >= _SHORTEST_SECRET:
                        known.add(value)
            self._secrets = sorted(known, key=len, reverse=True)  # longest first: no half-redacted value

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: keep it readable, redacted
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class Redaction:
    """What install_redaction changed, so that it can be undone (tests install it per test)."""

    def __init__(self, redactor: RedactSecrets) -> None:
        self.redactor = redactor
        self._factory = logging.getLogRecordFactory()
        self._excepthook = sys.excepthook
        self._thread_excepthook = threading.excepthook

    def install(self) -> None:
        make_record, redactor = self._factory, self.redactor

        def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            redactor.filter(record)
            return record

        logging.setLogRecordFactory(redacted_record)
        for handler in logging.getLogger().handlers:  # as a filter too, for records made before this
            handler.addFilter(redactor)
        sys.excepthook = self._print_uncaught
        threading.excepthook = self._print_uncaught_in_thread

    def uninstall(self) -> None:
        logging.setLogRecordFactory(self._factory)
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self.redactor)
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook

    def _print_uncaught(
        self, kind: type[BaseException], error: BaseException, trace: TracebackType | None
    ) -> None:
        text = "".join(traceback.format_exception(kind, error, trace))
        sys.stderr.write(self.redactor.redact(text))

    def _print_uncaught_in_thread(self, hook: threading.ExceptHookArgs) -> None:
        if hook.exc_type is SystemExit:
            return
        name = hook.thread.name if hook.thread is not None else "a thread"
        sys.stderr.write(f"Exception in {name}:\n")
        text = "".join(traceback.format_exception(hook.exc_type, hook.exc_value, hook.exc_traceback))
        sys.stderr.write(self.redactor.redact(text))


_installed: Redaction | None = None


def install_redaction(
    *secrets: str | None, environ: Callable[[str], str | None] = os.environ.get
) -> Redaction:
    """Redact every log record made from now on, and uncaught exceptions, in this process.

    Knows Slack's token shapes, and the secret variables of the environment; `remember_secrets` adds
    the values read from elsewhere (`.env`). Installing twice keeps the first installation.
    """
    global _installed
    if _installed is None:
        _installed = Redaction(RedactSecrets())
        _installed.install()
    _installed.redactor.add(*secrets, *(environ(name) for name in SECRET_VARIABLES))
    return _installed


def remember_secrets(settings: object) -> None:
    """Redact the secrets the settings hold, wherever they were read from."""
    install_redaction(*(_plain(getattr(settings, name, None)) for name in SECRET_VARIABLES))


def _plain(value: object) -> str | None:
    """A setting's value, whether a str or a pydantic SecretStr."""
    reveal = getattr(value, "get_secret_value", None)
    if callable(reveal):
        return str(reveal())
    return value if isinstance(value, str) else None


def uninstall_redaction() -> None:
    """Undo install_redaction (for tests, which must leave logging as they found it)."""
    global _installed
    if _installed is not None:
        _installed.uninstall()
        _installed = None
