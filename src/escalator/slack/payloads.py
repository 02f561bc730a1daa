"""The Slack payloads the listeners read, parsed with pydantic at the boundary."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from escalator.domain.escalation import Origin
from escalator.domain.handoff import HandoffField, HandoffForm, clean_text

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

# Slack's ids (users, channels, teams) and message timestamps are short; the database keeps 32 characters
# of them. A longer one is forged, and is refused here rather than by the database mid-transaction.
SlackId = Annotated[str, Field(min_length=1, max_length=32)]
# What people typed, made storable and sendable (see clean_text).
TypedText = Annotated[str, AfterValidator(clean_text)]
# Request keys (`view:…`, `action:…`, `event:…`) are stored in a 255-character column.
MAX_KEY = 255
# Escalation ids are the database's 32-bit integers.
MAX_ESCALATION_ID = 2**31 - 1


def parse_escalation_id(value: str) -> int | None:
    """An escalation id as the app writes it (ASCII digits, in range), or None for anything else.

    `str.isdigit()` alone accepts "²" and 5,000-digit strings, which `int()` then refuses.
    """
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ESCALATION_ID else None


def request_key(kind: str, identity: str) -> str:
    """A dedupe key that fits its column: as is when short, else a digest of it."""
    key = f"{kind}:{identity}"
    if len(key) <= MAX_KEY:
        return key
    return f"{kind}:sha256:{hashlib.sha256(identity.encode('utf-8', 'surrogatepass')).hexdigest()}"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Id(_Payload):
    id: SlackId


class SlashCommand(_Payload):
    """The form-encoded body of `/escalate [text]`."""

    command: str
    text: TypedText = ""
    user_id: SlackId
    team_id: SlackId | None = None
    channel_id: SlackId | None = None
    trigger_id: str


class _Message(_Payload):
    text: TypedText = ""
    ts: SlackId


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
    channel_id: SlackId | None = None
    message_ts: SlackId | None = None

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
    id: str = Field(min_length=1, max_length=MAX_KEY - len("view:"))
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
        return parse_escalation_id(self.view.private_metadata)

    def handoff_form(self) -> HandoffForm:
        """The form's values, each of the type its field holds: a forged payload can put any element
        in any block (a select where the date picker was), and that must not reach the checks."""
        values: dict[str, Any] = {field.value: self.value(field.value) for field in HandoffField}
        for name, value in values.items():
            if name in (HandoffField.deadline_at, HandoffField.callback_at):
                values[name] = value if isinstance(value, datetime) else None
            elif name == HandoffField.customer_consent:
                values[name] = value is True
            elif not isinstance(value, str):
                values[name] = None
        return HandoffForm(**values)


class _Option(_Payload):
    value: str


class _Action(_Payload):
    action_id: str = Field(max_length=255)
    value: str = Field(default="", max_length=2000)
    action_ts: str = Field(default="", max_length=32)
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
        return parse_escalation_id(self.action.value)

    @property
    def identity(self) -> str:
        """The same press delivered twice has the same identity; two presses do not."""
        action = self.action
        return request_key("action", f"{action.action_id}:{action.value}:{action.action_ts}:{self.user.id}")

    def reminder(self) -> tuple[str, int, str, int] | None:
        """A reminder button or App Home menu choice: (which button, escalation id, timer kind, reminder
        number), or None when the value is not one the app wrote ("<id>:<kind>:<n>")."""
        which, value = self.action.action_id, self.action.value
        if self.action.selected_option is not None:
            which, _, value = self.action.selected_option.value.partition("|")
        parts = value.split(":")
        if len(parts) != 3:
            return None
        escalation_id, kind, number = parts
        found, reminder = parse_escalation_id(escalation_id), parse_escalation_id(number or "1")
        if found is None or reminder is None or not kind:
            return None
        return which, found, kind, reminder


class _OpenView(_Payload):
    """A modal as Slack sends it back with an action inside it: enough to update it in place."""

    id: str = Field(min_length=1, max_length=255)
    hash: str = Field(default="", max_length=255)
    type: Literal["modal"]
    callback_id: str = Field(max_length=255)
    private_metadata: str = Field(default="", max_length=3000)
    title: dict[str, Any]
    submit: dict[str, Any] | None = None
    close: dict[str, Any] | None = None
    blocks: list[dict[str, Any]] = Field(max_length=100)


class FormAction(_Payload):
    """Something typed in an open form that asks to be looked at at once (an input with
    `dispatch_action`), such as the handoff form's account number."""

    type: Literal["block_actions"]
    user: _Id
    view: _OpenView
    actions: list[_Action] = Field(min_length=1)

    @property
    def typed(self) -> str:
        return clean_text(self.actions[0].value)


class _ReactionItem(_Payload):
    type: str
    channel: SlackId | None = None
    ts: SlackId | None = None


class ReactionEvent(_Payload):
    type: Literal["reaction_added", "reaction_removed"]
    user: SlackId
    reaction: str
    item: _ReactionItem


def _element_value(state: dict[str, Any]) -> Any:
    kind = state.get("type")
    if kind in ("plain_text_input", "number_input"):
        value = state.get("value")
        return clean_text(value) if isinstance(value, str) else None
    if kind == "users_select":
        return _choice(state.get("selected_user"), 32)
    if kind in ("static_select", "radio_buttons"):
        option = state.get("selected_option")
        return _choice(option.get("value") if isinstance(option, dict) else None, 150)
    if kind == "checkboxes":
        options = state.get("selected_options")
        return isinstance(options, list) and len(options) > 0
    if kind == "datetimepicker":
        stamp = state.get("selected_date_time")
        if isinstance(stamp, int | float) and not isinstance(stamp, bool) and 0 < stamp < 32503680000:
            return datetime.fromtimestamp(stamp, UTC)
        return None
    return None


def _choice(value: object, limit: int) -> str | None:
    """A chosen user or option: the app's own values are short printable ASCII; anything else is forged
    and counts as no choice (so "²" never reaches `int()`, nor a 1 MB id the database)."""
    if isinstance(value, str) and 0 < len(value) <= limit and value.isascii() and value.isprintable():
        return value
    return None


def describe(exc: ValidationError) -> str:
    """A short, secret-free account of what was wrong with a payload, for the log."""
    return json.dumps([{"loc": list(e["loc"]), "type": e["type"]} for e in exc.errors()][:5])


def parsed(model: type[M], body: object, what: str) -> M | None:
    """`body` as `model`, or None, logged, for a payload Slack would never send."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        log.warning("malformed %s: %s", what, describe(exc))
        return None


def button_press(body: dict[str, Any], what: str) -> tuple[BlockActions, int] | None:
    """A button press and the id its value carries (an escalation's, or an incident's for its
    buttons), or None, logged, for a payload the app's own buttons would never send."""
    press = parsed(BlockActions, body, what)
    if press is None:
        return None
    target = press.escalation_id()
    return None if target is None else (press, target)
