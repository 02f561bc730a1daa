"""The policy file: who owns which kind of issue, SLA targets, authority limits, triggers.

The YAML format is a public contract (see README and policy.example.yml): keys may be added, never changed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from escalator.errors import ConfigurationError

_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """`30s`, `15m`, `4h`, `1d`, or combinations such as `1h30m`."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as 30s, 15m, 4h or 1d")
    text = value.strip().lower()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration; write it like 30s, 15m, 4h or 1d")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return timedelta(seconds=seconds)


def _parse_clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:00 as the sexagesimal number 540.
        value = f"{value // 60:02d}:{value % 60:02d}"
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ValueError('a time of day is written HH:MM, in quotes, such as "09:00"')
    hours, minutes = (int(p) for p in value.strip().split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return time(hours, minutes)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ClockTime = Annotated[time, BeforeValidator(_parse_clock_time)]
# A channel, person or user group is named by its Slack ID, or by the name people know it by; names are
# resolved to IDs through the Web API when the app starts (escalator.slack.names).
_CHANNEL_ID = r"[CGD][A-Z0-9]{2,}"
_USER_ID = r"[UW][A-Z0-9]{2,}"
_USERGROUP_ID = r"S[A-Z0-9]{2,}"
_HANDLE = r"@[^\s@,#]{1,80}"
ChannelRef = Annotated[
    str,
    StringConstraints(pattern=rf"^({_CHANNEL_ID}|#[^\s@,#]{{1,80}})$"),
    Field(description="a Slack channel ID such as C0123ABC, or a name such as #billing"),
]
UserRef = Annotated[str, StringConstraints(pattern=rf"^({_USER_ID}|{_HANDLE}|[^\s@,]+@[^\s@,]+\.[^\s@,]+)$")]
UsergroupRef = Annotated[str, StringConstraints(pattern=rf"^({_USERGROUP_ID}|{_HANDLE})$")]
_IDS = {"channel": _CHANNEL_ID, "user": _USER_ID, "usergroup": _USERGROUP_ID}


class NameKind(StrEnum):
    """What a name in the policy stands for."""

    channel = "channel"
    user = "user"
    usergroup = "usergroup"


def is_slack_id(kind: NameKind, ref: str) -> bool:
    """`C0123ABC` is an ID; `#billing`, `@alex` and `alex@example.com` are names to look up."""
    return re.fullmatch(_IDS[kind], ref) is not None


ReactionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_+'\-]+$", max_length=100)]
Words = list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]]
PathKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,49}$")]


