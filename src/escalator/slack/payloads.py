"""The Slack payloads the listeners read, parsed with pydantic at the boundary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from escalator.domain.escalation import Origin
from escalator.domain.handoff import HandoffField, HandoffForm


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Id(_Payload):
    id: str


class SlashCommand(_Payload):
    """The form-encoded body of `/escalate [text]`."""

    command: str
    text: str = ""
    user_id: str
    team_id: str | None = None
    channel_id: str | None = None
    trigger_id: str


class _Message(_Payload):
    text: str = ""
    ts: str


class MessageShortcut(_Payload):
    type: Literal["message_action"]
    callback_id: str
    trigger_id: str
    user: _Id
    team: _Id | None = None
    channel: _Id
    message: _Message


class FormOrigin(_Payload):
    """Where the form was opened; travels in the modal's private_metadata (max 3,000 characters)."""

    origin: Origin
    channel_id: str | None = None
    message_ts: str | None = None

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def load(cls, text: str) -> FormOrigin:
        try:
            return cls.model_validate_json(text or "{}")
        except ValidationError:
            return cls(origin=Origin.command)


class _ViewState(_Payload):
    values: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)


class _View(_Payload):
    id: str
    callback_id: str
    private_metadata: str = ""
    state: _ViewState = _ViewState()


class ViewSubmission(_Payload):
    type: Literal["view_submission"]
    user: _Id
    team: _Id | None = None
    view: _View

    def handoff_form(self) -> HandoffForm:
        """Read each field's element state, whatever kind of element holds it."""
        values: dict[str, Any] = {}
        for field in HandoffField:
            state = self.view.state.values.get(field.value, {}).get(field.value)
            values[field.value] = _element_value(state) if isinstance(state, dict) else None
        values[HandoffField.customer_consent] = bool(values[HandoffField.customer_consent])
        return HandoffForm(**values)


def _element_value(state: dict[str, Any]) -> Any:
    kind = state.get("type")
    if kind in ("plain_text_input", "number_input"):
        value = state.get("value")
        return value if isinstance(value, str) else None
    if kind in ("static_select", "radio_buttons"):
        option = state.get("selected_option")
        value = option.get("value") if isinstance(option, dict) else None
        return value if isinstance(value, str) else None
    if kind == "checkboxes":
        options = state.get("selected_options")
        return isinstance(options, list) and len(options) > 0
    if kind == "datetimepicker":
        stamp = state.get("selected_date_time")
        if isinstance(stamp, int | float) and not isinstance(stamp, bool) and 0 < stamp < 32503680000:
            return datetime.fromtimestamp(stamp, UTC)
        return None
    return None


def describe(exc: ValidationError) -> str:
    """A short, secret-free account of what was wrong with a payload, for the log."""
    return json.dumps([{"loc": list(e["loc"]), "type": e["type"]} for e in exc.errors()][:5])
