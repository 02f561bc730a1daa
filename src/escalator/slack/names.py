"""Finding the Slack IDs of the names a policy uses: `#billing`, `@alex` or `alex@example.com`, and
`@billing-team`.

Each kind is listed once (`conversations.list`, `users.list`, `usergroups.list`, following their cursors);
emails are looked up one by one (`users.lookupByEmail`). Only the kinds the policy names are asked for,
so a policy of IDs costs no call.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from escalator.policy import NameKind
from escalator.slack.gateway import SlackCallFailed, SlackGateway

NameKey = tuple[NameKind, str]
_PAGE = 1000  # Slack's largest page: a workspace of thousands lists in a few calls


@dataclass(frozen=True)
class NameFound:
    kind: NameKind
    name: str
    slack_id: str
    shown: str  # how Slack shows it: #billing, Alex Kim


@dataclass(frozen=True)
class NameMissing:
    kind: NameKind
    name: str
    reason: str  # "no channel #biling; did you mean #billing?"
    transient: bool = False  # Slack could not be asked: the cache may know it


@dataclass
class Resolution:
    found: dict[NameKey, NameFound] = field(default_factory=dict)
    missing: dict[NameKey, NameMissing] = field(default_factory=dict)

    @property
    def ids(self) -> dict[NameKey, str]:
        return {key: found.slack_id for key, found in self.found.items()}

    def add(self, outcome: NameFound | NameMissing) -> None:
        key = (outcome.kind, outcome.name)
        if isinstance(outcome, NameFound):
            self.found[key] = outcome
        else:
            self.missing[key] = outcome


def resolve_names(gateway: SlackGateway, names: Mapping[NameKey, object]) -> Resolution:
    """Ask Slack for the ID of each name; what it could not find (or could not be asked) is in `missing`.
    Once Slack cannot be reached the rest is not asked: each call would wait out its timeout."""
    resolution = Resolution()
    wanted = {kind: [name for k, name in names if k == kind] for kind in NameKind}
    handles = [name for name in wanted[NameKind.user] if name.startswith("@")]
    emails = [name for name in wanted[NameKind.user] if not name.startswith("@")]
    asks = [
        (NameKind.channel, wanted[NameKind.channel], lambda: _channels(gateway)),
        (NameKind.user, handles, lambda: _people(gateway)),
        (NameKind.usergroup, wanted[NameKind.usergroup], lambda: _groups(gateway)),
    ]
    for kind, listed, listing in asks:
        if listed and not _unreachable(resolution):
            _resolve_all(resolution, kind, listed, listing)
    for email in emails:
        if not _unreachable(resolution):
            resolution.add(_person_by_email(gateway, email))
    down = _unreachable(resolution)
    for kind, name in names if down is not None else ():
        if (kind, name) not in resolution.found and (kind, name) not in resolution.missing:
            resolution.add(NameMissing(kind, name, down.reason, transient=True))
    return resolution


def _unreachable(resolution: Resolution) -> NameMissing | None:
    return next((missing for missing in resolution.missing.values() if missing.transient), None)


@dataclass(frozen=True)
class _Candidate:
    slack_id: str
    shown: str
    problem: str | None = None  # archived, deactivated, disabled


def _resolve_all(resolution: Resolution, kind: NameKind, names: list[str], listing: Any) -> None:
    try:
        known: dict[str, list[_Candidate]] = listing()
    except SlackCallFailed as exc:
        for name in names:
            resolution.add(NameMissing(kind, name, _could_not_ask(kind, exc), exc.transient))
        return
    for name in names:
        resolution.add(_pick(kind, name, known))


def _pick(kind: NameKind, name: str, known: dict[str, list[_Candidate]]) -> NameFound | NameMissing:
    candidates = known.get(name.lower(), [])
    usable = [c for c in candidates if c.problem is None]
    if len(usable) == 1:
        return NameFound(kind, name, usable[0].slack_id, usable[0].shown)
    if len(usable) > 1:
        who = ", ".join(f"{c.slack_id} ({c.shown})" for c in usable)
        return NameMissing(kind, name, f"{len(usable)} go by {name}: {who}; write the one you mean by its ID")
    if candidates:
        return NameMissing(kind, name, f"{name} {candidates[0].problem}")
    close = difflib.get_close_matches(name.lower(), [n for n in known if n[:1] == name[:1]], n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]}?" if close else ""
    nothing = {
        NameKind.channel: "no channel",
        NameKind.user: "no one goes by",
        NameKind.usergroup: "no user group",
    }
    where = (
        " (a private channel is only seen once the bot is in it: `/invite @Escalator` there)"
        if kind is NameKind.channel and not close
        else ""
    )
    return NameMissing(kind, name, f"{nothing[kind]} {name}{hint}{where}")


def _channels(gateway: SlackGateway) -> dict[str, list[_Candidate]]:
    known: dict[str, list[_Candidate]] = {}
    listed = pages(
        gateway,
        "conversations.list",
        "channels",
        types="public_channel,private_channel",
        exclude_archived="false",
    )
    for channel in listed:
        name = f"#{channel.get('name', '')}"
        problem = "is archived" if channel.get("is_archived") else None
        known.setdefault(name.lower(), []).append(_Candidate(str(channel.get("id")), name, problem))
    return known


def _people(gateway: SlackGateway) -> dict[str, list[_Candidate]]:
    """Each person by their handle (`name`) and by their display name, both as `@…`."""
    known: dict[str, list[_Candidate]] = {}
    for user in pages(gateway, "users.list", "members"):
        if user.get("is_bot") or user.get("id") == "USLACKBOT":
            continue
        profile = user.get("profile") or {}
        shown = profile.get("real_name") or user.get("real_name") or user.get("name") or user.get("id")
        candidate = _Candidate(
            str(user.get("id")), str(shown), "is deactivated" if user.get("deleted") else None
        )
        handles = {f"@{h}".lower() for h in (user.get("name"), profile.get("display_name")) if h}
        for handle in handles:
            known.setdefault(handle, []).append(candidate)
    return known


def _groups(gateway: SlackGateway) -> dict[str, list[_Candidate]]:
    listed = gateway.call("usergroups.list", include_disabled="true").get("usergroups") or []
    known: dict[str, list[_Candidate]] = {}
    for group in listed:
        if not isinstance(group, dict):
            continue
        handle = f"@{group.get('handle', '')}"
        problem = "is disabled" if group.get("date_delete") else None
        shown = str(group.get("name") or handle)
        known.setdefault(handle.lower(), []).append(_Candidate(str(group.get("id")), shown, problem))
    return known


def _person_by_email(gateway: SlackGateway, email: str) -> NameFound | NameMissing:
    try:
        user = gateway.call("users.lookupByEmail", email=email).get("user") or {}
    except SlackCallFailed as exc:
        if exc.error == "users_not_found":
            return NameMissing(NameKind.user, email, f"no one in this workspace has the email {email}")
        if exc.error == "missing_scope":
            reason = "the token lacks the scope to look people up by email (users:read.email)"
            return NameMissing(NameKind.user, email, reason)
        return NameMissing(NameKind.user, email, _could_not_ask(NameKind.user, exc), exc.transient)
    if user.get("deleted"):
        return NameMissing(NameKind.user, email, f"{email} belongs to a deactivated account")
    profile = user.get("profile") or {}
    return NameFound(NameKind.user, email, str(user.get("id")), str(profile.get("real_name") or email))


def pages(gateway: SlackGateway, method: str, key: str, **params: str) -> Iterator[dict[str, Any]]:
    """Every item of a cursored Web API list (`conversations.list`, `users.list`, …), page by page."""
    cursor = ""
    while True:
        answer = gateway.call(method, limit=str(_PAGE), **params, **({"cursor": cursor} if cursor else {}))
        yield from (item for item in answer.get(key) or [] if isinstance(item, dict))
        cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            return


def _could_not_ask(kind: NameKind, exc: SlackCallFailed) -> str:
    if exc.transient:
        return f"Slack could not be asked ({exc.error})"
    if exc.error == "missing_scope":
        scope = {NameKind.channel: "channels:read and groups:read", NameKind.user: "users:read"}.get(
            kind, "usergroups:read"
        )
        return f"the token lacks the scope to look {kind.value}s up by name ({scope})"
    return f"Slack answered {exc.error}"