class Weekday(StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"

    @property
    def index(self) -> int:
        """Monday is 0, as in `datetime.weekday()`."""
        return list(Weekday).index(self)


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessHours(_Section):
    days: list[Weekday] = Field(min_length=1)
    start: ClockTime
    end: ClockTime

    @property
    def length(self) -> timedelta:
        """How long one working day is open."""
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError("business_hours.start must be earlier than business_hours.end")
        return self


class SlaTargets(_Section):
    acknowledge: Duration
    first_update: Duration
    resolve: Duration
    # At the first-update breach, return the case to the queue instead of only telling its owner.
    unclaim_without_update: bool = False


class EscalationPath(_Section):
    label: str = Field(min_length=1, max_length=75)
    channel: ChannelRef
    after_hours_channel: ChannelRef | None = None
    specialists: list[UserRef] = Field(default_factory=list)
    usergroup: UsergroupRef | None = None
    keywords: Words = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone_owns_it(self) -> EscalationPath:
        if not self.specialists and self.usergroup is None:
            raise ValueError("name the specialists (people) or a usergroup who own this path")
        return self


class Supervisors(_Section):
    channel: ChannelRef
    users: list[UserRef] = Field(default_factory=list)
    usergroup: UsergroupRef | None = None


class WarmTransfer(StrEnum):
    """Where the agent and the specialist talk once the case is claimed."""

    thread = "thread"  # the card's thread, in the specialists' channel
    group_dm = "group_dm"  # a group DM of the agent, the specialist and the bot


class Authority(_Section):
    agent: Decimal = Field(ge=0)
    supervisor: Decimal = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Authority:
        if self.agent > self.supervisor:
            raise ValueError("authority.agent must not be larger than authority.supervisor")
        return self


class Triggers(_Section):
    hierarchical: Words = Field(default_factory=list)
    priority: Words = Field(default_factory=list)
    incident: Words = Field(default_factory=list)


class Reactions(_Section):
    claim: ReactionName = "eyes"
    resolve: ReactionName = "white_check_mark"

    @model_validator(mode="after")
    def _distinct(self) -> Reactions:
        if self.claim == self.resolve:
            raise ValueError("reactions.claim and reactions.resolve must be different emoji")
        return self


class CloseTheLoop(_Section):
    remind_after: Duration = timedelta(hours=1)
    repeat_every: Duration = timedelta(hours=4)
    max_reminders: int = Field(default=3, ge=0, le=100)


class CustomerDeadline(_Section):
    """The customer's own deadline from the handoff form: a promise, apart from the internal SLA."""

    remind_before: Duration = timedelta(hours=1)


class Callbacks(_Section):
    """Callbacks promised to the customer on the handoff form: when to remind, when one is missed."""

    remind_before: Duration = timedelta(minutes=15)  # the owner (the agent while unowned) is reminded
    missed_after: Duration = timedelta(minutes=15)  # past the promised time, not marked done: missed


class Digest(_Section):
    channel: ChannelRef
    at: ClockTime = time(9, 0)


class Privacy(_Section):
    """Handoff notes carry customers' names and account numbers: how much of them Slack keeps."""

    mask_account_in_channel: bool = False  # cards in channels show ••2345; the owner reads the full note
    retain_for: Duration | None = None  # personal details of cases finished longer ago are purged
    purge_at: ClockTime = time(3, 0)  # when the nightly purge runs, in the policy's timezone


class IncidentDetection(_Section):
    """This many similar escalations within this window suggest an incident."""

    threshold: int = Field(ge=2, le=1000)
    within: Duration


class Incidents(_Section):
    """One outage, many callers: where incidents are declared, who responds, and when to suggest one."""

    channel: ChannelRef
    responders: list[UserRef] = Field(default_factory=list)
    usergroup: UsergroupRef | None = None
    detect: IncidentDetection | None = None


class Policy(_Section):
    timezone: str
    business_hours: BusinessHours | None = None
    priorities: dict[Priority, SlaTargets] = Field(min_length=1)
    paths: dict[PathKey, EscalationPath] = Field(min_length=1)
    supervisors: Supervisors
    authority: Authority
    triggers: Triggers = Triggers()
    reactions: Reactions = Reactions()
    close_the_loop: CloseTheLoop = CloseTheLoop()
    customer_deadline: CustomerDeadline = CustomerDeadline()
    callbacks: Callbacks = Callbacks()
    digest: Digest | None = None
    warm_transfer: WarmTransfer = WarmTransfer.thread
    privacy: Privacy = Privacy()
    incident: Incidents | None = None

    @field_validator("paths")
    @classmethod
    def _reserved_path_names(cls, paths: dict[str, EscalationPath]) -> dict[str, EscalationPath]:
        if "supervisors" in paths:
            raise ValueError("'supervisors' is reserved for escalating up: give the path another name")
        return paths

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA timezone such as Europe/London") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def channels_named(self) -> dict[str, list[str]]:
        """Each channel the policy names, with every key that names it (`paths.billing.channel`, …)."""
        found: dict[str, list[str]] = defaultdict(list)
        for key, path in self.paths.items():
            found[path.channel].append(f"paths.{key}.channel")
            if path.after_hours_channel:
                found[path.after_hours_channel].append(f"paths.{key}.after_hours_channel")
        found[self.supervisors.channel].append("supervisors.channel")
        if self.digest is not None:
            found[self.digest.channel].append("digest.channel")
        if self.incident is not None:
            found[self.incident.channel].append("incident.channel")
        return dict(found)

    def users_named(self) -> dict[str, list[str]]:
        """Each person the policy names, with the keys that name them."""
        found: dict[str, list[str]] = defaultdict(list)
        for key, path in self.paths.items():
            for user in path.specialists:
                found[user].append(f"paths.{key}.specialists")
        for user in self.supervisors.users:
            found[user].append("supervisors.users")
        for user in self.incident.responders if self.incident else []:
            found[user].append("incident.responders")
        return dict(found)

    def usergroups_named(self) -> dict[str, list[str]]:
        """Each user group the policy names, with the keys that name it."""
        found: dict[str, list[str]] = defaultdict(list)
        for key, path in self.paths.items():
            if path.usergroup:
                found[path.usergroup].append(f"paths.{key}.usergroup")
        if self.supervisors.usergroup:
            found[self.supervisors.usergroup].append("supervisors.usergroup")
        if self.incident is not None and self.incident.usergroup:
            found[self.incident.usergroup].append("incident.usergroup")
        return dict(found)

    def names(self) -> dict[tuple[NameKind, str], list[str]]:
        """Each name (not ID) the policy uses, by kind, with the keys that use it."""
        named = [
            (NameKind.channel, self.channels_named()),
            (NameKind.user, self.users_named()),
            (NameKind.usergroup, self.usergroups_named()),
        ]
        return {
            (kind, ref): keys
            for kind, refs in named
            for ref, keys in refs.items()
            if not is_slack_id(kind, ref)
        }

    def with_ids(self, ids: Mapping[tuple[NameKind, str], str]) -> Policy:
        """This policy with each name in `ids` replaced by its Slack ID; other names stay as written."""

        def channel(ref: str | None) -> str | None:
            return ids.get((NameKind.channel, ref), ref) if ref else ref

        def users(refs: list[str]) -> list[str]:
            return list(dict.fromkeys(ids.get((NameKind.user, ref), ref) for ref in refs))

        def group(ref: str | None) -> str | None:
            return ids.get((NameKind.usergroup, ref), ref) if ref else ref

        paths = {
            key: path.model_copy(
                update={
                    "channel": channel(path.channel),
                    "after_hours_channel": channel(path.after_hours_channel),
                    "specialists": users(path.specialists),
                    "usergroup": group(path.usergroup),
                }
            )
            for key, path in self.paths.items()
        }
        update: dict[str, Any] = {
            "paths": paths,
            "supervisors": self.supervisors.model_copy(
                update={
                    "channel": channel(self.supervisors.channel),
                    "users": users(self.supervisors.users),
                    "usergroup": group(self.supervisors.usergroup),
                }
            ),
        }
        if self.digest is not None:
            update["digest"] = self.digest.model_copy(update={"channel": channel(self.digest.channel)})
        if self.incident is not None:
            update["incident"] = self.incident.model_copy(
                update={
                    "channel": channel(self.incident.channel),
                    "responders": users(self.incident.responders),
                    "usergroup": group(self.incident.usergroup),
                }
            )
        return self.model_copy(update=update)

    def targets(self, priority: Priority) -> SlaTargets:
        return self.priorities[priority]


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file, or raise one ConfigurationError naming each bad key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path}: policy file not found; copy policy.example.yml to {path} and edit it, "
            "or point ESCALATOR_POLICY at your policy file"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the policy file ({exc.strerror})") from None
    return parse_policy(text, source=str(path))


