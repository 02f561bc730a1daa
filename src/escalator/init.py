"""`escalator init`: asks, in the terminal, for the bot token and which channels and people are which
path's, and writes a valid, commented policy.yml with names, the secrets into .env, and the database.

Every channel offered is one the bot is in (`users.conversations`), and every person or group typed is
looked up at once, so `escalator check` passes right after on a workspace that is set up.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from escalator.errors import ConfigurationError
from escalator.policy import NameKind, Weekday, parse_policy
from escalator.settings import SetupSettings
from escalator.slack.bolt_app import web_api
from escalator.slack.gateway import SlackCallFailed, SlackGateway
from escalator.slack.names import pages, resolve_names
from escalator.slack.rendering.engine import render_text
from escalator.wiring import migrate_or_exit

_PATH_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,49}$")
_HOURS = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun)-(mon|tue|wed|thu|fri|sat|sun)\s+(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$"
)
_TRIES = 5  # answers to one question before init gives up


class InitStopped(Exception):
    """No usable answer: standard input ended, or the same question failed too often."""


@dataclass
class Owners:
    people: list[str] = field(default_factory=list)
    usergroup: str | None = None


@dataclass
class Terminal:
    """Questions and answers; standard input and output unless a test gives its own."""

    read: Callable[[str], str]
    secret: Callable[[str], str]
    say: Callable[[str], None]

    def ask(self, question: str, default: str = "") -> str:
        shown = f"{question} [{default}]: " if default else f"{question}: "
        try:
            answer = self.read(shown).strip()
        except EOFError:
            raise InitStopped("no answer (standard input ended)") from None
        return answer or default

    def until(self, question: str, accept: Callable[[str], Any], default: str = "") -> Any:
        """Ask until `accept` takes the answer (it returns a value, or raises ValueError saying why)."""
        for _ in range(_TRIES):
            try:
                return accept(self.ask(question, default))
            except ValueError as why:
                self.say(f"  {why}")
        raise InitStopped(f"no usable answer to “{question}”")


def console() -> Terminal:
    hidden = getpass.getpass if sys.stdin.isatty() else input
    return Terminal(read=input, secret=hidden, say=print)


def run_init(terminal: Terminal, *, force: bool) -> int:
    settings = SetupSettings()
    say = terminal.say
    say("Escalator setup: this writes a policy with your channels and people by name.\n")
    target = settings.ESCALATOR_POLICY
    replace = force or not target.exists()
    if not replace and terminal.ask(f"{target} exists: replace it? (y/N)", "n").lower() not in ("y", "yes"):
        say("Nothing written.")
        return 1
    token, typed_token = _secret(terminal, settings.SLACK_BOT_TOKEN, "SLACK_BOT_TOKEN", _TOKEN_QUESTION)
    gateway = web_api(token, settings.SLACK_API_URL, settings.SLACK_API_TIMEOUT)
    try:
        me = gateway.identity()
    except SlackCallFailed as exc:
        say(f"✗ Slack did not take the token ({exc.error}): copy it again from OAuth & Permissions.")
        return 2
    say(f"  ✓ signed in as {me.user_id} in {me.team}")
    secret, typed_secret = _secret(
        terminal, settings.SLACK_SIGNING_SECRET, "SLACK_SIGNING_SECRET", _SECRET_QUESTION
    )
    channels = _bot_channels(gateway)
    if not channels:
        say("\nThe bot is in no channel yet. Type `/invite @Escalator` in each specialist channel and in")
        say("the supervisors' channel, then run `escalator init` again.")
        return 1
    say("\nThe bot is in these channels (invite it to others with `/invite @Escalator` there):")
    for number, (name, purpose) in enumerate(channels.items(), 1):
        say(f"  {number}. {name}" + (f" — {purpose}" if purpose else ""))
    text = _policy_text(terminal, gateway, _channel_picker(list(channels)))
    try:
        policy = parse_policy(text, source=str(target))
    except ConfigurationError as exc:  # each answer was checked as it was typed: this would be a bug
        say(f"✗ the policy came out invalid, so it is not written:\n{exc}")
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    say(f"\n✓ wrote {target} ({len(policy.paths)} paths, names kept as names)")
    _keep_secrets(
        say,
        {
            "SLACK_BOT_TOKEN": token if typed_token else None,
            "SLACK_SIGNING_SECRET": secret if typed_secret else None,
        },
    )
    migrate_or_exit(settings.DATABASE_URL)
    say(f"✓ the database is ready ({settings.DATABASE_URL})")
    say("\nNext: `escalator check` (it prints each name with the ID it found), then `python app.py`.")
    return 0


def _policy_text(terminal: Terminal, gateway: SlackGateway, pick: Callable[[str], str]) -> str:
    """Ask for the paths, the supervisors, the timezone and the hours; the policy file's text."""
    say = terminal.say
    keys = terminal.until(_PATHS_QUESTION, _path_keys, "billing, technical")
    paths = []
    for key in keys:
        say(f"\nPath {key}:")
        label = terminal.ask("  its label, as people read it", re.sub(r"[_\-]", " ", key).capitalize())
        channel = terminal.until("  its channel (a number above, or #name)", pick)
        owners = terminal.until(_OWNERS_QUESTION, lambda answer: _owners(gateway, terminal, answer))
        keywords = _words(terminal.ask(_KEYWORDS_QUESTION))
        paths.append(
            {"key": key, "label": label[:75], "channel": channel, "keywords": keywords, **_fields(owners)}
        )
    say("\nThe supervisors (escalations up, breaches, approvals, the digest):")
    supervisors_channel = terminal.until("  their channel (a number above, or #name)", pick)
    supervisors = terminal.until(_OWNERS_QUESTION, lambda answer: _owners(gateway, terminal, answer))
    zone = terminal.until("\nTimezone the team works in (IANA, such as Europe/London)", _zone, _local_zone())
    hours = terminal.until("Business hours, such as mon-fri 09:00-17:30, or none", _business_hours, "none")
    return render_text(
        "policy.yml.j2",
        written=f"{datetime.now(UTC):%Y-%m-%d}",
        timezone=zone,
        business_hours=hours,
        paths=paths,
        supervisors={"channel": supervisors_channel, **_fields(supervisors)},
    )


