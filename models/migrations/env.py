"""Alembic environment: runs Tandem's migrations on the configured connection."""

from alembic import context
from sqlalchemy import Connection

import models.tables  # noqa: F401  (registers every table on the metadata)
from models.core.db import engine_for
from models.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with engine_for(config.get_main_option("sqlalchemy.url")).connect() as conn:
        _run(conn)
        conn.commit()
