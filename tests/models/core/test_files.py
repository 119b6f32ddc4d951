"""Tandem's own files are private: TANDEM_HOME 0700, the SQLite database, the key and uploads 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deployments.cli import app
from models.core.db import engine_for
from models.core.secrets import secret_key
from models.core.settings import get_settings
from models.portal.links import save_upload


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def default_home(tandem_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Use the default database (SQLite in TANDEM_HOME), under the usual umask."""
    monkeypatch.delenv("TANDEM_DATABASE_URL")
    get_settings.cache_clear()
    old = os.umask(0o022)
    yield get_settings().home
    os.umask(old)
    engine_for(get_settings().effective_database_url).dispose()


def test_home_database_key_and_uploads_are_owner_only(default_home: Path) -> None:
    assert not default_home.exists()
    result = CliRunner().invoke(app, ["partner", "list", "--json"])
    assert result.exit_code == 0, result.output
    secret_key()
    save_upload(b"%PDF-1.4", "a" * 32 + ".pdf")
    assert _mode(default_home) == 0o700 and _mode(default_home / "uploads") == 0o700
    database = default_home / "tandem.db"
    for path in (database, default_home / "secret.key", default_home / "uploads" / ("a" * 32 + ".pdf")):
        assert _mode(path) == 0o600, path
    for journal in default_home.glob("tandem.db-*"):  # SQLite's WAL files follow the database
        assert _mode(journal) & 0o077 == 0, journal
