"""Schema: migrations create exactly the tables the code declares, and upgrading twice is safe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from models.core.db import current_revision, get_engine, head_revision, upgrade_schema
from models.tables import metadata


@pytest.mark.empty_database
def test_upgrade_creates_schema_and_is_safe_twice(tandem_env: str) -> None:
    assert current_revision() is None
    before, after = upgrade_schema()
    assert (before, after) == (None, head_revision())
    assert upgrade_schema() == (head_revision(), head_revision())


def test_migrations_match_the_table_definitions(schema: str) -> None:
    with get_engine().connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], (
        "models changed without a migration: python -m models.migrations.regenerate"
    )


def test_the_run_uses_the_database_ci_asked_for(tandem_env: str) -> None:
    import os

    import pytest

    from models.core.db import get_engine

    expected = os.environ.get("PYTEST_EXPECT_DIALECT")
    if not expected:
        pytest.skip("CI sets PYTEST_EXPECT_DIALECT to check each run's database")
    assert get_engine().dialect.name == expected


def test_json_columns_keep_chinese_readable(schema: str) -> None:
    # An export or a look at the table shows 伙伴, not \u4f19\u4f34 (and takes half the bytes).
    from sqlalchemy import text
    from sqlmodel import Session

    from models.core import audit

    with Session(get_engine()) as session:
        audit.record(
            session, actor="test", action="note", entity="test", entity_id=1, data={"title": "伙伴评审"}
        )
        session.commit()
        stored = session.execute(text("SELECT CAST(data AS TEXT) FROM audit_event")).scalar_one()
    assert "伙伴评审" in stored and "\\u" not in stored


def test_shipped_head_is_alembics_head() -> None:
    from models.core.db import SHIPPED_HEAD

    assert head_revision() == SHIPPED_HEAD  # the schema check every command runs skips Alembic
