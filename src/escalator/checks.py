"""The go-live check: is this deployment ready for agents? `escalator check` prints it; the app runs the
workspace and policy parts at start and logs what fails as warnings.

Each check is one line with a mark (✓ passed, ✗ failed, ! could not tell, ⚠ passed with a warning) and,
when it failed or warns, the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from escalator.domain.authority import amount_text, chain
from escalator.domain.rota import week_gaps
from escalator.metrics import DELIVERY_SILENT_AFTER
from escalator.policy import NameKind, Policy, is_slack_id
from escalator.slack.gateway import BotIdentity, SlackCallFailed, SlackGateway
from escalator.slack.names import Resolution, resolve_names
from escalator.slack.scopes import BOT_SCOPES
from escalator.store.database import Store
from escalator.store.processes import DeliveryProcessSeen

_MARKS = {True: "✓", False: "✗", None: "!"}
_REINSTALL = (
    "add them under OAuth & Permissions → Bot Token Scopes (or paste manifest.yml again), then reinstall "
    "the app to the workspace"
)
_CANNOT_REACH = "check SLACK_API_URL and that this machine can reach it, then run `escalator check` again"


@dataclass(frozen=True)
class Check:
    passed: bool | None  # None: could not tell
    subject: str
    detail: str
    fix: str | None = None
    warning: bool = False  # passed, but worth a look: it does not fail the check

    def lines(self) -> list[str]:
        mark = "⚠" if self.warning and self.passed else _MARKS[self.passed]
        lines = [f"{mark} {self.subject}: {self.detail}"]
        if self.fix and (not self.passed or self.warning):
            lines.append(f"    fix: {self.fix}")
        return lines


def failed(checks: Iterable[Check]) -> list[Check]:
    return [check for check in checks if check.passed is False]


def database_check(database_url: str) -> Check:
    where = make_url(database_url).render_as_string(hide_password=True)
    store = Store(database_url)
    try:
        current = store.schema_is_current()
    except SQLAlchemyError as exc:
        return Check(
            False,
            "database",
            f"{where} cannot be reached ({type(exc).__name__})",
            "check that the database is running and that DATABASE_URL is right",
        )
    finally:
        store.dispose()
    if not current:
        return Check(
            False,
            "database",
            f"{where} is reachable, but its schema is missing or out of date",
            "run `escalator migrate` (the app also migrates when it starts)",
        )
    return Check(True, "database", f"{where} is reachable and its schema is current")


def delivery_checks(database_url: str, now: datetime) -> list[Check]:
    """Is a delivery process running, and has any message been given up?"""
    store = Store(database_url)
    try:
        with store.reading() as tx:
            seen = tx.processes.seen()
            dead = tx.outbox.dead()
    except SQLAlchemyError:
        return []  # the database check says why
    finally:
        store.dispose()
    checks = [_delivering_check(seen, now)]
    if dead:
        oldest = dead[0]
        about = f" (the oldest: {oldest.kind}" + (
            f" of ESC-{oldest.escalation_id}" if oldest.escalation_id else ""
        )
        checks.append(
            Check(
                False,
                "outbox",
                f"{len(dead)} message(s) given up{about}, {oldest.error})",
                "see `escalator outbox list`; fix what Slack refused, then `escalator outbox retry --all`",
            )
        )
    else:
        checks.append(Check(True, "outbox", "no message given up"))
    return checks


def _delivering_check(seen: list[DeliveryProcessSeen], now: datetime) -> Check:
    alive = [p for p in seen if now - p.seen_at <= DELIVERY_SILENT_AFTER]
    if alive:
        names = ", ".join(p.name for p in alive)
        return Check(True, "delivery", f"{len(alive)} delivery process(es) running ({names})")
    fix = "start one: `escalator deliver` (python app.py runs one beside the web workers)"
    if not seen:
        return Check(None, "delivery", "no delivery process has run yet", fix)
    last = max(p.seen_at for p in seen)
    return Check(False, "delivery", f"no delivery process has run since {last:%Y-%m-%d %H:%M} UTC", fix)


def policy_checks(policy: Policy, now: datetime) -> list[Check]:
    """What the policy's validation lets through but an admin would want to know."""
    checks = [_clock_check(policy, now)]
    for priority, targets in sorted(policy.priorities.items()):
        order = [targets.acknowledge, targets.first_update, targets.resolve]
        if order != sorted(order):
            checks.append(
                Check(
                    False,
                    f"SLA targets priorities.{priority.value}",
                    "acknowledge, first_update and resolve are not in increasing order",
                    f"make priorities.{priority.value}.acknowledge ≤ first_update ≤ resolve",
                )
            )
    checks += _rota_checks(policy)
    if policy.business_hours is None:
        unused = [
            f"paths.{key}.after_hours_channel" for key, p in policy.paths.items() if p.after_hours_channel
        ]
        if unused:
            checks.append(
                Check(
                    False,
                    "business hours",
                    f"{', '.join(unused)} is never used: the policy has no business_hours",
                    "add business_hours, or remove the after-hours channel",
                )
            )
    return [*checks, *_authority_checks(policy), *_key_accounts_check(policy)]


