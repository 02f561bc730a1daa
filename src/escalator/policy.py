"""The policy file: who owns which kind of issue, SLA targets, authority limits, triggers.

The YAML format is a public contract (see README and policy.example.yml): keys may be added, never changed.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
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


EMPTY_CHANNEL = (
    'is empty; a channel name such as #billing must be in quotes ("#billing"): '
    "unquoted, YAML reads # as the start of a comment"
)
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


class KeyProblem(ValueError):
    """A problem a section's check finds in one of its keys, reported at that key
    (`authority.levels.1.limit: …`) rather than at the section."""

    def __init__(self, key: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.key = key


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


class Shift(_Section):
    """People on duty on these weekdays between two times; a shift that ends before it starts ends the
    next morning."""

    days: list[Weekday] = Field(min_length=1)
    start: ClockTime = Field(alias="from")
    end: ClockTime = Field(alias="to")
    on_duty: list[UserRef] = Field(min_length=1)

    @field_validator("end")
    @classmethod
    def _has_length(cls, end: time, info: ValidationInfo) -> time:
        if info.data.get("start") == end:
            raise ValueError("must not equal the shift's from: such a shift has no length")
        return end


class RotaOverride(_Section):
    """Holiday cover: on these dates (inclusive) these people are on duty instead of the shifts."""

    first_day: date = Field(alias="from")
    last_day: date = Field(alias="to")
    on_duty: list[UserRef] = Field(min_length=1)
    note: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("last_day")
    @classmethod
    def _in_order(cls, last_day: date, info: ValidationInfo) -> date:
        first_day = info.data.get("first_day")
        if first_day is not None and last_day < first_day:
            raise ValueError(f"must not be before from ({first_day.isoformat()})")
        return last_day


class Rota(_Section):
    """Who is on duty when, in the policy's timezone."""

    shifts: list[Shift] = Field(default_factory=list)
    after_hours: list[UserRef] | None = Field(default=None, min_length=1)  # whenever no shift covers
    overrides: list[RotaOverride] = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone_ever(self) -> Rota:
        if not self.shifts and not self.after_hours:
            raise ValueError("a rota names shifts, after_hours, or both")
        ordered = sorted(enumerate(self.overrides), key=lambda item: item[1].first_day)
        for (i, earlier), (j, later) in pairwise(ordered):
            if later.first_day <= earlier.last_day:
                raise ValueError(f"overrides {min(i, j)} and {max(i, j)} overlap: one date, one cover")
        return self

    def people(self) -> list[str]:
        """Everyone the rota names, each once, in the order written."""
        named = [u for s in self.shifts for u in s.on_duty] + (self.after_hours or [])
        named += [u for o in self.overrides for u in o.on_duty]
        return list(dict.fromkeys(named))

    def with_users(self, users: Callable[[list[str]], list[str]]) -> Rota:
        """The same rota with each list of people mapped by `users` (names to IDs)."""
        return self.model_copy(
            update={
                "shifts": [s.model_copy(update={"on_duty": users(s.on_duty)}) for s in self.shifts],
                "after_hours": users(self.after_hours) if self.after_hours else self.after_hours,
                "overrides": [o.model_copy(update={"on_duty": users(o.on_duty)}) for o in self.overrides],
            }
        )

    def keys_naming(self, prefix: str) -> list[tuple[str, str]]:
        """Each person with the key that names them: `paths.billing.rota.shifts.0.on_duty`, …"""
        found = [(u, f"{prefix}.shifts.{i}.on_duty") for i, s in enumerate(self.shifts) for u in s.on_duty]
        found += [(u, f"{prefix}.after_hours") for u in self.after_hours or []]
        found += [
            (u, f"{prefix}.overrides.{i}.on_duty") for i, o in enumerate(self.overrides) for u in o.on_duty
        ]
        return found


class EscalationPath(_Section):
    label: str = Field(min_length=1, max_length=75)
    channel: ChannelRef
    after_hours_channel: ChannelRef | None = None
    specialists: list[UserRef] = Field(default_factory=list)
    usergroup: UsergroupRef | None = None
    keywords: Words = Field(default_factory=list)
    rota: Rota | None = None  # who of them (or who else) is on duty when; everyone listed may claim

    @model_validator(mode="after")
    def _someone_owns_it(self) -> EscalationPath:
        if not self.specialists and self.usergroup is None and self.rota is None:
            raise ValueError("name the specialists (people), a usergroup or a rota who own this path")
        return self


class Supervisors(_Section):
    channel: ChannelRef
    users: list[UserRef] = Field(default_factory=list)
    usergroup: UsergroupRef | None = None
    rota: Rota | None = None  # who of the supervisors is on duty when; those it names are supervisors


class WarmTransfer(StrEnum):
    """Where the agent and the specialist talk once the case is claimed."""

    thread = "thread"  # the card's thread, in the specialists' channel
    group_dm = "group_dm"  # a group DM of the agent, the specialist and the bot