_TOKEN_QUESTION = "Bot User OAuth Token (xoxb-…, on your Slack app's OAuth & Permissions page)"
_SECRET_QUESTION = "Signing Secret (on your Slack app's Basic Information page)"
_PATHS_QUESTION = "\nEscalation paths: the kinds of issue your specialists own, comma-separated"
_OWNERS_QUESTION = "  who they are: handles (@alex), emails, and/or one user group (@team), comma-separated"
_KEYWORDS_QUESTION = "  words in a note that suggest this path, comma-separated (optional)"


def _secret(terminal: Terminal, known: str | None, variable: str, question: str) -> tuple[str, bool]:
    """The value from the environment (or .env), else asked for; and whether it was typed here."""
    if known:
        terminal.say(f"Using {variable} from the environment.")
        return known, False
    for _ in range(_TRIES):
        try:
            value = terminal.secret(f"{question}: ").strip()
        except EOFError:
            raise InitStopped("no answer (standard input ended)") from None
        if value and not any(c.isspace() for c in value):
            return value, True
        terminal.say("  paste the whole value, with no spaces")
    raise InitStopped(f"no {variable}")


def _bot_channels(gateway: SlackGateway) -> dict[str, str]:
    """The channels the bot is in, `#name` → purpose."""
    listed = pages(
        gateway,
        "users.conversations",
        "channels",
        types="public_channel,private_channel",
        exclude_archived="true",
    )
    return {f"#{c.get('name')}": str((c.get("purpose") or {}).get("value") or "") for c in listed}


def _channel_picker(names: list[str]) -> Callable[[str], str]:
    def pick(answer: str) -> str:
        if answer.isdigit() and 1 <= int(answer) <= len(names):
            return names[int(answer) - 1]
        name = "#" + answer.lstrip("#").lower()
        if name in names:
            return name
        raise ValueError(
            f"the bot is not in {name}: pick a number above, or type `/invite @Escalator` in {name} first"
        )

    return pick


