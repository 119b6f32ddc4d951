"""Webhook subscriptions: systems that receive Tandem's events as signed CloudEvents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.core.base import JSONType, UTCDateTime, utcnow

# Outbox kinds of webhook deliveries (outbox_message.webhook_id names the subscription).
WEBHOOK_KIND = "webhook"
WEBHOOK_TEST_KIND = "webhook_test"  # never retried in bulk nor reported dead: the person testing sees it


class WebhookSubscription(SQLModel, table=True):
    """One receiving URL and the event types it wants; the URL and the signing secret are stored encrypted."""

    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    url_encrypted: str = Field(description="Fernet token of the URL (tokens often sit in its path).")
    url_masked: str = Field(max_length=300, description="Scheme, host and port; path and query hidden.")
    secret_encrypted: str = Field(description="Fernet token of the signing secret; never shown.")
    events: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSONType, nullable=False),
        description="Event types delivered, or ['*'] for every type.",
    )
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    removed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    removed_by: str | None = Field(default=None, max_length=254)

    def wants(self, event_type: str) -> bool:
        """Return whether this subscription receives events of a type."""
        return "*" in self.events or event_type in self.events
