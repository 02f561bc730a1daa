"""The `escalator` command, for admins, supervisors and deployments.

The processes: `web` (Slack's requests), `deliver` (timers and everything sent to Slack).
The admin's: `migrate [--sql]`, `check`, `backup PATH`, `history ESC-42`, `digest [--date] [--dry-run]`,
`report --week [--weeks-ago N] [--csv PATH] [--post]`,
`export --since … [--until …] [--format]`, `contacts --date … --count …`, `forget --account …`,
`outbox list|retry|drop`. Each reads only the environment it needs.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from time import monotonic, sleep
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from escalator.checks import Check, database_check, delivery_checks, failed, policy_checks, workspace_checks
from escalator.clock import SystemClock
from escalator.domain.escalation import Escalation, parse_reference
from escalator.domain.history import HistoryEntry
from escalator.domain.messages import recipient
from escalator.errors import ConfigurationError
from escalator.init import InitStopped, console, run_init
from escalator.logs import remember_secrets
from escalator.metrics import share_between_processes
from escalator.policy import Policy, load_policy
from escalator.server import serve_http, serve_socket_mode
from escalator.services.digest import Digests, record_contacts, yesterday
from escalator.services.export import FIELDS, export_rows
from escalator.services.privacy import forget_account
from escalator.services.weekly_report import WeeklyReports, last_full_week, report_csv
from escalator.settings import DatabaseSettings, PolicySettings, Settings, SettingsT, load_settings
from escalator.slack.bolt_app import build_gateway, build_runtime
from escalator.slack.rendering.digest import digest_as_text, render_digest
from escalator.slack.rendering.weekly_report import render_weekly_report
from escalator.store.backup import backup_sqlite, sqlite_file
from escalator.store.database import Store
from escalator.store.repositories import DEAD, DELIVERED, PENDING, DeadMessage
from escalator.wiring import (
    build_engine,
    build_worker,
    configure_logging,
    exit_with_configuration_error,
    load_configuration,
    migrate_or_exit,
    prepare_start,
    resolve_policy,
    run_deliverer,
    web_worker_factory,
)


def web(args: argparse.Namespace) -> int:
    """Serve Slack's requests (HTTP mode's web workers, or the Socket Mode connection); deliver nothing."""
    settings, policy = load_configuration()
    if not args.prepared:
        if not settings.socket_mode:
            share_between_processes()  # before the first figure is counted, and before gunicorn forks
        policy = prepare_start(settings, policy)
    else:
        policy = resolve_policy(settings, policy, None)  # the IDs prepare_start found
    if settings.socket_mode:
        serve_socket_mode(settings, build_worker(settings, policy, delivers=False))
    else:
        serve_http(settings, web_worker_factory(settings, policy), args.listen_fd)
    return 0


def deliver(args: argparse.Namespace) -> int:
    """Run a delivery process: the timers, the digest, the purge, and every message sent to Slack."""
    settings, policy = load_configuration()
    if not args.prepared:
        migrate_or_exit(settings.DATABASE_URL)
    policy = resolve_policy(settings, policy, None if args.prepared else build_gateway(settings))
    run_deliverer(settings, policy, args.port)
    return 0


def outbox(args: argparse.Namespace) -> int:
    """The messages Slack refused for good or that ran out of tries: list them, retry them, drop them."""
    settings = _settings(DatabaseSettings)
    store = _open_store(settings.DATABASE_URL)
    try:
        if args.action == "list":
            with store.reading() as tx:
                listed = tx.outbox.dead(waiting=args.waiting)
            print(format_outbox(listed, waiting=args.waiting))
            return 0
        ids = None if args.all else args.ids
        if not args.all and not ids:
            print(f"escalator: name the messages to {args.action} (their ids), or --all", file=sys.stderr)
            return 2
        with store.transaction() as tx:
            if args.action == "retry":
                done = tx.outbox.revive(ids)
            else:
                done = tx.outbox.drop(ids, SystemClock().now())
    finally:
        store.dispose()
    missing = sorted(set(ids or []) - set(done))
    verb = "queued again" if args.action == "retry" else "dropped"
    print(f"{verb}: {', '.join(map(str, done))}" if done else f"nothing {verb}")
    if missing:
        print(f"escalator: not dead, or no such message: {', '.join(map(str, missing))}", file=sys.stderr)
        return 1
    if done and args.action == "retry":
        print("a running delivery process sends them within seconds")
    return 0


def format_outbox(messages: list[DeadMessage], *, waiting: bool) -> str:
    if not messages:
        return "no messages waiting" if waiting else "no dead messages"
    lines = [f"{'id':>7}  {'queued (UTC)':<19}  {'case':<8}  {'kind':<26}  {'to':<12}  {'tries':>5}  why"]
    for m in messages:
        case = f"ESC-{m.escalation_id}" if m.escalation_id else "-"
        to = recipient(m.pace_key) or "-"
        lines.append(
            f"{m.id:>7}  {m.created_at:%Y-%m-%d %H:%M:%S}  {case:<8}  {m.kind:<26}  {to:<12}  "
            f"{m.attempts:>5}  {m.error or ''}"
        )
    return "\n".join(lines)


def migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the database schema (the app also does this when it starts); --sql prints it."""
    settings = _settings(DatabaseSettings)
    if args.sql:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # only the SQL, and where it starts from
        store = Store(settings.DATABASE_URL)
        try:
            current, sql = store.upgrade_sql()
        finally:
            store.dispose()
        if current is None:
            print(
                "-- from an empty database (or one that could not be reached): the whole schema",
                file=sys.stderr,
            )
        else:
            print(f"-- from revision {current}", file=sys.stderr)
        print(sql, end="")
        return 0
    migrate_or_exit(settings.DATABASE_URL)
    print("database schema is current")
    return 0