def _path_keys(answer: str) -> list[str]:
    keys = [k.strip().lower() for k in answer.split(",") if k.strip()]
    if not keys:
        raise ValueError("name at least one path, such as billing")
    for key in keys:
        if not _PATH_KEY.match(key):
            raise ValueError(f"{key!r}: a path is a short lowercase name such as billing or tech-support")
        if key == "supervisors":
            raise ValueError("'supervisors' is reserved for escalating up: give the path another name")
    if len(set(keys)) != len(keys):
        raise ValueError("each path once, please")
    return keys


def _owners(gateway: SlackGateway, terminal: Terminal, answer: str) -> Owners:
    """People and at most one group, each looked up in the workspace now."""
    wanted = [item for item in (a.strip() for a in answer.split(",")) if item]
    if not wanted:
        raise ValueError("name at least one person or a user group")
    for item in wanted:
        if not (item.startswith("@") or "@" in item):
            raise ValueError(f"{item!r}: write a handle with @ (@alex), an email, or a group (@billing-team)")
        if any(c.isspace() for c in item):
            raise ValueError(f"{item!r}: a handle has no spaces; write their Slack handle or their email")
    lookups: dict[tuple[NameKind, str], list[str]] = {}
    for item in wanted:
        lookups[(NameKind.user, item)] = []
        if item.startswith("@"):
            lookups[(NameKind.usergroup, item)] = []
    found = resolve_names(gateway, lookups)
    owners = Owners()
    for item in wanted:
        person, group = found.found.get((NameKind.user, item)), found.found.get((NameKind.usergroup, item))
        if person is not None:
            owners.people.append(item)
            terminal.say(f"    ✓ {item} is {person.shown} ({person.slack_id})")
        elif group is not None:
            if owners.usergroup is not None:
                raise ValueError("one user group per path (or list its people)")
            owners.usergroup = item
            terminal.say(f"    ✓ {item} is the user group {group.shown} ({group.slack_id})")
        else:
            raise ValueError(found.missing[(NameKind.user, item)].reason)
    return owners


def _fields(owners: Owners) -> dict[str, Any]:
    return {"specialists": owners.people, "users": owners.people, "usergroup": owners.usergroup}


def _words(answer: str) -> list[str]:
    return [w.strip() for w in answer.split(",") if w.strip()]


def _zone(answer: str) -> str:
    try:
        ZoneInfo(answer)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{answer!r} is not an IANA timezone such as Europe/London or America/New_York"
        ) from None
    return answer


def _local_zone() -> str:
    """This machine's IANA zone when it says, else UTC."""
    candidates = [os.environ.get("TZ", "")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        candidates.append(str(localtime.resolve()).partition("zoneinfo/")[2])
    for candidate in candidates:
        try:
            return _zone(candidate)
        except ValueError:
            continue
    return "UTC"


def _business_hours(answer: str) -> dict[str, Any] | None:
    if answer.lower() in ("none", "no", ""):
        return None
    match = _HOURS.match(answer.lower())
    if not match:
        raise ValueError("write it like mon-fri 09:00-17:30, or none")
    days = [day.value for day in Weekday]
    first, last = days.index(match.group(1)), days.index(match.group(2))
    if first > last:
        raise ValueError("the first day comes before the last, as in mon-fri")
    start, end = (f"{int(t.split(':')[0]):02d}:{t.split(':')[1]}" for t in (match.group(3), match.group(4)))
    if start >= end or end > "23:59":
        raise ValueError("the day starts before it ends, as in 09:00-17:30")
    return {"days": days[first : last + 1], "start": start, "end": end}


def _keep_secrets(say: Callable[[str], None], typed: dict[str, str | None]) -> None:
    """What was typed goes into .env (readable by its owner only), where the app reads it."""
    lines = [f"{name}={value}\n" for name, value in typed.items() if value]
    if not lines:
        return
    env = Path(".env")
    if env.exists() and not env.read_bytes().endswith(b"\n") and env.stat().st_size:
        lines.insert(0, "\n")  # the last line there stays whole
    fd = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.writelines(lines)
    env.chmod(0o600)  # an existing file too: it now holds the secrets
    names = " and ".join(name for name, value in typed.items() if value)
    say(f"✓ added {names} to {env.resolve()} (readable by you only; keep it out of version control)")
