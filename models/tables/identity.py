"""Identity tables: staff users, their personal CLI tokens, web sessions and one-time links.

Secrets are never stored: tokens, session ids and link nonces are kept as SHA-256 hashes of
random values, so a copy of the database signs no one in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.core.base import UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A person of our organization who signs in: roles and teams decide what they may do."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    # Stored lower case, so uniqueness is case-insensitive on every database.
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    roles: str = Field(default="", max_length=200, description="Comma-separated role names (roles.yaml).")
    teams: str = Field(
        default="", max_length=200, description="Comma-separated team tags (finance, legal...)."
    )
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # When "My work" was last shown: its "changed since my last visit" starts here (not at sign-in).
    work_seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class PersonalToken(SQLModel, table=True):
    """A person's own token the CLI acts with (TANDEM_TOKEN); shown once, stored hashed.

    Not an integration's API token (models/tables/integration.py): this one acts as a person.
    """

    __tablename__ = "personal_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    label: str = Field(default="", max_length=80)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class WebSession(SQLModel, table=True):
    """A signed-in browser: ends on logout, idle or absolute expiry, a role change or disable."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    method: str = Field(max_length=20, description="web (emailed link) or sso.")
    csrf: str = Field(max_length=64, description="The session's CSRF token.")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    ended_why: str | None = Field(default=None, max_length=40)


class OneTimeLink(SQLModel, table=True):
    """A single-use link: an emailed sign-in (bound to its browser) or an action (one decision)."""

    __tablename__ = "one_time_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    purpose: str = Field(max_length=40, description="sign-in, or an action such as approve-onboarding.")
    user_id: int | None = Field(default=None, foreign_key="app_user.id")
    email: str = Field(max_length=254, description="Who may use it.")
    relationship_id: int | None = Field(default=None, index=True)
    browser_hash: str | None = Field(default=None, max_length=64, description="Hash of the browser's nonce.")
    next_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
