"""The `escalator` command, for admins: `escalator migrate`, `escalator history ESC-42`."""

from __future__ import annotations

import argparse
import sys

from escalator.domain.escalation import Escalation, parse_reference
from escalator.domain.history import HistoryEntry
from escalator.errors import ConfigurationError
from escalator.settings import DatabaseSettings, load_settings
from escalator.store.database import Store
from escalator.wiring import exit_with_configuration_error, migrate_or_exit


def migrate(_: argparse.Namespace) -> int:
    """Create or upgrade the database schema (the app also does this when it starts)."""
    try:
        settings = load_settings(DatabaseSettings)
    except ConfigurationError as exc:
        exit_with_configuration_error(exc)
    migrate_or_exit(settings.DATABASE_URL)
    print("database schema is current")
    return 0


def history(args: argparse.Namespace) -> int:
    """Print an escalation's audit trail: every transition, who, when, from → to, and the note."""
    escalation_id = parse_reference(args.reference)
    if escalation_id is None:
        print(f"escalator: {args.reference!r} is not a reference such as ESC-42", file=sys.stderr)
        return 2
    try:
        settings = load_settings(DatabaseSettings)
    except ConfigurationError as exc:
        exit_with_configuration_error(exc)
    store = Store(settings.DATABASE_URL)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="escalator", description="Escalator's admin commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help=migrate.__doc__).set_defaults(run=migrate)
    show = commands.add_parser("history", help=history.__doc__)
    show.add_argument("reference", help="the escalation, such as ESC-42")
    show.set_defaults(run=history)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
