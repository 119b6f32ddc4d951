"""Test set-up: a fresh database per test (SQLite, or a fresh PostgreSQL schema), Prefect once per session.

Set `TANDEM_DATABASE_URL=postgresql+psycopg://...` before pytest to run the suite on PostgreSQL.
"""

from __future__ import annotations

import os
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
from sqlalchemy import create_engine, text  # noqa: E402
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


def _schema_url(schema: str) -> str:
    # application_name tags every connection of the test, so teardown can end any it left open.
    sep = "&" if "?" in BASE_DATABASE_URL else "?"
    return f"{BASE_DATABASE_URL}{sep}application_name={schema}&options=-csearch_path%3D{schema}"


@pytest.fixture(autouse=True)
def tandem_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Give every test its own TANDEM_HOME and an empty database of its own."""
    home = tmp_path / "tandem-home"
    monkeypatch.setenv("TANDEM_HOME", str(home))
    schema = None
    if ON_POSTGRES:
        schema = f"t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
        admin = create_engine(BASE_DATABASE_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _schema_url(schema)
    else:
        url = f"sqlite:///{tmp_path / 'tandem.db'}"
    monkeypatch.setenv("TANDEM_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    engine_for(url).dispose()
    engine_for.cache_clear()
    get_settings.cache_clear()
    if schema is not None:
        with admin.connect() as conn:
            # A session a test forgot to close would hold its locks and block the DROP for ever.
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :app"),
                {"app": schema},
            )
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def schema(tandem_env: str) -> str:
    """Create the schema through the real migrations."""
    upgrade_schema()
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