def backup(args: argparse.Namespace) -> int:
    """Copy the SQLite database to PATH while the app keeps running (SQLite's online backup)."""
    settings = _settings(DatabaseSettings)
    try:
        source = sqlite_file(settings.DATABASE_URL)
    except ConfigurationError as exc:
        print(f"escalator: {exc}", file=sys.stderr)
        return 2
    target = Path(args.path)
    if target.is_dir():
        target = target / f"escalator-{datetime.now(UTC):%Y%m%d-%H%M%S}.db"
    if target.resolve() == source.resolve():
        print("escalator: PATH is the database itself: name another file", file=sys.stderr)
        return 2
    try:
        pages = backup_sqlite(source, target)
    except (OSError, sqlite3.Error) as exc:
        print(f"escalator: the backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {source} to {target} ({pages} pages, {target.stat().st_size} bytes)")
    return 0


def history(args: argparse.Namespace) -> int:
    """Print an escalation's audit trail: every transition, who, when, from → to, and the note."""
    escalation_id = parse_reference(args.reference)
    if escalation_id is None:
        print(f"escalator: {args.reference!r} is not a reference such as ESC-42", file=sys.stderr)
        return 2
    settings = _settings(DatabaseSettings)
    store = _open_store(settings.DATABASE_URL)
    try:
        with store.transaction() as tx:
            escalation = tx.escalations.get(escalation_id)
            entries = tx.history.of(escalation_id)
    finally:
        store.dispose()
    if escalation is None:
        print(f"escalator: there is no {args.reference.upper()}", file=sys.stderr)
        return 1
    print(format_history(escalation, entries))
    return 0


def format_history(escalation: Escalation, entries: list[HistoryEntry]) -> str:
    owner = f", owner {escalation.owner_user_id}" if escalation.owner_user_id else ""
    lines = [
        f"{escalation.reference} · {escalation.path_key} · {escalation.priority.value} · "
        f"{escalation.escalation_type.value} · {escalation.state.value}{owner}"
    ]
    for entry in entries:
        states = f"{entry.from_state} → {entry.to_state}" if entry.from_state else f"→ {entry.to_state}"
        target = f" → {entry.target}" if entry.target else ""
        what = entry.action + target
        lines.append(f"{entry.at:%Y-%m-%d %H:%M:%S} UTC  {entry.actor_user_id:<12} {what:<28} {states}")
        if entry.note:
            lines.extend(f"    {line}" for line in entry.note.splitlines())
    return "\n".join(lines)


def digest(args: argparse.Namespace) -> int:
    """Build the daily digest now (for yesterday by default): post it, or print it with --dry-run."""
    try:
        settings = load_settings(PolicySettings if args.dry_run else Settings)
        policy = load_policy(settings.ESCALATOR_POLICY)
    except ConfigurationError as exc:
        exit_with_configuration_error(exc)
    if policy.digest is None and not args.dry_run:
        print("escalator: the policy has no digest: add digest.channel (and digest.at)", file=sys.stderr)
        return 2
    if isinstance(settings, Settings):
        policy = resolve_policy(settings, policy, build_gateway(settings))
    store = _open_store(settings.DATABASE_URL)
    clock = SystemClock()
    day = args.date or yesterday(clock.now(), policy)
    try:
        if args.dry_run:
            print(digest_as_text(render_digest(Digests(store, policy, clock).build(day), policy)))
            return 0
        assert isinstance(settings, Settings) and policy.digest is not None
        return _post_digest(settings, policy, store, day)
    finally:
        store.dispose()


