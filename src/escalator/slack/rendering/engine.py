"""The Jinja2 environment that turns templates/*.json.j2 into Block Kit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from escalator.slack.text import clip, mrkdwn_escape, slack_date, truncate_plain


def templates_dir() -> Path:
    """templates/ beside the package's source tree, or in the working directory of an installed copy."""
    beside_source = Path(__file__).resolve().parents[4] / "templates"
    return beside_source if beside_source.is_dir() else Path.cwd() / "templates"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        undefined=StrictUndefined,
        autoescape=False,  # JSON templates: values go through |tojson, user text through |mrkdwn first
        keep_trailing_newline=False,
        auto_reload=False,  # templates ship with the code: no stat() of the file on every render
    )
    env.filters.update(mrkdwn=mrkdwn_escape, clip=clip, truncate_plain=truncate_plain, slack_date=slack_date)
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
    return env


def render_template(name: str, **context: Any) -> dict[str, Any]:
    return json.loads(_environment().get_template(name).render(**context))


def render_text(name: str, **context: Any) -> str:
    """A template that is text, not Block Kit (the policy `escalator init` writes)."""
    return _environment().get_template(name).render(**context) + "\n"


@dataclass(frozen=True)
class SlackMessage:
    """`text` is the notification and screen-reader fallback; `blocks` what the message shows."""

    text: str
    blocks: list[dict[str, Any]]

    def as_params(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def message(name: str, **context: Any) -> SlackMessage:
    return SlackMessage(**render_template(name, **context))
