"""Foundation tables: partners, contacts, relationships and the audit trail."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from models.core.base import JSONType, UTCDateTime, utcnow
from models.core.validation import MAX_AMOUNT, MAX_PERSONS, SingleLine
from models.core.vocabulary import DEFAULT_PAYMENT_TERM_DAYS, Criticality, Side, Stage, Tier

# The enums are re-exported: they were defined here first, and tables read naturally with them beside.
__all__ = [
    "AuditEvent",
    "Contact",
    "Criticality",
    "Partner",
    "PartnerBase",
    "Relationship",
    "Side",
    "Stage",
    "Tier",
]


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _updated() -> Any:
    return Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow)
    )


AMOUNT_UNITS = "Whole currency units."


def _persons(default: Any = ...) -> Any:
    return Field(default=default, ge=0, le=MAX_PERSONS)


def _amount(default: Any = ...) -> Any:
    return Field(default=default, ge=0, le=MAX_AMOUNT, sa_type=BigInteger, description=AMOUNT_UNITS)


class PartnerBase(SQLModel):
    """Fields a partner is described by, in column order (PartnerCreate checks them at a boundary)."""

    legal_name: SingleLine = Field(min_length=1, max_length=300)
    registration_id: str = Field(min_length=1, max_length=64)
    country: str = Field(min_length=2, max_length=2, index=True)
    industry: str = Field(max_length=40)
    employees: int = _persons()
    annual_revenue: int = _amount()
    currency: str = Field(min_length=3, max_length=3)
    total_assets: int | None = _amount(None)
    linked_employees: int = _persons(0)
    linked_revenue: int = _amount(0)
    linked_assets: int = _amount(0)
    partner_enterprise_employees: int = _persons(0)
    partner_enterprise_revenue: int = _amount(0)
    partner_enterprise_assets: int = _amount(0)
    preferred_language: str = Field(default="en", max_length=5)


class Partner(PartnerBase, table=True):
    """An MSME (or larger) enterprise we work with."""

    __table_args__ = (
        UniqueConstraint("country", "registration_id", name="uq_partner_country_regid"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The class under today's tables, kept current by the registry (see models/partners/registry.py);
    # NULL with size_problem set when the partner cannot be classified. Relationships freeze their own.
    size_class: str | None = Field(default=None, max_length=10, index=True)
    size_scheme: str | None = Field(default=None, max_length=20)
    size_problem: str | None = Field(default=None, max_length=500)
    size_tables: str = Field(
        default="",
        max_length=16,
        index=True,
        sa_column_kwargs={"server_default": ""},  # a row written around the registry is sized later
        description="Fingerprint of the tables the size was computed with.",
    )
    created_at: datetime = _created()
    updated_at: datetime = _updated()


@event.listens_for(Partner, "before_insert")
@event.listens_for(Partner, "before_update")
def _size_before_write(_mapper: Any, _connection: Any, partner: Partner) -> None:
    """Keep a partner's stored size class current with its figures on every ORM write."""
    from models.partners.registry import size_columns  # the registry imports these tables

    for name, value in size_columns(partner).items():
        setattr(partner, name, value)


class Contact(SQLModel, table=True):
    """A person on either side; chat channels are stored encrypted, shown masked."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    side: str = Field(max_length=10)
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    language: str = Field(default="en", max_length=5)
    timezone: str | None = Field(default=None, max_length=64)
    role: str = Field(default="", max_length=80)
    teams: str = Field(default="", max_length=200, description="Comma-separated team tags.")
    channels_encrypted: str | None = Field(
        default=None, description="Fernet token of the URL list."
    )
    channels_masked: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    removed_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=True),
        description="When the person left (`tandem contact remove`); the row stays for the record.",
    )
    created_at: datetime = _created()
    updated_at: datetime = _updated()


class Relationship(SQLModel, table=True):
    """One collaborative relationship between us and a partner, through its lifecycle."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(
        max_length=120, unique=True, description="Idempotency key of the relationship."
    )
    partner_id: int = Field(foreign_key="partner.id", index=True)
    manager_id: int = Field(foreign_key="contact.id")
    deputy_id: int | None = Field(default=None, foreign_key="contact.id")
    sponsor_id: int = Field(foreign_key="contact.id")
    partner_contact_id: int = Field(foreign_key="contact.id")
    backup_contact_id: int | None = Field(default=None, foreign_key="contact.id")
    criticality: str = Field(default="medium", max_length=10)
    dependency_ratio: float = Field(default=0.0, ge=0, le=1)
    payment_term_days: int = Field(default=DEFAULT_PAYMENT_TERM_DAYS, ge=0, le=365)
    signed_on: date | None = None
    stage: str = Field(default="proposed", max_length=12, index=True)
    stage_changed_at: datetime = _created()
    tier: str | None = Field(default=None, max_length=10, index=True)
    tier_proposed: str | None = Field(default=None, max_length=10)
    tier_explanation: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    tier_override_reason: str | None = None
    next_review_on: date | None = Field(default=None, index=True)
    size_class: str = Field(max_length=10, index=True, description="Frozen at signing.")
    size_scheme: str = Field(max_length=20)
    size_explanation: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    size_frozen_at: datetime = _created()
    objectives: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    key_person_flags: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    # The onboarding flow run waiting for the sponsor's decision (set when it asks, cleared when
    # decided), so `tandem approve` and the web resume it without searching the audit trail.
    awaiting_run_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = _created()
    updated_at: datetime = _updated()


class AuditEvent(SQLModel, table=True):
    """Who did what to which record, when and why."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _created()
    actor: str = Field(max_length=254)
    # How the actor proved who they are: cli-token, local-admin, web, sso, action-link, cli-override, system.
    method: str = Field(default="system", max_length=20)
    # Under an administrator's override: the person the operator (actor) acted for.
    on_behalf_of: str | None = Field(default=None, max_length=254)
    action: str = Field(max_length=80, index=True)
    entity: str = Field(max_length=40)
    entity_id: str = Field(max_length=64)
    relationship_id: int | None = Field(default=None, index=True)
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
