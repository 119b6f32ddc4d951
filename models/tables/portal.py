"""Portal tables: the personal links partners answer through, each revocable by its token id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from models.core.base import UTCDateTime, utcnow


class PortalLink(SQLModel, table=True):
    """One signed portal link for one partner contact and one relationship, until it expires or is revoked."""

    __tablename__ = "portal_link"
    # Reusing a still-valid link looks one up by contact and relationship.
    __table_args__ = (Index("ix_portal_link_contact_rel", "contact_id", "relationship_id"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: str = Field(
        max_length=32, unique=True, index=True, description="Random id signed into the link."
    )
    contact_id: int = Field(foreign_key="contact.id")
    relationship_id: int = Field(foreign_key="relationship.id", index=True)
    issued_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_by: str | None = Field(default=None, max_length=254)
