"""Column types and helpers shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import JSON, DateTime
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeDecorator


class _Stored(Protocol):
    id: int | None


def id_of(row: _Stored) -> int:
    """Return a stored row's id (a table row has none only before its first flush)."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it first")
    return row.id


def attribute(column: object) -> QueryableAttribute[Any]:
    """Return a column as the mapped attribute loader options take (SQLModel types it as its value)."""
    if not isinstance(column, QueryableAttribute):
        raise TypeError(f"{column!r} is not a mapped column")
    return column


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store datetimes as UTC and always read them back timezone-aware.

    SQLite drops the offset, so naive values coming back are UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Tandem stores timezone-aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON works on both SQLite and PostgreSQL; JSONB would tie us to PostgreSQL for no gain here.
JSONType = JSON
