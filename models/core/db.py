"""Engine, sessions and schema upgrades (Alembic) for Tandem's database."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

from models.core.errors import SchemaOutOfDate
from models.core.files import create_private
from models.core.settings import get_settings

if TYPE_CHECKING:
    from alembic.config import Config

# The one migration `models.migrations.regenerate` writes is always revision 0001 (a test checks
# Alembic agrees): every command checks the schema, and Alembic's import costs more than the check.
SHIPPED_HEAD = "0001"


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run beside one writer. Under WAL,
    # synchronous=NORMAL skips the fsync at each commit (only at checkpoints): a power cut may lose the
    # last commits but never corrupts the database, and every Tandem write is a keyed, rerunnable upsert.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """Return a pooled engine for a database URL (one per URL per process)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            # Created before SQLite opens it, as 0600 in a 0700 folder: it holds partners' data and
            # evidence (SQLite gives its -wal and -shm files the same mode).
            fd = create_private(Path(parsed.database).expanduser())
            if fd is not None:
                os.close(fd)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=_json_text
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=_json_text)


class JsonText(str):
    """A JSON column value serialized once and stored as it is (one value shared by many rows)."""


def json_text(value: Any) -> JsonText:
    """Serialize a value as a JSON column would store it, to share it across many rows."""
    return JsonText(_json_text(value))


def _json_text(value: Any) -> str:
    """Serialize a JSON column as UTF-8 text: Chinese stays readable and half the size of \\u escapes."""
    if type(value) is JsonText:
        return value
    return _ENCODER.encode(value)


# One encoder: json.dumps builds a new one per call whenever an option differs from the defaults.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def table_of(model: type[SQLModel]) -> Table:
    """Return a table model's Table (SQLModel leaves `__table__` out of its type hints)."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table


def get_engine() -> Engine:
    """Return the engine for the configured database."""
    return engine_for(get_settings().effective_database_url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """Open a session that commits on success and rolls back on any error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str | None = None) -> Config:
    """Build the Alembic configuration for the packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("models") / "migrations"))
    config.set_main_option(
        "sqlalchemy.url", (url or get_settings().effective_database_url).replace("%", "%%")
    )
    return config


def head_revision() -> str | None:
    """Return the newest migration this code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine | None = None) -> str | None:
    """Return the revision the database is at, or None for an empty database."""
    # Read as Alembic's MigrationContext would, without importing Alembic (one version row).
    with (engine or get_engine()).connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def upgrade_schema() -> tuple[str | None, str | None]:
    """Create or upgrade the schema to the newest revision; safe to run twice."""
    from alembic import command

    before = current_revision()
    config = alembic_config()
    with get_engine().begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before, current_revision()


def ensure_schema(*, auto_upgrade: bool = True) -> None:
    """Upgrade an empty or older database on first use, or say how to."""
    current, head = current_revision(), SHIPPED_HEAD
    if current == head:
        return
    if not auto_upgrade:
        raise SchemaOutOfDate(
            f"database is at revision {current or 'none'}, code needs {head}: run `tandem db upgrade`"
        )
    upgrade_schema()


MAX_PARAMETERS = 30000  # per statement: SQLite allows 32,766 and PostgreSQL 65,535


