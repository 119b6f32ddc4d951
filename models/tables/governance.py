"""Governance tables: approvals, exit plans, the joint risk register and generated documents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.core.base import JSONType, UTCDateTime, utcnow


def _at() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Approval(SQLModel, table=True):
    """A sponsor's decision on an onboarding (tier) or an exit, one per relationship and kind."""

    __table_args__ = (UniqueConstraint("relationship_id", "kind", name="uq_approval"),)

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id", index=True)
    kind: str = Field(max_length=20, description="onboarding or exit")
    decision: str = Field(max_length=10, description="approve or reject")
    decided_by: str = Field(max_length=254)
    tier: str | None = Field(default=None, max_length=10)
    comment: str | None = None
    flow_run_id: str | None = Field(default=None, max_length=40)
    decided_at: datetime = _at()


class ExitPlan(SQLModel, table=True):
    """The exit plan drafted at onboarding (clause 5.12), and the exit once it starts."""

    __tablename__ = "exit_plan"

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id", unique=True)
    notice_days: int
    transition_support_days: int
    final_payment_days: int = Field(description="The contract's due days under the payment law.")
    basis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    drafted_at: datetime = _at()
    exit_reason: str | None = None
    exit_trigger: str | None = Field(default=None, max_length=30)
    exit_started_on: date | None = None
    notice_ends_on: date | None = None
    final_payment_due_on: date | None = None
    # The exit as proposed by the manager and approved by the sponsor before it runs (workspace).
    exit_proposed_by: str | None = Field(default=None, max_length=254)
    exit_proposed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    exit_approved_by: str | None = Field(default=None, max_length=254)
    exit_approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Risk(SQLModel, table=True):
    """One entry of the joint risk register, marked with the side whose conduct creates it."""

    __table_args__ = (UniqueConstraint("relationship_id", "key", name="uq_risk"),)

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id", index=True)
    key: str = Field(max_length=60)
    created_by_side: str = Field(max_length=8, description="ours, partner or joint")
    title: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    mitigation: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    likelihood: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)
    score: int
    owner_role: str = Field(max_length=40)
    status: str = Field(default="open", max_length=10)
    source: str = Field(default="standard", max_length=40)
    created_at: datetime = _at()


class Document(SQLModel, table=True):
    """A rendered document (charter, review pack, evidence map) in one language and format."""

    __table_args__ = (
        UniqueConstraint("relationship_id", "kind", "period", "language", "fmt", name="uq_document"),
    )

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id", index=True)
    kind: str = Field(max_length=30)
    period: str = Field(default="", max_length=10)
    language: str = Field(max_length=5)
    fmt: str = Field(max_length=5)
    content: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _at()
