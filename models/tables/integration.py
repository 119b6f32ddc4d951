"""Integration tokens for the HTTP API, and the responses kept for idempotent retries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.core.base import JSONType, UTCDateTime, utcnow


class ApiToken(SQLModel, table=True):
    """One integration's bearer token: a public id and the SHA-256 of the whole token, never the token."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True, description="The integration's name (actor api:NAME).")
    public_id: str = Field(
        max_length=16, unique=True, description="The token's public prefix, shown in lists."
    )
    token_sha256: str = Field(max_length=64, description="Hex SHA-256 of the whole token.")
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_by: str | None = Field(default=None, max_length=254)


class IdempotentResponse(SQLModel, table=True):
    """The first response to a call with an Idempotency-Key, replayed when the same call comes again."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_api_idempotency"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: int = Field(foreign_key="api_token.id", index=True)
    key: str = Field(max_length=200)
    request_sha256: str = Field(
        max_length=64, description="Method, path and body the key was first used with."
    )
    status: int
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