def _authority_checks(policy: Policy) -> list[Check]:
    """The chain as the app reads it; a level that can only be asked on the card, in the supervisors'
    channel (a user group and nobody by name), is pointed out."""
    authority = policy.authority
    if not authority.levels:
        return []
    steps = [
        f"{level.name} {'up to ' + amount_text(level.limit) if level.limit is not None else 'any amount'}"
        for level in chain(authority)
    ]
    checks = [Check(True, "authority", ", then ".join(steps))]
    for n, level in enumerate(authority.levels):
        if not level.approvers:
            checks.append(
                Check(
                    None,
                    f"authority.levels.{n}",
                    f"{level.name} names only a user group: its members are asked on the card in the "
                    "supervisors' channel, nobody privately",
                )
            )
    return checks


def _key_accounts_check(policy: Policy) -> list[Check]:
    key_accounts = policy.key_accounts
    if key_accounts is None:
        return []
    tiers = ", ".join(f"{tier} at {t.priority.value} at least" for tier, t in key_accounts.tiers.items())
    return [Check(True, "key accounts", f"{key_accounts.count} ({tiers})")]


def _rota_checks(policy: Policy) -> list[Check]:
    """Each rota's gaps: hours of an ordinary week with nobody on duty. A team with an after-hours
    channel may mean to have them, so a gap warns and does not fail."""
    rotas = [(f"paths.{key}.rota", path.rota) for key, path in policy.paths.items()]
    checks = []
    for key, rota in [*rotas, ("supervisors.rota", policy.supervisors.rota)]:
        if rota is None:
            continue
        gaps = week_gaps(rota)
        if not gaps:
            checks.append(Check(True, key, "someone is on duty at every hour of the week"))
            continue
        checks.append(
            Check(
                True,
                key,
                f"nobody on duty {', '.join(gap.describe() for gap in gaps)}",
                f"if cases may come in then, add a shift or {key}.after_hours; otherwise nobody is "
                "nudged first then, and everyone on the path may still claim",
                warning=True,
            )
        )
    return checks


def _clock_check(policy: Policy, now: datetime) -> Check:
    local = now.astimezone(policy.zone)
    when = f"it is now {local:%a %H:%M} in {policy.timezone}"
    hours = policy.business_hours
    if hours is None:
        return Check(True, "timezone", f"{when}; no business hours: SLA clocks run around the clock")
    days = ", ".join(day.value for day in hours.days)
    inside = local.strftime("%a").lower() in [d.value for d in hours.days] and (
        hours.start <= local.time().replace(tzinfo=None) < hours.end
    )
    return Check(
        True,
        "timezone and business hours",
        f"{when}, {'inside' if inside else 'outside'} business hours ({days}, "
        f"{hours.start:%H:%M}–{hours.end:%H:%M}, {hours.length.total_seconds() / 3600:g} h a day)",
    )


def workspace_checks(
    gateway: SlackGateway, policy: Policy, identity: BotIdentity | None = None
) -> list[Check]:
    """Ask Slack whether the token, its scopes, and everything the policy names are usable. `identity`:
    auth.test's answer, when the caller has it already."""
    try:
        identity = identity or gateway.identity()
    except SlackCallFailed as exc:
        if exc.transient:
            return [Check(False, "slack token", f"Slack could not be reached ({exc.error})", _CANNOT_REACH)]
        return [
            Check(
                False,
                "slack token",
                f"Slack refused SLACK_BOT_TOKEN ({exc.error})",
                "copy the Bot User OAuth Token (xoxb-…) from your app's OAuth & Permissions page into "
                "SLACK_BOT_TOKEN; reinstall the app if it was revoked",
            )
        ]
    checks = [Check(True, "slack token", f"signed in as bot user {identity.user_id} in {identity.team}")]
    if identity.scopes is None:
        checks.append(
            Check(None, "slack scopes", "Slack did not list the token's scopes; compare with manifest.yml")
        )
    else:
        needed = needed_scopes(policy)
        missing = [scope for scope in needed if scope not in identity.scopes]
        if missing:
            named = "; ".join(f"{scope} ({BOT_SCOPES[scope]})" for scope in missing)
            checks.append(Check(False, "slack scopes", f"missing {named}", _REINSTALL))
        else:
            checks.append(Check(True, "slack scopes", f"all {len(needed)} scopes the app uses are granted"))
    names = policy.names()
    if names:
        resolution = resolve_names(gateway, names)
        checks += [_name_check(key, keys, resolution) for key, keys in names.items()]
        policy = policy.with_ids(resolution.ids)
    checks += [
        _channel_check(gateway, channel, keys)
        for channel, keys in policy.channels_named().items()
        if is_slack_id(NameKind.channel, channel)
    ]
    checks += [
        _user_check(gateway, user, keys)
        for user, keys in policy.users_named().items()
        if is_slack_id(NameKind.user, user)
    ]
    groups = {g: keys for g, keys in policy.usergroups_named().items() if is_slack_id(NameKind.usergroup, g)}
    if groups:
        checks += _usergroup_checks(gateway, groups)
    return checks


