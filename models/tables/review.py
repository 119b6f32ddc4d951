"""Review tables: payments, two-way scorecards, periodic reviews and the actions they raise."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.core.base import JSONType, UTCDateTime, utcnow


class ReviewStatus(StrEnum):
    """Where one periodic review stands."""

    open = "open"  # claimed by a sweep, KPIs not yet written
    ready = "ready"  # KPIs, health, actions and pack written; meeting invited
    closed = "closed"  # the meeting was held and the actions agreed


def _at() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _updated() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSONType, nullable=False))


class Payment(SQLModel, table=True):
    """One invoice of the partner to us, and when we paid it (days-to-pay runs from delivery)."""

    __table_args__ = (
        UniqueConstraint("relationship_id", "invoice_id", name="uq_payment_invoice"),
        CheckConstraint("amount_minor >= 0", name="ck_payment_amount"),
        CheckConstraint("disputed_minor BETWEEN 0 AND amount_minor", name="ck_payment_disputed"),
    )

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id")
    invoice_id: str = Field(max_length=64)
    delivered_on: date
    invoiced_on: date
    paid_on: date | None = None
    amount_minor: int = Field(sa_type=BigInteger, description="Amount in minor units (cents, fen).")
    currency: str = Field(min_length=3, max_length=3)
    # What the payment clock reads (models/payments/clock.py); blank where it does not apply.
    accepted_on: date | None = None
    settled_on: date | None = Field(default=None, description="Settlement amount confirmed (对账确认).")
    payment_method: str = Field(default="cash", max_length=10, description="cash, bill or e_voucher")
    matures_on: date | None = Field(default=None, description="When a bill or e-voucher pays out.")
    disputed_minor: int = Field(default=0, sa_type=BigInteger, description="Disputed part, minor units.")
    e_invoice_no: str | None = Field(default=None, max_length=20, description="数电票 number, 20 digits.")
    created_at: datetime = _at()
    updated_at: datetime = _updated()


class ScorecardEntry(SQLModel, table=True):
    """One side's score (1 to 5) of one of the twelve principles for one review period."""

    __tablename__ = "scorecard_entry"
    __table_args__ = (
        UniqueConstraint("relationship_id", "period", "side", "principle", name="uq_scorecard_entry"),
        CheckConstraint("score BETWEEN 1 AND 5", name="ck_scorecard_score"),
    )

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id")
    period: str = Field(max_length=10)
    side: str = Field(max_length=8, description="ours or partner: who gives the score")
    principle: str = Field(max_length=5, description="Clause 5.1 to 5.12.")
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    scored_by: str = Field(max_length=254)
    created_at: datetime = _at()
    updated_at: datetime = _updated()


class Review(SQLModel, table=True):
    """The periodic review of one relationship for one period: KPIs, scorecards, health and trend."""

    __table_args__ = (
        UniqueConstraint("relationship_id", "period", name="uq_review"),
        # The sweep looks up which reviews of a period are still unfinished.
        Index("ix_review_period_status", "period", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id")
    period: str = Field(max_length=10)
    as_of: date
    status: str = Field(default=ReviewStatus.open.value, max_length=8)
    tier: str = Field(default="", max_length=10)
    health: int | None = Field(default=None, ge=0, le=100)
    health_delta: int | None = None
    trend: str = Field(default="", max_length=8, description="new, up, down or flat")
    kpis: dict[str, Any] = _json(dict)
    health_components: dict[str, Any] = _json(dict)
    scorecards: dict[str, Any] = _json(dict)
    findings: dict[str, Any] = _json(dict)
    meeting_on: date | None = None
    escalated: bool = Field(default=False, description="A rule escalated this review to the sponsor.")
    created_at: datetime = _at()
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Set when the manager's (and sponsor's) summary of the period names this review: one summary
    # per sweep, so a manager with 200 partners gets one message, not 200.
    announced_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: datetime = _updated()


class ReviewAction(SQLModel, table=True):
    """An action a review rule raised (escalate, propose an exit review, add a risk, ...)."""

    __tablename__ = "review_action"
    __table_args__ = (UniqueConstraint("review_id", "rule_id", name="uq_review_action"),)

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="review.id")
    relationship_id: int = Field(foreign_key="relationship.id", index=True)
    rule_id: str = Field(max_length=60)
    kind: str = Field(max_length=30)
    owner_role: str = Field(max_length=40)
    title: dict[str, str] = _json(dict)
    detail: dict[str, Any] = _json(dict)
    status: str = Field(default="open", max_length=10)
    due_on: date | None = None
    created_at: datetime = _at()
