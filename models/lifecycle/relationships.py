"""Relationships: open one for a partner, find it, describe it, and check key-person risk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session, col, func, select

from models.core import audit
from models.core.base import id_of, utcnow
from models.core.errors import Conflict, InputRejected, NotFound, Problem
from models.core.validation import normalize_email, record_id
from models.core.vocabulary import DEFAULT_PAYMENT_TERM_DAYS
from models.partners.registry import (
    ContactCreate,
    add_contact,
    classify_partner,
    contact_public,
    find_contact,
    find_partner,
)
from models.payments.contract import declaration_of, declaration_public
from models.tables import Contact, Partner, Relationship
from models.tables.core import Criticality, Side, Stage

# Which side each role's contact must be on.
ROLE_SIDES: dict[str, Side] = {
    "manager": Side.ours,
    "deputy": Side.ours,
    "sponsor": Side.ours,
    "partner_contact": Side.partner,
    "backup_contact": Side.partner,
}


class RelationshipState(BaseModel):
    """Where a relationship is: its id, stage and tier, as plain data for a flow."""

    id: int
    stage: str
    tier: str | None = None


class Objectives(BaseModel):
    """Both sides' business objectives for the relationship (clause 5.3)."""

    model_config = ConfigDict(extra="forbid")

    ours: list[str] = Field(default_factory=list, description="What we want from the relationship.")
    partner: list[str] = Field(default_factory=list, description="What the partner wants from it.")


class RelationshipTerms(BaseModel):
    """The people and terms of a relationship, declared once for opening it and for onboarding."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    manager: str = Field(description="Our relationship manager's email.")
    deputy: str | None = Field(default=None, description="Our deputy manager's email.")
    sponsor: str = Field(description="Our executive sponsor's email.")
    partner_contact: str = Field(description="The partner's primary contact email.")
    backup_contact: str | None = Field(default=None, description="The partner's backup contact email.")
    criticality: Criticality = Criticality.medium
    dependency_ratio: float = Field(
        default=0.0, ge=0, le=1, description="Share of the partner's revenue from us."
    )
    payment_term_days: int = Field(
        default=DEFAULT_PAYMENT_TERM_DAYS, ge=0, le=365, description="Contract payment term in days."
    )
    key: str | None = Field(default=None, max_length=120, description="Idempotency key of the relationship.")

    @field_validator("manager", "deputy", "sponsor", "partner_contact", "backup_contact")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value in (None, "") else normalize_email(value)


class RelationshipOpen(RelationshipTerms):
    """What opening a relationship needs, as given at a boundary."""

    partner: str = Field(description="Partner id, registration id or COUNTRY:REGID.")
    signed_on: date | None = None
    objectives: dict[str, list[str]] = Field(default_factory=dict)


def key_person_flags(rel: Relationship) -> list[str]:
    """Return why a relationship rests on one person on either side (empty if it does not)."""
    flags: list[str] = []
    if rel.deputy_id is None:
        flags.append("ours: no deputy manager")
    if rel.backup_contact_id is None:
        flags.append("partner: no backup contact")
    ours = [rel.manager_id, rel.deputy_id, rel.sponsor_id]
    if len([i for i in ours if i is not None]) != len({i for i in ours if i is not None}):
        flags.append("ours: one person holds two roles")
    if rel.backup_contact_id is not None and rel.backup_contact_id == rel.partner_contact_id:
        flags.append("partner: primary and backup are the same person")
    return flags


def _resolve_contacts(
    session: Session, data: RelationshipOpen, partner: Partner, actor: str
) -> dict[str, Contact | None]:
    problems: list[Problem] = []
    resolved: dict[str, Contact | None] = {}
    for role, side in ROLE_SIDES.items():
        email = getattr(data, role)
        if email is None:
            resolved[role] = None
            continue
        contact = find_contact(session, email)
        if contact is not None and contact.side != side.value:
            problems.append(Problem(role, wrong_side(email, needs=side)))
        elif contact is not None and side == Side.partner and contact.partner_id != partner.id:
            problems.append(Problem(role, f"{email} is a contact of another partner"))
        resolved[role] = contact
    if problems:
        raise InputRejected(problems, summary="relationship rejected")
    for role, contact in resolved.items():
        email = getattr(data, role)
        if contact is None and email is not None:
            side = ROLE_SIDES[role]
            language = partner.preferred_language if side == Side.partner else "en"
            new = ContactCreate(email=email, side=side, role=role, language=language)
            resolved[role] = add_contact(session, new, actor=actor, partner_id=partner.id)
    return resolved


def _unique_key(session: Session, base: str) -> str:
    taken = set(session.exec(select(Relationship.key).where(col(Relationship.key).startswith(base))))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def live_relationship(session: Session, partner_id: int) -> Relationship | None:
    """Return the partner's relationship that has not exited, if any."""
    query = select(Relationship).where(
        Relationship.partner_id == partner_id, Relationship.stage != Stage.exited.value
    )
    return session.exec(query).first()


def _required_id(contacts: dict[str, Contact | None], role: str) -> int:
    contact = contacts[role]
    assert contact is not None, role  # RelationshipOpen requires this role
    return id_of(contact)


