"""Test set-up: a fresh migrated database per test (SQLite file or PostgreSQL database), Prefect once.

Set `TANDEM_DATABASE_URL=postgresql+psycopg://...` before pytest to run the suite on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

# Prefect reads these at import: keep its home, logs and analytics inside the test run.
_PREFECT_HOME = tempfile.mkdtemp(prefix="tandem-prefect-")
os.environ.update(
    {
        "PREFECT_HOME": _PREFECT_HOME,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
    }
)
from tests.support.database import BASE_DATABASE_URL, ON_POSTGRES  # noqa: E402  (before the clean-up)

for _name in [n for n in os.environ if n.startswith("TANDEM_")]:
    os.environ.pop(_name)  # a developer's own settings must not leak into tests

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from sqlalchemy import create_engine, make_url, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from models.core.db import engine_for, get_engine, upgrade_schema  # noqa: E402
from models.core.settings import get_settings  # noqa: E402

pytest_plugins = ["tests.support.servers"]

# Property-based tests: a few dozen examples keep the suite fast (`default`, also in CI); run
# `HYPOTHESIS_PROFILE=thorough pytest ...` to search much longer before a release.
settings.register_profile(
    "default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

RUN_ID = uuid.uuid4().hex[:8]


def _database_url(name: str) -> str:
    """The URL of one test's own PostgreSQL database on the same server."""
    # application_name tags every connection of the test, so teardown can end any it left open.
    url = make_url(BASE_DATABASE_URL).set(database=name)
    return url.update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    """Run the real migrations on `url`, then let go of every connection to it."""
    os.environ["TANDEM_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        upgrade_schema()
    finally:
        engine_for(url).dispose()
        engine_for.cache_clear()
        get_settings.cache_clear()
        os.environ.pop("TANDEM_DATABASE_URL", None)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate one template database per worker, which each test then copies.

    The migrations run here for real, once: running them again for each test cost about 1 s a test
    on PostgreSQL (57 DDL statements) and 0.3 s on SQLite, most of the suite's database time.
    `test_db.py` and the first-use CLI test still migrate an empty database themselves.
    """
    if not ON_POSTGRES:
        path = tmp_path_factory.mktemp("template") / "tandem.db"
        _migrate(f"sqlite:///{path}")
        yield str(path)
        return
    name = f"tpl_{RUN_ID}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = create_engine(BASE_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _migrate(_database_url(name))
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(autouse=True)
def tandem_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Give every test its own TANDEM_HOME and a database of its own, migrated to the newest schema.

    Mark a test `empty_database` to start from a database with no tables at all.
    """
    empty = request.node.get_closest_marker("empty_database") is not None
    template = None if empty else request.getfixturevalue("migrated_template")
    home = tmp_path / "tandem-home"
    monkeypatch.setenv("TANDEM_HOME", str(home))
    name = None
    if ON_POSTGRES:
        name = f"t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
        admin = create_engine(BASE_DATABASE_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            source = f'TEMPLATE "{template}"' if template else "TEMPLATE template0"
            conn.execute(text(f'CREATE DATABASE "{name}" {source}'))
        url = _database_url(name)
    else:
        path = tmp_path / "tandem.db"
        if template:
            shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
    monkeypatch.setenv("TANDEM_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    if (home / "prefect-server.pid").exists():
        # A flow run outside the harness started Tandem's local Prefect server: it would outlive the test.
        from deployments.local_server import stop_server

        stop_server(home)
    engine_for(url).dispose()
    engine_for.cache_clear()
    get_settings.cache_clear()
    if name is not None:
        with admin.connect() as conn:
            # FORCE ends any connection a test left open (a server subprocess, a forgotten session).
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def schema(tandem_env: str) -> str:
    """The test's database, migrated to the newest schema (as every test's database is)."""
    return tandem_env


@pytest.fixture
def session(schema: str) -> Iterator[Session]:
    """Open a session on the upgraded test database (the test commits what it wants kept)."""
    with Session(get_engine(), expire_on_commit=False) as s:
        yield s


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """Start a real Prefect test server once per session (about 12 s)."""
    from prefect.settings import temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        # A heartbeat thread costs about 1 s per flow run; tests do not need it.
        with temporary_settings(updates={"flows.heartbeat_frequency": None}):
            yield