def needed_scopes(policy: Policy) -> list[str]:
    """The manifest's scopes this policy uses: finding people by email only when it names one, so an
    install made before that scope was added keeps passing."""
    by_email = any(kind is NameKind.user and "@" in name[1:] for kind, name in policy.names())
    return [scope for scope in BOT_SCOPES if scope != "users:read.email" or by_email]


def _name_check(key: tuple[NameKind, str], keys: list[str], resolution: Resolution) -> Check:
    subject = ", ".join(keys)
    found = resolution.found.get(key)
    if found is not None:
        shown = "" if found.shown == found.slack_id or found.shown == found.name else f" ({found.shown})"
        return Check(True, subject, f"{found.name} is {found.slack_id}{shown}")
    missing = resolution.missing[key]
    if missing.transient:
        return Check(False, subject, f"{key[1]}: {missing.reason}", _CANNOT_REACH)
    if "scope" in missing.reason:
        return Check(False, subject, missing.reason, _REINSTALL)
    return Check(False, subject, missing.reason, f"correct {subject} in the policy, or write the ID there")


def _channel_check(gateway: SlackGateway, channel_id: str, keys: list[str]) -> Check:
    subject = f"channel {channel_id} ({', '.join(keys)})"
    try:
        channel = gateway.call("conversations.info", channel=channel_id).get("channel") or {}
    except SlackCallFailed as exc:
        return _refused(subject, exc, _channel_fix(exc.error, keys))
    name = f"#{channel['name']}" if channel.get("name") else channel_id
    if channel.get("is_archived"):
        return Check(
            False,
            subject,
            f"{name} is archived",
            f"unarchive {name}, or set {' and '.join(keys)} to a channel in use",
        )
    if not channel.get("is_member"):
        return Check(
            False, subject, f"the bot is not a member of {name}", f"type `/invite @Escalator` in {name}"
        )
    return Check(True, subject, f"{name} exists and the bot is a member")


def _channel_fix(error: str, keys: list[str]) -> str:
    if error == "channel_not_found":
        return (
            f"check {' and '.join(keys)} (in Slack: channel details → About → Channel ID); if the channel is "
            "private, type `/invite @Escalator` in it first: the bot cannot see private channels it is not in"
        )
    return f"Slack answered {error}"


def _user_check(gateway: SlackGateway, user_id: str, keys: list[str]) -> Check:
    subject = f"user {user_id} ({', '.join(keys)})"
    try:
        user = gateway.call("users.info", user=user_id).get("user") or {}
    except SlackCallFailed as exc:
        fix = (
            f"check {' and '.join(keys)} (in Slack: the person's profile → ⋮ → Copy member ID)"
            if exc.error == "user_not_found"
            else f"Slack answered {exc.error}"
        )
        return _refused(subject, exc, fix)
    if user.get("deleted"):
        return Check(
            False, subject, "this account is deactivated", f"remove {user_id} from {' and '.join(keys)}"
        )
    return Check(True, subject, "exists")


def _usergroup_checks(gateway: SlackGateway, groups: dict[str, list[str]]) -> list[Check]:
    try:
        listed = gateway.call("usergroups.list", include_disabled="true").get("usergroups") or []
    except SlackCallFailed as exc:
        return [
            _refused(f"user group {group} ({', '.join(keys)})", exc, f"Slack answered {exc.error}")
            for group, keys in groups.items()
        ]
    known = {str(g.get("id")): g for g in listed if isinstance(g, dict)}
    checks = []
    for group, keys in groups.items():
        subject = f"user group {group} ({', '.join(keys)})"
        found = known.get(group)
        if found is None:
            checks.append(
                Check(
                    False,
                    subject,
                    "no such user group in this workspace",
                    f"check {' and '.join(keys)} (in Slack: People → User groups → the group → its ID)",
                )
            )
        elif found.get("date_delete"):
            checks.append(
                Check(False, subject, f"@{found.get('handle')} is disabled", "enable the group again")
            )
        else:
            checks.append(Check(True, subject, f"@{found.get('handle')} exists"))
    return checks


def _refused(subject: str, exc: SlackCallFailed, fix: str) -> Check:
    if exc.transient:
        return Check(False, subject, f"could not ask Slack ({exc.error})", _CANNOT_REACH)
    if exc.error == "missing_scope":
        return Check(False, subject, "the token lacks the scope to look this up", _REINSTALL)
    return Check(False, subject, exc.error.replace("_", " "), fix)
