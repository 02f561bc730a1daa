"""The `escalator` command, for admins: `escalator migrate`."""

from __future__ import annotations

import argparse
import sys

from escalator.errors import ConfigurationError
from escalator.settings import DatabaseSettings, load_settings
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="escalator", description="Escalator's admin commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help=migrate.__doc__).set_defaults(run=migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
