"""The `escalator` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalator.cli import main
from escalator.store.database import Store


def test_migrate_creates_the_schema(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["migrate"]) == 0
    assert "database schema is current" in capsys.readouterr().out
    assert Store(database_url).schema_is_current()


def test_migrate_names_a_bad_database_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "mysql://db/escalator")
    with pytest.raises(SystemExit) as exited:
        main(["migrate"])
    assert exited.value.code == 2
    assert "DATABASE_URL is invalid" in capsys.readouterr().err


def test_a_command_on_a_database_never_migrated_says_what_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(SystemExit) as exited:
        main(["history", "ESC-1"])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert "run `escalator migrate`" in error and "Traceback" not in error
