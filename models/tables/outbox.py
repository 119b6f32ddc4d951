"""Outbox tables: every message is stored before it is sent, and every target's result is recorded."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.core.base import JSONType, UTCDateTime, utcnow


class MessageStatus(StrEnum):
    """Where one outbox message stands."""

    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    dead = "dead"
    cancelled = "cancelled"


class DeliveryStatus(StrEnum):
    """Where one message's delivery to one target stands."""

    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    unknown = "unknown"


def _when(*, nullable: bool, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=index))


class OutboxMessage(SQLModel, table=True):
    """One message to one recipient (a contact, a team or a webhook), waiting for or past delivery."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_message_key"),
        # The delivery loop claims due messages by status and time.
        Index("ix_outbox_message_status_next", "status", "next_attempt_at"),
        # The partner's message budget: how many messages a contact has planned on a day and a month.
        Index("ix_outbox_message_recipient_planned", "recipient_id", "planned_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, description="Idempotency key: a hash of who, kind, relationship, period.")
    kind: str = Field(max_length=40, index=True)
    recipient_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    team: str | None = Field(default=None, max_length=80)
    webhook_id: int | None = Field(
        default=None,
        foreign_key="webhook_subscription.id",
        index=True,
        description="A webhook event's subscription (kind `webhook`); body_text holds the exact JSON body.",
    )
    relationship_id: int | None = Field(default=None, foreign_key="relationship.id", index=True)
    period: str = Field(default="", max_length=20)
    language: str = Field(max_length=5)
    subject: str = Field(max_length=300)
    body_text: str
    body_html: str
    attachments: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    item_ids: list[int] = Field(
        default_factory=list,
        sa_column=Column(JSONType, nullable=False),
        description="Checklist items a reminder is about; re-checked before sending.",
    )
    context: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONType, nullable=False),
        description="Plain-data context of reminder kinds, to re-render without closed items.",
    )
    status: str = Field(default=MessageStatus.queued.value, max_length=10)
    attempts: int = 0
    next_attempt_at: datetime = _when(nullable=False)
    not_before: datetime | None = _when(nullable=True)
    planned_on: date | None = Field(
        default=None, description="The recipient's local day it is planned for (one a day to a partner)."
    )
    lease_until: datetime | None = _when(nullable=True)
    claim_token: str | None = Field(default=None, max_length=32, index=True)
    last_error: str | None = Field(default=None, description="Masked: never holds a secret.")
    cancelled_reason: str | None = None
    sent_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow)
    )


class OutboxDelivery(SQLModel, table=True):
    """One message's delivery to one target (an email address or one Apprise URL)."""

    __tablename__ = "outbox_delivery"
    __table_args__ = (UniqueConstraint("message_id", "target_hash", name="uq_outbox_delivery_target"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outbox_message.id")  # uq_outbox_delivery_target starts with it
    target_hash: str = Field(max_length=64, description="SHA-256 of the target in clear.")
    channel: str = Field(max_length=20, description="Apprise scheme, or email.")
    target_masked: str = Field(max_length=300)
    status: str = Field(default=DeliveryStatus.pending.value, max_length=10)
    attempts: int = 0
    result: str | None = Field(default=None, description="Masked outcome of the last attempt.")
    sent_at: datetime | None = _when(nullable=True)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow)
    )
