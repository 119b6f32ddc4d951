"""Checklist tables: the items asked of each side for one relationship and stage."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.core.base import JSONType, UTCDateTime, utcnow


class ItemStatus(StrEnum):
    """Where one checklist item stands."""

    open = "open"
    done = "done"
    waived = "waived"
    not_applicable = "not_applicable"
    # Withdrawn by us: the relationship ended (exit) or never started (rejection).
    cancelled = "cancelled"


CLOSED_STATUSES = frozenset(
    {ItemStatus.done, ItemStatus.waived, ItemStatus.not_applicable, ItemStatus.cancelled}
)


class ChecklistItem(SQLModel, table=True):
    """One library item asked of one side of one relationship at one stage (and review period)."""

    __tablename__ = "checklist_item"
    __table_args__ = (
        UniqueConstraint("relationship_id", "stage", "period", "item_key", name="uq_checklist_item"),
        # The reminder sweep reads open items by due date across the whole portfolio.
        Index("ix_checklist_item_status_due", "status", "due_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: uq_checklist_item starts with it (one b-tree less on every insert).
    relationship_id: int = Field(foreign_key="relationship.id")
    stage: str = Field(max_length=12)
    period: str = Field(default="", max_length=10, description="Review period such as 2026Q4.")
    item_key: str = Field(max_length=120, description="Stable library id.")
    library_version: int = 1
    clause: str = Field(max_length=5)
    owner_side: str = Field(max_length=8)
    owner_role: str = Field(max_length=40)
    owner_contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    priority: str = Field(max_length=8)
    required: bool = True
    effort_minutes: int = 0
    asked_on: date | None = Field(
        default=None, description="The day the item was asked: its minutes count in that day's year."
    )
    due_on: date
    title: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    reason: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    evidence_key: str | None = Field(default=None, max_length=80, index=True)
    status: str = Field(default=ItemStatus.open.value, max_length=16)
    done_by: str | None = Field(default=None, max_length=254)
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    evidence: str | None = None
    evidence_link: str | None = Field(default=None, max_length=2000)
    waived_reason: str | None = None
    reused_from_id: int | None = Field(default=None, description="Item whose evidence satisfied this one.")
    reminders: int = Field(default=0, description="Reminders its owner was sent about it.")
    last_reminded_on: date | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow)
    )


class ChecklistGeneration(SQLModel, table=True):
    """What the proportionality engine decided for one relationship, stage and period."""

    __tablename__ = "checklist_generation"
    __table_args__ = (UniqueConstraint("relationship_id", "stage", "period", name="uq_checklist_generation"),)

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id")  # uq_checklist_generation starts with it
    stage: str = Field(max_length=12)
    period: str = Field(default="", max_length=10)
    tier: str = Field(max_length=10)
    budget_minutes: int
    used_minutes: int
    stage_started_on: date
    selected: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    left_out: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    library_versions: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    generated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow)
    )