def insert_rows(
    session: Session,
    table: Any,
    rows: list[dict[str, Any]],
    *,
    unique: Sequence[str] = (),
    on_conflict: str = "",
    returning: tuple[str, ...] = (),
) -> list[Any]:
    """Insert dict rows straight through the driver; return the `returning` columns of rows written.

    The one bulk writer. Each value goes through its column's own bind processor (the conversion
    SQLAlchemy applies), then to the driver: SQLAlchemy's per-row parameter handling cost more than
    the insert itself at thousands of rows. Without `returning` the rows go as one executemany; with
    it, as multi-row VALUES statements. Rows give every column they set (missing keys are NULL).
    `unique` skips rows that clash with that unique key; `on_conflict` is any other ON CONFLICT clause.
    """
    if not rows:
        return []
    table = getattr(table, "__table__", table)  # a SQLModel table class or its Table
    if unique:
        on_conflict = f"ON CONFLICT ({', '.join(unique)}) DO NOTHING"
    keys = tuple(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):
        keys = tuple(sorted({k for row in rows for k in row}))
    dialect = session.get_bind().dialect
    processors = bind_processors(table, keys, dialect)
    # Column by column: one loop per column, not a generator per row (the cost at 100,000 rows).
    columns = [_processed([row.get(k) for row in rows], p) for k, p in zip(keys, processors, strict=True)]
    values = list(zip(*columns, strict=True))
    quote = dialect.identifier_preparer.quote
    mark = param_mark(dialect)
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(k) for k in keys)}) VALUES "
    one = f"({', '.join([mark] * len(keys))})"
    tail = f" {on_conflict}" if on_conflict else ""
    connection = session.connection()
    if not returning:
        for start in range(0, len(values), 2000):
            connection.exec_driver_sql(head + one + tail, values[start : start + 2000])
        return []
    tail += f" RETURNING {', '.join(quote(c) for c in returning)}"
    per = max(1, MAX_PARAMETERS // len(keys))
    out: list[Any] = []
    for start in range(0, len(values), per):
        chunk = values[start : start + per]
        flat = tuple(v for row in chunk for v in row)
        out += connection.exec_driver_sql(head + ", ".join([one] * len(chunk)) + tail, flat).all()
    return out


def update_rows(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Update rows by primary key `id`, each dict giving the same columns, as one executemany."""
    if not rows:
        return
    from sqlalchemy import bindparam, update

    names = [name for name in rows[0] if name != "id"]
    # The key travels as `_id`: a bind parameter may not share a name with a column being SET.
    statement = update(table).where(table.c.id == bindparam("_id")).values({n: bindparam(n) for n in names})
    params = [{"_id": row["id"], **{n: row[n] for n in names}} for row in rows]
    session.connection().execute(statement, params)


def _processed(values: list[Any], processor: Any) -> list[Any]:
    """Apply a bind processor to a column's values, once for a value shared by consecutive rows."""
    if processor is None:
        return values
    out: list[Any] = []
    last: Any = _UNSET
    done: Any = None
    for value in values:
        if value is not last:  # the batch's one timestamp, repeated on every row
            last, done = value, processor(value)
        out.append(done)
    return out


_UNSET = object()


@lru_cache(maxsize=128)
def bind_processors(table: Any, keys: tuple[str, ...], dialect: Any) -> list[Any]:
    """Return each column's bind processor (None where the driver takes the value as it is)."""
    # Public API: the dialect's own implementation of the type, then its processor (what SQLAlchemy
    # itself applies to a bound value); cached here, so it is looked up once per table and columns.
    return [table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys]


def param_mark(dialect: Any) -> str:
    """Return the driver's positional parameter marker: `?` for sqlite3, `%s` for psycopg."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]], *, unique: Sequence[str]) -> int:
    """Insert rows, skipping any clashing with a unique key (concurrent or repeated runs); count new ones."""
    if any(row.keys() != rows[0].keys() for row in rows):
        # Rows missing a key would store NULL there, not the model's default: refuse the mix.
        raise ValueError("insert_ignore needs every row to have the same keys")
    if not rows:
        return 0
    missing = _defaults(getattr(table, "__table__", table), frozenset(rows[0]))
    if missing:  # as a Core insert would: the model's defaults for columns the rows leave out
        rows = [{**row, **{name: make() for name, make in missing}} for row in rows]
    # RETURNING counts exactly the rows that were new, on both databases.
    return len(insert_rows(session, table, rows, unique=unique, returning=("id",)))


@lru_cache(maxsize=64)
def _defaults(table: Any, given: frozenset[str]) -> tuple[tuple[str, Any], ...]:
    """Return a maker of each left-out column's client-side default (the column's public `default`)."""
    out = []
    for column in table.columns:
        default = column.default
        if column.name in given or default is None or column.primary_key:
            continue
        if default.is_scalar:
            out.append((column.name, lambda value=default.arg: value))
        elif default.is_callable:
            out.append((column.name, lambda make=default.arg: make(None)))
    return tuple(out)