class AuthorityLevel(_Section):
    """Who decides above the supervisors: a level's name, the most it may approve, its approvers."""

    name: str = Field(min_length=1, max_length=75)
    limit: Decimal | None = Field(default=None, ge=0)  # none on the last level: it decides any amount
    approvers: list[UserRef] = Field(default_factory=list)
    usergroup: UsergroupRef | None = None

    @model_validator(mode="after")
    def _someone_decides(self) -> AuthorityLevel:
        if not self.approvers and self.usergroup is None:
            raise ValueError("name the approvers (people) or a usergroup who decide at this level")
        return self


class Authority(_Section):
    agent: Decimal = Field(ge=0)
    supervisor: Decimal = Field(ge=0)
    levels: list[AuthorityLevel] = Field(default_factory=list)  # above the supervisors, lowest first

    @model_validator(mode="after")
    def _ordered(self) -> Authority:
        if self.agent > self.supervisor:
            raise ValueError("authority.agent must not be larger than authority.supervisor")
        below, names = self.supervisor, {"agent", "supervisor"}
        for n, level in enumerate(self.levels):
            if level.name.strip().casefold() in names:
                raise KeyProblem(("levels", n, "name"), f"{level.name!r} is the name of a lower level")
            names.add(level.name.strip().casefold())
            if level.limit is None:
                if n != len(self.levels) - 1:
                    raise KeyProblem(
                        ("levels", n, "limit"), "only the last level may leave out its limit: give this one"
                    )
                continue
            if level.limit <= below:
                raise KeyProblem(
                    ("levels", n, "limit"),
                    f"must be larger than the level below ({below}): each level decides more",
                )
            below = level.limit
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


class WeeklyReport(_Section):
    """The feedback loop: once a week, what the escalations were about and where training would help."""

    day: Weekday = Weekday.mon
    at: ClockTime = time(9, 0)
    channel: ChannelRef | None = None  # the topics; default: the supervisors' channel
    product_channel: ChannelRef | None = None  # the product team: the topics' CSV, no per-agent figures

    @field_validator("channel", "product_channel", mode="before")
    @classmethod
    def _written_if_given(cls, value: Any) -> Any:
        # Optional, so an unquoted #name (a YAML comment, read as nothing) would silently turn it off.
        if value is None:
            raise ValueError(EMPTY_CHANNEL)
        return value


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


def normalise_account(account: str) -> str:
    """How account numbers are matched: case and spaces don't count (`acme 001` is `ACME001`)."""
    return "".join(account.split()).upper()


TierName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,49}$")]
_KEY_ACCOUNT_COLUMNS = (["account", "tier"], ["account", "tier", "name"])


class KeyAccountTier(_Section):
    priority: Priority  # a key account of this tier is raised at this priority at least


class KeyAccount(_Section):
    account: str = Field(min_length=1, max_length=64)
    tier: str
    name: str | None = Field(default=None, max_length=150)


