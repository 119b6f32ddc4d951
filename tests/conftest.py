"""Test set-up: an empty migrated database per test (a copied SQLite file, an emptied PostgreSQL one).

Set `TANDEM_DATABASE_URL=postgresql+psycopg://...` before pytest to run the suite on PostgreSQL.
"""

from __future__ import annotations

import functools
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
from sqlalchemy import Engine, NullPool, create_engine, make_url, text  # noqa: E402
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
    """Migrate one database per worker, which each test then copies (SQLite) or resets (PostgreSQL).

    The migrations run here for real, once: running them again for each test cost about 1 s a test
    on PostgreSQL (57 DDL statements) and 0.3 s on SQLite, most of the suite's database time.
    `test_db.py` and the first-use CLI test still migrate an empty database themselves.
    """
    if not ON_POSTGRES:
        path = tmp_path_factory.mktemp("template") / "tandem.db"
        _migrate(f"sqlite:///{path}")
        yield str(path)
        return
    name = f"w_{RUN_ID}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _migrate(_database_url(name))
        yield name
    finally:
        _RESETTERS.pop(name, None)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@functools.cache
def _admin() -> Engine:
    """One connection pool to the server's maintenance database for the whole worker."""
    return create_engine(BASE_DATABASE_URL, isolation_level="AUTOCOMMIT")


_RESET_APP = "tandem-test-reset"
_RESETTERS: dict[str, tuple[Engine, str]] = {}


def _reset(name: str) -> None:
    """Empty the worker's migrated PostgreSQL database for the next test, as if it were new.

    A fresh copy per test (`CREATE DATABASE ... TEMPLATE`) cost 0.16 s a test, most of the PostgreSQL
    run's time; emptying every table and restarting every sequence costs about 2 ms. Connections a
    test left open (a server subprocess, a background flow thread) are ended first, so none holds a
    lock or writes into the next test.
    """
    if name not in _RESETTERS:
        url = make_url(_database_url(name)).update_query_dict({"application_name": _RESET_APP})
        engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with engine.connect() as conn:
            tables = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            deletes = "".join(f'DELETE FROM "{t}";' for t in tables if t != "alembic_version")
            sequences = conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
            ).scalars()
            restarts = "".join(f"SELECT setval('\"{q}\"', 1, false);" for q in sequences)
        # Replica mode skips foreign-key triggers, so the tables can be emptied in any order.
        _RESETTERS[name] = (engine, f"SET session_replication_role = replica;{deletes}{restarts}")
    engine, sql = _RESETTERS[name]
    with _admin().connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid() AND application_name <> :reset"
            ),
            {"db": name, "reset": _RESET_APP},
        )
    with engine.connect() as conn:
        conn.exec_driver_sql(sql)


@pytest.fixture(autouse=True)
def tandem_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Give every test its own TANDEM_HOME and an empty database, migrated to the newest schema.

    Mark a test `empty_database` to start from a database with no tables at all.
    """
    empty = request.node.get_closest_marker("empty_database") is not None
    template = None if empty else request.getfixturevalue("migrated_template")
    home = tmp_path / "tandem-home"
    monkeypatch.setenv("TANDEM_HOME", str(home))
    # No warm runner for `tandem` subprocesses of a test (tests/integration starts its own): one would
    # load everything in the background and outlive the test.
    monkeypatch.setenv("TANDEM_NO_RUNNER", "1")
    fresh = None  # a PostgreSQL database made for this test alone, dropped after it
    if ON_POSTGRES and template:
        _reset(template)
        url = _database_url(template)
    elif ON_POSTGRES:
        fresh = f"t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
        with _admin().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{fresh}" TEMPLATE template0'))
        url = _database_url(fresh)
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
    if fresh is not None:
        with _admin().connect() as conn:
            # FORCE ends any connection a test left open (a server subprocess, a forgotten session).
            conn.execute(text(f'DROP DATABASE "{fresh}" WITH (FORCE)'))


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
