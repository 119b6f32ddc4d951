"""Payment-law tables: contract terms, the SME declaration, statements (对账单), protected requests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.core.base import UTCDateTime, utcnow


def _at() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _maybe_at() -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


def _text() -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=True))


class PaymentTerms(SQLModel, table=True):
    """How a relationship's contract pays: buyer type, clock basis, agreed interest, why a long term."""

    __tablename__ = "payment_terms"
    __table_args__ = (
        CheckConstraint(
            "acceptance_days IS NULL OR acceptance_days BETWEEN 1 AND 365", name="ck_terms_acceptance"
        ),
        CheckConstraint("agreed_rate_bp IS NULL OR agreed_rate_bp BETWEEN 0 AND 10000", name="ck_terms_rate"),
    )

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id", unique=True)
    buyer_type: str = Field(max_length=12, description="enterprise or public_body")
    basis: str = Field(max_length=12, description="delivery, acceptance or settlement")
    acceptance_days: int | None = Field(
        default=None, description="Agreed acceptance period, days after delivery."
    )
    agreed_rate_bp: int | None = Field(default=None, description="Agreed late interest, basis points a year.")
    justification: str | None = _text()
    set_by: str = Field(max_length=254)
    created_at: datetime = _at()
    updated_at: datetime = _at()


class SmeDeclaration(SQLModel, table=True):
    """The partner's own declaration of its size class at signing (Art. 3), frozen once recorded."""

    __tablename__ = "sme_declaration"

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id", unique=True)
    size_class: str = Field(max_length=10)
    declared_by: str = Field(max_length=254, description="The partner contact who declared.")
    declared_on: date
    source: str = Field(max_length=10, description="portal (the partner) or record (a signed document)")
    recorded_by: str = Field(max_length=254)
    note: str | None = _text()
    created_at: datetime = _at()


class Statement(SQLModel, table=True):
    """A periodic statement (对账单): the invoices of a period, for the partner to confirm line by line."""

    __table_args__ = (
        UniqueConstraint("relationship_id", "period_start", "period_end", name="uq_statement_period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id", index=True)
    period_start: date
    period_end: date
    issued_by: str = Field(max_length=254)
    issued_at: datetime = _at()
    respond_by: date
    effort_minutes: int = Field(ge=0, description="What answering asks of the partner (its burden).")
    status: str = Field(default="open", max_length=10, description="open or answered")
    answered_by: str | None = Field(default=None, max_length=254)
    answered_at: datetime | None = _maybe_at()


class StatementLine(SQLModel, table=True):
    """One invoice on a statement, and the partner's answer: confirmed, or disputed with its figure."""

    __tablename__ = "statement_line"
    __table_args__ = (
        UniqueConstraint("payment_id", name="uq_statement_line_payment"),  # an invoice is settled once
        CheckConstraint(
            "listed_minor >= 0 AND (claimed_minor IS NULL OR claimed_minor >= 0)", name="ck_line_amounts"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    statement_id: int = Field(foreign_key="statement.id", index=True)
    payment_id: int = Field(foreign_key="payment.id")
    listed_minor: int = Field(sa_type=BigInteger, description="The undisputed amount we list.")
    currency: str = Field(min_length=3, max_length=3)
    status: str = Field(default="open", max_length=10, description="open, confirmed or disputed")
    claimed_minor: int | None = Field(default=None, sa_type=BigInteger, description="The partner's figure.")
    reason: str | None = _text()
    e_invoice_no: str | None = Field(default=None, max_length=20)


class PaymentRequest(SQLModel, table=True):
    """A partner's request for payment or to confirm a receivable (确权): protected, answered in time."""

    __tablename__ = "payment_request"

    id: int | None = Field(default=None, primary_key=True)
    relationship_id: int = Field(foreign_key="relationship.id", index=True)
    payment_id: int = Field(foreign_key="payment.id")
    kind: str = Field(max_length=14, description="payment or confirmation")
    # Set while the request is open: one open request per invoice and kind, even under a double click.
    open_key: str | None = Field(default=None, max_length=40, unique=True)
    requested_by: str = Field(max_length=254)
    requested_at: datetime = _at()
    respond_by: date
    note: str | None = _text()
    protected: bool = Field(default=True, description="Art. 20: never held against the partner.")
    answered_by: str | None = Field(default=None, max_length=254)
    answered_at: datetime | None = _maybe_at()
    answer: str | None = _text()