def _post_digest(settings: Settings, policy: Policy, store: Store, day: date) -> int:
    """The way the scheduled digest goes, chart and all."""
    assert policy.digest is not None
    post, chart = _send_now(settings, policy, store, lambda: Digests(store, policy, SystemClock()).queue(day))
    if post.status == DELIVERED:
        with_chart = " with its chart" if chart.status == DELIVERED else " (its chart follows)"
        print(f"posted the digest for {day} to {policy.digest.channel}{with_chart}")
        return 0
    return _not_taken("the digest", post)


def _send_now(
    settings: Settings, policy: Policy, store: Store, queue: Callable[[], list[int]]
) -> list[DeadMessage]:
    """Queue messages the way the scheduler does, then deliver them here at once. A running delivery
    process may take them first (the commit wakes it): then this waits for their outcome."""
    engine = build_engine(settings, policy, build_runtime(settings, policy, store, SystemClock()))
    ids = queue()
    engine.deliver(ids)
    deadline = monotonic() + 2 * settings.SLACK_API_TIMEOUT
    while True:
        with store.reading() as tx:
            messages = [tx.outbox.get(message_id) for message_id in ids]
        assert all(messages)
        if all(m.status != PENDING for m in messages if m) or monotonic() > deadline:
            return [m for m in messages if m]
        sleep(0.2)


def _not_taken(what: str, message: DeadMessage) -> int:
    if message.status == DEAD:
        print(f"escalator: Slack did not take {what}: {message.error}", file=sys.stderr)
    else:
        why = message.error or "its turn has not come"
        print(
            f"escalator: Slack did not take {what} yet ({why}); it stays queued, and a running "
            "delivery process (`escalator deliver`) posts it",
            file=sys.stderr,
        )
    return 1


def report(args: argparse.Namespace) -> int:
    """The weekly report of the last full week (Monday to Sunday): print it, write its CSV, or --post it."""
    try:
        settings = load_settings(Settings if args.post else PolicySettings)
        policy = load_policy(settings.ESCALATOR_POLICY)
    except ConfigurationError as exc:
        exit_with_configuration_error(exc)
    if isinstance(settings, Settings):
        policy = resolve_policy(settings, policy, build_gateway(settings))
    store = _open_store(settings.DATABASE_URL)
    clock = SystemClock()
    week = last_full_week(clock.now(), policy, args.weeks_ago)
    reports = WeeklyReports(store, policy, clock)
    try:
        built = reports.build(week)
        if args.csv is not None:
            args.csv.write_bytes(report_csv(built, with_agents=True))
        if not args.post:
            print(digest_as_text(render_weekly_report(built, policy, with_agents=True)))
            return 0
        assert isinstance(settings, Settings)
        sent = _send_now(settings, policy, store, lambda: reports.queue(week))
        posts = sent[::2]  # each report, then its CSV
        for post in posts:
            if post.status != DELIVERED:
                return _not_taken("the weekly report", post)
        print(f"posted the weekly report for the week of {week} to {len(posts)} audiences, each with its CSV")
        return 0
    finally:
        store.dispose()


def export(args: argparse.Namespace) -> int:
    """Write every escalation raised in a period, with its fields, timings and outcome (CSV or JSON lines)."""
    settings = _settings(DatabaseSettings)
    since = datetime.combine(args.since, time(0), tzinfo=UTC)
    until = datetime.combine(args.until, time(0), tzinfo=UTC) if args.until else datetime.now(UTC)
    store = _open_store(settings.DATABASE_URL)
    try:
        rows = export_rows(store, since, until)
        if args.format == "csv":
            writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()})
        else:
            for row in rows:
                print(json.dumps(row, default=_json_value, ensure_ascii=False))
    finally:
        store.dispose()
    return 0


def contacts(args: argparse.Namespace) -> int:
    """Record how many contacts the team handled on a day, for the escalation rate and FCR."""
    if args.count < 0:
        print("escalator: --count is zero or more", file=sys.stderr)
        return 2
    settings = _settings(DatabaseSettings)
    store = _open_store(settings.DATABASE_URL)
    try:
        record_contacts(store, SystemClock(), args.date, args.count)
    finally:
        store.dispose()
    print(f"recorded {args.count} contacts on {args.date}")
    return 0


