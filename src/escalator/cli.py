"""The `escalator` command, for admins: `escalator migrate`."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from escalator.errors import ConfigurationError
from escalator.settings import DatabaseSettings, load_settings
from escalator.store.database import Store
from escalator.wiring import exit_with_configuration_error


def migrate(_: argparse.Namespace) -> int:
    """Create or upgrade the database schema (the app also does this when it starts)."""
    try:
        settings = load_settings(DatabaseSettings)
    except ConfigurationError as exc:
        exit_with_configuration_error(exc)
    store = Store(settings.DATABASE_URL)
    try:
        store.migrate()
    except SQLAlchemyError as exc:
        print(
            f"escalator: could not migrate the database: {type(exc).__name__}: {exc.orig or exc}",
            file=sys.stderr,
        )
        return 1
    finally:
        store.dispose()
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
