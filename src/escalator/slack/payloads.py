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

    def value(self, block_id: str) -> Any:
        """The value of the input in `block_id` (whose action id is the same), whatever its element."""
        state = self.view.state.values.get(block_id, {}).get(block_id)
        return _element_value(state) if isinstance(state, dict) else None

    def text(self, block_id: str) -> str:
        value = self.value(block_id)
        return value.strip() if isinstance(value, str) else ""

    def escalation_id(self) -> int | None:
        """Forms about one escalation carry its id in private_metadata."""
        return int(self.view.private_metadata) if self.view.private_metadata.isdigit() else None

    def handoff_form(self) -> HandoffForm:
        values: dict[str, Any] = {field.value: self.value(field.value) for field in HandoffField}
        values[HandoffField.customer_consent] = bool(values[HandoffField.customer_consent])
        return HandoffForm(**values)


class _Option(_Payload):
    value: str


class _Action(_Payload):
    action_id: str
    value: str = ""
    action_ts: str = ""
    selected_option: _Option | None = None  # overflow menus and selects carry their choice here


class BlockActions(_Payload):
    """A button press, on a card or in a private message."""

    type: Literal["block_actions"]
    user: _Id
    trigger_id: str
    actions: list[_Action] = Field(min_length=1)

    @property
    def action(self) -> _Action:
        return self.actions[0]

    def escalation_id(self) -> int | None:
        return int(self.action.value) if self.action.value.isdigit() else None

    @property
    def identity(self) -> str:
        """The same press delivered twice has the same identity; two presses do not."""
        return f"action:{self.action.action_id}:{self.action.value}:{self.action.action_ts}:{self.user.id}"


class _ReactionItem(_Payload):
    type: str
    channel: str | None = None
    ts: str | None = None


class ReactionEvent(_Payload):
    type: Literal["reaction_added", "reaction_removed"]
    user: str
    reaction: str
    item: _ReactionItem


def _element_value(state: dict[str, Any]) -> Any:
    kind = state.get("type")
    if kind in ("plain_text_input", "number_input"):
        value = state.get("value")
        return value if isinstance(value, str) else None
    if kind == "users_select":
        user = state.get("selected_user")
        return user if isinstance(user, str) else None
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