def parse_policy(text: str, source: str = "policy") -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        hint = (
            '; a name that starts with @ must be in quotes, such as "@alex"'
            if "'@'" in str(getattr(exc, "problem", ""))
            else ""
        )
        raise ConfigurationError(f"{source}: not valid YAML{at}{hint}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{source}: the policy must be a YAML mapping of keys such as paths:")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError("\n".join(f"{source}: {line}" for line in describe_errors(exc))) from None


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per problem, each starting with its dotted key path.

    For example `paths.billing.channel: field required`.
    """
    lines = []
    for error in exc.errors():
        # pydantic adds the validator's name to the location of errors raised inside union or
        # function validators; a reader only wants the keys of their file.
        loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
        key = ".".join(loc) or "policy"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        elif error["type"] == "string_pattern_mismatch":
            message = _pattern_hint(loc, error.get("input"))
        elif error["type"] == "string_type" and error.get("input") is None and _names_a_channel(loc):
            message = (
                'is empty; a channel name such as #billing must be in quotes ("#billing"): '
                "unquoted, YAML reads # as the start of a comment"
            )
        lines.append(f"{key}: {message[:1].lower()}{message[1:]}")
    return lines


def _names_a_channel(loc: list[str]) -> bool:
    return bool(loc) and "channel" in loc[-1]


def _pattern_hint(loc: list[str], value: Any) -> str:
    last = loc[-1] if loc else ""
    if _names_a_channel(loc):
        kind = 'a channel name such as "#billing" or an ID such as C0123ABC'
    elif last == "usergroup":
        kind = 'a user group\'s handle such as "@billing-team" or an ID such as S0123ABC'
    elif "specialists" in loc or "users" in loc or "responders" in loc:
        kind = 'a person\'s handle such as "@alex", their email, or a user ID such as U0123ABC'
    elif "paths" in loc:
        kind = "a short lowercase name such as billing"
    else:
        kind = "a valid value"
    return f"{value!r} is not {kind}"