def forget(args: argparse.Namespace) -> int:
    """Erase one customer's personal details from every escalation and every Slack message about it."""
    account = args.account.strip()
    if not account:
        print("escalator: --account is the customer's account number", file=sys.stderr)
        return 2
    settings = _settings(DatabaseSettings)
    store = _open_store(settings.DATABASE_URL)
    try:
        erased = forget_account(store, SystemClock(), account)
    finally:
        store.dispose()
    if not erased.references:
        print(f"no escalation holds account {account} (any there were are erased already)")
        return 0
    print(
        f"erased the customer's personal details from {', '.join(erased.references)}; the running app "
        f"overwrites {len(erased.outbox_ids)} Slack message(s) about them within a few seconds"
    )
    return 0


def demo(args: argparse.Namespace) -> int:
    """Try Escalator without Slack: the real app plays a whole escalation against a built-in stand-in."""
    from escalator.demo import run_demo  # only the demo needs the stand-in

    return run_demo(args.dir, step_by_step=args.step, keep=args.keep)


def init(args: argparse.Namespace) -> int:
    """Set up in the terminal: asks for the bot token and the channels and people of each path, and
    writes a commented policy.yml with names (and the secrets into .env, and the database)."""
    try:
        return run_init(console(), force=args.force)
    except InitStopped as exc:
        print(f"\nescalator: init stopped, nothing more written: {exc}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        exit_with_configuration_error(exc)


def check(_: argparse.Namespace) -> int:
    """Check a deployment before go-live: environment, policy, database, and the live Slack workspace."""
    results: list[Check] = []
    settings: Settings | None = None
    try:
        settings = load_settings(Settings)
        remember_secrets(settings)
        mode = "Socket Mode" if settings.socket_mode else f"HTTP mode on port {settings.PORT}"
        results.append(Check(True, "environment", f"complete ({mode})"))
    except ConfigurationError as exc:
        results += [Check(False, "environment", line) for line in str(exc).splitlines()]
    policy_path = settings.ESCALATOR_POLICY if settings else _lenient(PolicySettings)
    database_url = settings.DATABASE_URL if settings else _lenient(DatabaseSettings)
    policy: Policy | None = None
    if policy_path is not None:
        try:
            policy = load_policy(policy_path)
            results.append(Check(True, "policy", f"{policy_path} is valid ({len(policy.paths)} paths)"))
        except ConfigurationError as exc:
            results += [
                Check(False, "policy", line, f"edit {policy_path}, or point ESCALATOR_POLICY at your policy")
                for line in str(exc).splitlines()
            ]
    if database_url is not None:
        results.append(database_check(database_url))
        if results[-1].passed:
            results += delivery_checks(database_url, SystemClock().now())
    if policy is not None:
        results += policy_checks(policy, SystemClock().now())
    if settings is not None and policy is not None:
        results += workspace_checks(build_gateway(settings), policy)
    else:
        results.append(
            Check(None, "slack workspace", "not checked: fix the environment and the policy first")
        )
    for result in results:
        print("\n".join(result.lines()))
    problems = len(failed(results))
    warnings = sum(1 for result in results if result.warning)
    warned = f" ({warnings} with a warning)" if warnings else ""
    print(
        f"\n{len(results)} checks, {problems} failed{warned}"
        if problems
        else f"\nall {len(results)} checks passed{warned}"
    )
    return 1 if problems else 0


def _lenient(kind: type[PolicySettings] | type[DatabaseSettings]) -> Any:
    """The policy path or database URL from a partial environment, for checking what can be checked."""
    try:
        settings = load_settings(kind)
    except ConfigurationError:
        return None
    return settings.ESCALATOR_POLICY if isinstance(settings, PolicySettings) else settings.DATABASE_URL


def _open_store(database_url: str) -> Store:
    """The database, or exit 1 saying what to do: it cannot be reached, or its schema is behind."""
    store = Store(database_url)
    try:
        current = store.schema_is_current()
    except SQLAlchemyError as exc:
        store.dispose()
        print(
            f"escalator: cannot open the database at DATABASE_URL ({type(exc).__name__}); "
            "check that the database is running and that the URL is right",
            file=sys.stderr,
        )
        sys.exit(1)
    if not current:
        store.dispose()
        print(
            "escalator: the database schema is missing or out of date: run `escalator migrate` "
            "(the app also does this when it starts)",
            file=sys.stderr,
        )
        sys.exit(1)
    return store


def _settings(kind: type[SettingsT]) -> SettingsT:
    """The environment a command needs, or exit 2 naming what is missing."""
    try:
        settings = load_settings(kind)
    except ConfigurationError as exc:
        exit_with_configuration_error(exc)
    remember_secrets(settings)
    return settings


def _json_value(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-11-26") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="escalator", description="Escalator's admin commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("migrate", help=migrate.__doc__)
    upgrade.add_argument(
        "--sql", action="store_true", help="print the SQL it would run, for review, and change nothing"
    )
    upgrade.set_defaults(run=migrate)
    copy = commands.add_parser("backup", help=backup.__doc__)
    copy.add_argument("path", help="the file to write (or a folder: a dated file in it)")
    copy.set_defaults(run=backup)
    commands.add_parser("check", help=check.__doc__).set_defaults(run=check)
    setup = commands.add_parser("init", help=init.__doc__)
    setup.add_argument("--force", action="store_true", help="replace ESCALATOR_POLICY's file without asking")
    setup.set_defaults(run=init)
    trying = commands.add_parser("demo", help=demo.__doc__)
    trying.add_argument("--step", action="store_true", help="wait for Enter before each step")
    trying.add_argument(
        "--keep",
        action="store_true",
        help="leave the app and the stand-in running afterwards, to look around",
    )
    trying.add_argument(
        "--dir", type=Path, help="write the database and transcript here (default: a new temporary folder)"
    )
    trying.set_defaults(run=demo)
    show = commands.add_parser("history", help=history.__doc__)
    show.add_argument("reference", help="the escalation, such as ESC-42")
    show.set_defaults(run=history)
    build = commands.add_parser("digest", help=digest.__doc__)
    build.add_argument("--date", type=_day, help="the day it covers, YYYY-MM-DD (default: yesterday)")
    build.add_argument("--dry-run", action="store_true", help="print the digest instead of posting it")
    build.set_defaults(run=digest)
    weekly = commands.add_parser("report", help=report.__doc__)
    weekly.add_argument(
        "--week", action="store_true", required=True, help="the weekly report (the only report there is yet)"
    )
    weekly.add_argument("--weeks-ago", type=int, default=0, help="a week this many weeks before the last one")
    weekly.add_argument(
        "--csv", type=Path, help="also write its CSV (topics and per-agent rows) to this file"
    )
    weekly.add_argument("--post", action="store_true", help="send it as the scheduled one is sent")
    weekly.set_defaults(run=report)
    out = commands.add_parser("export", help=export.__doc__)
    out.add_argument("--since", type=_day, required=True, help="first day, YYYY-MM-DD (UTC)")
    out.add_argument("--until", type=_day, help="the day after the last, YYYY-MM-DD (default: now)")
    out.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    out.set_defaults(run=export)
    volume = commands.add_parser("contacts", help=contacts.__doc__)
    volume.add_argument("--date", type=_day, required=True, help="the day, YYYY-MM-DD")
    volume.add_argument("--count", type=int, required=True, help="contacts handled that day")
    volume.set_defaults(run=contacts)
    erase = commands.add_parser("forget", help=forget.__doc__)
    erase.add_argument("--account", required=True, help="the customer's account number, as typed in the form")
    erase.set_defaults(run=forget)
    serving = commands.add_parser("web", help=web.__doc__)
    serving.add_argument("--prepared", action="store_true", help=_PREPARED)
    serving.add_argument("--listen-fd", type=int, help="serve on this listening socket instead of PORT")
    serving.set_defaults(run=web)
    delivering = commands.add_parser("deliver", help=deliver.__doc__)
    delivering.add_argument("--prepared", action="store_true", help=_PREPARED)
    delivering.add_argument("--port", type=int, help="serve /healthz and /metrics on this port")
    delivering.set_defaults(run=deliver)
    messages = commands.add_parser("outbox", help=outbox.__doc__)
    messages.add_argument("action", choices=("list", "retry", "drop"))
    messages.add_argument("ids", nargs="*", type=int, help="message ids (as `list` shows them)")
    messages.add_argument("--all", action="store_true", help="every dead message")
    messages.add_argument("--waiting", action="store_true", help="list the messages still waiting instead")
    messages.set_defaults(run=outbox)
    return parser


_PREPARED = "the start-up checks and migrations were done already (python app.py does them once)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