class KeyAccounts(_Section):
    """Customers whose escalations are raised at least at their tier's priority: listed here, and/or in
    a CSV file (columns account,tier[,name]) relative to the policy file."""

    tiers: dict[TierName, KeyAccountTier] = Field(min_length=1)
    accounts: list[KeyAccount] = Field(default_factory=list)
    file: Path | None = None
    _by_account: dict[str, KeyAccount] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _index(self, info: ValidationInfo) -> KeyAccounts:
        found: dict[str, KeyAccount] = {}
        for n, entry in enumerate(self.accounts):
            problem = self._problem(entry, found)
            if problem:
                raise KeyProblem(("accounts", n, "tier" if "tier" in problem else "account"), problem)
            found[normalise_account(entry.account)] = entry
        if self.file is not None:
            base = (info.context or {}).get("policy_dir") or Path.cwd()
            for line, entry in self._read_file(Path(base) / self.file):
                problem = self._problem(entry, found)
                if problem:
                    raise KeyProblem(("file",), f"{self.file} line {line}: {problem}")
                found[normalise_account(entry.account)] = entry
        self._by_account = found
        return self

    def _problem(self, entry: KeyAccount, found: dict[str, KeyAccount]) -> str | None:
        if entry.tier not in self.tiers:
            return f"unknown tier {entry.tier!r}; the tiers are {', '.join(self.tiers)}"
        if not normalise_account(entry.account):
            return "the account number is empty"
        if normalise_account(entry.account) in found:
            return f"account {entry.account!r} is listed twice"
        return None

    def _read_file(self, path: Path) -> list[tuple[int, KeyAccount]]:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise KeyProblem(("file",), f"cannot read {path} ({exc.strerror})") from None
        rows = csv.reader(text.splitlines())
        header = [cell.strip().lower() for cell in next(rows, [])]
        if header not in _KEY_ACCOUNT_COLUMNS:
            raise KeyProblem(
                ("file",), f"{self.file} line 1: the header must be account,tier or account,tier,name"
            )
        entries = []
        for row in rows:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise KeyProblem(("file",), f"{self.file} line {rows.line_num}: more columns than the header")
            cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
            try:
                entry = KeyAccount(
                    account=cells.get("account", ""),
                    tier=cells.get("tier", ""),
                    name=cells.get("name") or None,
                )
            except ValidationError as exc:
                what = "; ".join(f"{e['loc'][0]} {e['msg'].lower()}" for e in exc.errors())
                raise KeyProblem(("file",), f"{self.file} line {rows.line_num}: {what}") from None
            entries.append((rows.line_num, entry))
        return entries

    def find(self, account: str) -> KeyAccount | None:
        """The key account with this number (matched as `normalise_account` says), if it is one."""
        return self._by_account.get(normalise_account(account))

    @property
    def count(self) -> int:
        return len(self._by_account)


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
    weekly_report: WeeklyReport | None = None
    warm_transfer: WarmTransfer = WarmTransfer.thread
    privacy: Privacy = Privacy()
    incident: Incidents | None = None
    key_accounts: KeyAccounts | None = None

    @model_validator(mode="after")
    def _tiers_have_targets(self) -> Policy:
        for name, tier in (self.key_accounts.tiers if self.key_accounts else {}).items():
            if tier.priority not in self.priorities:
                raise KeyProblem(
                    ("key_accounts", "tiers", name, "priority"),
                    f"there are no SLA targets for {tier.priority.value} under priorities:",
                )
        return self

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
    def weekly_report_channel(self) -> str:
        """Where the weekly report's topics go."""
        report = self.weekly_report
        return (report.channel if report else None) or self.supervisors.channel

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
        if self.weekly_report is not None:
            for key in ("channel", "product_channel"):
                if ref := getattr(self.weekly_report, key):
                    found[ref].append(f"weekly_report.{key}")
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
        rotas = [(f"paths.{key}.rota", path.rota) for key, path in self.paths.items()]
        for prefix, rota in [*rotas, ("supervisors.rota", self.supervisors.rota)]:
            for user, named_by in rota.keys_naming(prefix) if rota else []:
                found[user].append(named_by)
        for user in self.incident.responders if self.incident else []:
            found[user].append("incident.responders")
        for n, level in enumerate(self.authority.levels):
            for user in level.approvers:
                found[user].append(f"authority.levels.{n}.approvers")
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
        for n, level in enumerate(self.authority.levels):
            if level.usergroup:
                found[level.usergroup].append(f"authority.levels.{n}.usergroup")
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
                    "rota": path.rota.with_users(users) if path.rota else None,
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
                    "rota": self.supervisors.rota.with_users(users) if self.supervisors.rota else None,
                }
            ),
            "authority": self.authority.model_copy(
                update={
                    "levels": [
                        level.model_copy(
                            update={"approvers": users(level.approvers), "usergroup": group(level.usergroup)}
                        )
                        for level in self.authority.levels
                    ]
                }
            ),
        }
        if self.digest is not None:
            update["digest"] = self.digest.model_copy(update={"channel": channel(self.digest.channel)})
        if self.weekly_report is not None:
            update["weekly_report"] = self.weekly_report.model_copy(
                update={
                    "channel": channel(self.weekly_report.channel),
                    "product_channel": channel(self.weekly_report.product_channel),
                }
            )
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
    return parse_policy(text, source=str(path), policy_dir=path.parent)


def parse_policy(text: str, source: str = "policy", policy_dir: Path | None = None) -> Policy:
    """The policy in `text`; files it names (key_accounts.file) are relative to `policy_dir`."""
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
    except ValueError as exc:  # YAML reads an unquoted 2026-13-01 as a date, and fails to make one
        raise ConfigurationError(f"{source}: not valid YAML: a date that is no date ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{source}: the policy must be a YAML mapping of keys such as paths:")
    try:
        return Policy.model_validate(data, context={"policy_dir": policy_dir})
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
        problem = error.get("ctx", {}).get("error")
        if isinstance(problem, KeyProblem):
            loc += [str(part) for part in problem.key]
        key = ".".join(loc) or "policy"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        elif error["type"] == "string_pattern_mismatch":
            message = _pattern_hint(loc, error.get("input"))
        elif error["type"] == "string_type" and error.get("input") is None and _names_a_channel(loc):
            message = EMPTY_CHANNEL
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
    elif {"specialists", "users", "responders", "approvers", "on_duty", "after_hours"} & set(loc):
        kind = 'a person\'s handle such as "@alex", their email, or a user ID such as U0123ABC'
    elif "paths" in loc:
        kind = "a short lowercase name such as billing"
    else:
        kind = "a valid value"
    return f"{value!r} is not {kind}"