def open_relationship(session: Session, data: RelationshipOpen, *, actor: str) -> Relationship:
    """Open a relationship for a partner, freezing its size class; refuse a second live one."""
    partner = find_partner(session, data.partner)
    if data.key:
        existing = session.exec(select(Relationship).where(Relationship.key == data.key)).first()
        if existing is not None:
            raise Conflict(f"relationship key {data.key!r} is already used by relationship {existing.id}")
    current = live_relationship(session, id_of(partner))
    # A second live relationship with the same partner (another business unit) needs its own key.
    if current is not None and not data.key:
        raise Conflict(
            f"partner {partner.legal_name} already has relationship {current.id} ({current.stage})"
        )
    contacts = _resolve_contacts(session, data, partner, actor)
    size = classify_partner(partner)
    rel = Relationship(
        key=data.key or _unique_key(session, f"{partner.country.lower()}-{partner.registration_id.lower()}"),
        partner_id=id_of(partner),
        manager_id=_required_id(contacts, "manager"),
        deputy_id=contacts["deputy"].id if contacts["deputy"] else None,
        sponsor_id=_required_id(contacts, "sponsor"),
        partner_contact_id=_required_id(contacts, "partner_contact"),
        backup_contact_id=contacts["backup_contact"].id if contacts["backup_contact"] else None,
        criticality=data.criticality.value,
        dependency_ratio=data.dependency_ratio,
        payment_term_days=data.payment_term_days,
        signed_on=data.signed_on,
        size_class=size.size_class,
        size_scheme=size.scheme,
        size_explanation=size.to_dict(),
        size_frozen_at=utcnow(),
        objectives=data.objectives,
    )
    rel.key_person_flags = key_person_flags(rel)
    session.add(rel)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="relationship.opened",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        data={"partner_id": partner.id, "size_class": rel.size_class, "key": rel.key},
    )
    return rel


def find_relationship(session: Session, ref: str | int) -> Relationship:
    """Find a relationship by id or key."""
    text = str(ref).strip()
    if (rid := record_id(text)) is not None:
        found = session.get(Relationship, rid)
        if found:
            return found
    found = session.exec(select(Relationship).where(Relationship.key == text)).first()
    if found is None:
        raise NotFound(f"no relationship {text!r} (give an id or a key)")
    return found


def relationship_public(session: Session, rel: Relationship) -> dict[str, Any]:
    """Return a relationship as plain data, with its partner and contacts resolved."""
    data = rel.model_dump(mode="json")
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    data["partner"] = {"id": partner.id, "legal_name": partner.legal_name, "country": partner.country}
    for role in ROLE_SIDES:
        contact_id = getattr(rel, f"{role}_id")
        contact = session.get(Contact, contact_id) if contact_id else None
        data[role] = contact_public(contact) if contact else None
    data["sme_declaration"] = declaration_public(declaration_of(session, id_of(rel)), rel)
    return data


@dataclass(frozen=True)
class RelationshipFilter:
    """Which relationships a listing shows: all filters must hold."""

    search: str | None = None  # part of the partner's name or registration id, or of the key
    size_class: str | None = None  # the class frozen at signing
    country: str | None = None  # the partner's
    tier: str | None = None
    stage: str | None = None


def list_relationships(
    session: Session, where: RelationshipFilter, *, limit: int = 50, offset: int = 0
) -> tuple[int, list[tuple[Relationship, Partner]]]:
    """Return how many relationships match and one page of them with their partners, by id."""
    query = select(Relationship, Partner).join(Partner)
    if where.search:
        text = where.search.strip()
        query = query.where(
            col(Partner.legal_name).icontains(text, autoescape=True)
            | col(Partner.registration_id).icontains(text, autoescape=True)
            | col(Relationship.key).icontains(text, autoescape=True)
        )
    for column, value in (
        (Relationship.size_class, where.size_class),
        (Partner.country, where.country),
        (Relationship.tier, where.tier),
        (Relationship.stage, where.stage),
    ):
        if value:
            query = query.where(column == value)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = query.order_by(col(Relationship.id)).offset(offset)
    return total, list(session.exec(page.limit(limit) if limit else page))


def wrong_side(email: str, *, needs: Side | str) -> str:
    """Say that a contact belongs to the other side, in words a manager reads without a glossary."""
    if Side(needs) == Side.partner:
        return f"{email} is one of our contacts, not the partner's"
    return f"{email} is the partner's contact, not one of ours"


def open_or_reuse(session: Session, data: RelationshipOpen, partner: Partner, *, actor: str) -> Relationship:
    """Open the relationship, or return the one a previous run of the same request opened.

    Its key defaults to the partner's registration; an exited relationship is not reused, a new one
    with a dated key is opened beside it.
    """
    key = data.key or f"{partner.country.lower()}-{partner.registration_id.lower()}"
    data = data.model_copy(update={"key": key})
    try:
        existing = find_relationship(session, key)
    except NotFound:
        return open_relationship(session, data, actor=actor)
    if existing.stage == Stage.exited.value:
        dated = data.model_copy(update={"key": f"{key}-{utcnow():%Y%m%d}"})
        return open_relationship(session, dated, actor=actor)
    return existing
