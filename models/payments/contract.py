"""A relationship's contract as the payment law reads it: payment terms and the SME size declaration."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session, col, select

from models.core import audit
from models.core.base import id_of, utcnow
from models.core.calendar import today_local
from models.core.errors import Conflict, InputRejected, Problem
from models.core.settings import get_settings
from models.core.validation import normalize_email
from models.core.vocabulary import BuyerType, ClockBasis, SizeClass
from models.payments.clock import TermCheck, Terms, check_terms
from models.payments.law import Jurisdiction, jurisdiction_for
from models.tables import Contact, Partner, PaymentTerms, Relationship, SmeDeclaration
from models.tables.core import Side

SME_CLASSES = ("micro", "small", "medium")
TEXT_MAX = 2000


class TermsUpdate(BaseModel):
    """A change to a contract's payment terms, as given at a boundary (unset fields keep their value)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    buyer_type: BuyerType | None = None
    basis: ClockBasis | None = None
    acceptance_days: int | None = Field(default=None, ge=1, le=365)
    agreed_rate_percent: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=2)
    justification: str | None = Field(default=None, max_length=TEXT_MAX)


@dataclass(frozen=True)
class Contract:
    """What the clock needs of one relationship: its terms, the law that protects the partner, the check."""

    terms: Terms
    law: Jurisdiction | None
    check: TermCheck
    size_class: str  # the class the law reads: the frozen one, or the partner's SME declaration


def protected_size(frozen: str, declared: str | None) -> str:
    """Return the size class the payment law reads: SME if either the frozen class or the declaration says so.

    A partner classified large that declared itself an SME at signing told us it is one (Art. 3); a
    partner classified as an SME stays one whatever it declared.
    """
    if frozen in SME_CLASSES or declared is None:
        return frozen
    return declared


def terms_of(rel: Relationship, row: PaymentTerms | None) -> Terms:
    """Return the relationship's terms, defaulting to our buyer type and a clock from delivery."""
    if row is None:
        return Terms(
            term_days=rel.payment_term_days,
            buyer_type=get_settings().buyer_type.value,
            signed_on=rel.signed_on,
        )
    return Terms(
        term_days=rel.payment_term_days,
        buyer_type=row.buyer_type,
        basis=row.basis,
        acceptance_days=row.acceptance_days,
        agreed_rate_bp=row.agreed_rate_bp,
        justification=row.justification,
        signed_on=rel.signed_on,
    )


def contract_of(rel: Relationship, country: str, row: PaymentTerms | None, declared: str | None) -> Contract:
    """Return a relationship's contract as the payment clock reads it."""
    size = protected_size(rel.size_class, declared)
    terms, law = terms_of(rel, row), jurisdiction_for(country, size)
    return Contract(terms, law, check_terms(terms, law), size)


def contracts(session: Session, pairs: Iterable[tuple[Relationship, Partner]]) -> dict[int, Contract]:
    """Return the contracts of many relationships, reading their terms and declarations in two queries."""
    pairs = list(pairs)
    ids = [r.id for r, _ in pairs]
    rows = {
        t.relationship_id: t
        for t in session.exec(select(PaymentTerms).where(col(PaymentTerms.relationship_id).in_(ids)))
    }
    declared = dict(
        session.exec(
            select(SmeDeclaration.relationship_id, SmeDeclaration.size_class).where(
                col(SmeDeclaration.relationship_id).in_(ids)
            )
        ).all()
    )
    return {
        r.id: contract_of(r, p.country, rows.get(r.id), declared.get(r.id))
        for r, p in pairs
        if r.id is not None  # stored relationships: always
    }


def contract_for(session: Session, rel: Relationship) -> Contract:
    """Return one relationship's contract."""
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    return contracts(session, [(rel, partner)])[id_of(rel)]


def set_terms(session: Session, rel: Relationship, change: TermsUpdate, *, actor: str) -> PaymentTerms:
    """Record the contract's payment terms, refusing a combination the clock could not read."""
    row = session.exec(select(PaymentTerms).where(PaymentTerms.relationship_id == rel.id)).first()
    current = terms_of(rel, row)
    buyer = change.buyer_type.value if change.buyer_type else current.buyer_type
    basis = change.basis.value if change.basis else current.basis
    if change.acceptance_days is not None:
        days: int | None = change.acceptance_days
    else:  # moving off an acceptance basis drops its period
        days = current.acceptance_days if basis == ClockBasis.acceptance.value else None
    rate = (
        int(change.agreed_rate_percent * 100)
        if change.agreed_rate_percent is not None
        else current.agreed_rate_bp
    )
    reason = change.justification if change.justification is not None else current.justification
    _check_combination(session, rel, basis=basis, acceptance_days=days)
    if row is None:
        row = PaymentTerms(relationship_id=id_of(rel), buyer_type=buyer, basis=basis, set_by=actor)
    row.buyer_type, row.basis, row.acceptance_days, row.agreed_rate_bp = buyer, basis, days, rate
    row.justification, row.set_by, row.updated_at = reason or None, actor, utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="payment.terms.set",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        data={
            "buyer_type": buyer,
            "basis": basis,
            "acceptance_days": days,
            "agreed_rate_bp": rate,
            "justified": bool(reason),
        },
    )
    return row


def _check_combination(
    session: Session, rel: Relationship, *, basis: str, acceptance_days: int | None
) -> None:
    problems = []
    if basis == ClockBasis.acceptance.value and acceptance_days is None:
        problems.append(
            Problem("acceptance_days", "an acceptance basis needs the agreed acceptance period in days")
        )
    if basis != ClockBasis.acceptance.value and acceptance_days is not None:
        problems.append(Problem("acceptance_days", "only an acceptance basis has an acceptance period"))
    law = contract_for(session, rel).law
    if basis == ClockBasis.settlement.value and law is not None and law.clock.settlement is None:
        problems.append(
            Problem(
                "basis", f"{law.name['en']} has no periodic-settlement rule: its clock runs from the invoice"
            )
        )
    if problems:
        raise InputRejected(problems, summary="payment terms rejected")


# ---------------------------------------------------------------- the SME declaration (Art. 3)


class DeclarationCreate(BaseModel):
    """The partner's declaration of its size class at signing, as given at a boundary."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    size_class: SizeClass
    declared_by: str = Field(description="The partner contact who declared (email).")
    declared_on: date
    note: str | None = Field(default=None, max_length=TEXT_MAX)

    @field_validator("declared_by")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    @field_validator("declared_on")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > today_local():
            raise ValueError("a declaration cannot be dated in the future")
        return value


def declaration_of(session: Session, relationship_id: int) -> SmeDeclaration | None:
    """Return the relationship's SME declaration, if one was made."""
    return session.exec(
        select(SmeDeclaration).where(SmeDeclaration.relationship_id == relationship_id)
    ).first()


def declare_size(
    session: Session, rel: Relationship, data: DeclarationCreate, *, source: str, recorded_by: str
) -> SmeDeclaration:
    """Record the partner's size declaration once; it is frozen with the relationship from then on."""
    existing = declaration_of(session, id_of(rel))
    if existing is not None:
        raise Conflict(
            f"relationship {rel.id} already has a size declaration ({existing.size_class}, "
            f"{existing.declared_on}, by {existing.declared_by}); it is frozen"
        )
    contact = session.exec(select(Contact).where(Contact.email == data.declared_by)).first()
    if contact is None or contact.side != Side.partner.value or contact.partner_id != rel.partner_id:
        raise InputRejected(
            [Problem("declared_by", f"{data.declared_by} is not a contact of this relationship's partner")],
            summary="declaration rejected",
        )
    row = SmeDeclaration(
        relationship_id=id_of(rel),
        size_class=data.size_class,
        declared_by=data.declared_by,
        declared_on=data.declared_on,
        source=source,
        recorded_by=recorded_by,
        note=data.note or None,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=recorded_by,
        action="relationship.size_declared",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        data={
            "size_class": data.size_class,
            "declared_by": data.declared_by,
            "declared_on": str(data.declared_on),
        },
    )
    return row


def declaration_public(row: SmeDeclaration | None, rel: Relationship) -> dict[str, Any] | None:
    """Return a declaration as plain data: does it agree with the frozen class, was it made by signing."""
    if row is None:
        return None
    return {
        "size_class": row.size_class,
        "declared_by": row.declared_by,
        "declared_on": row.declared_on.isoformat(),
        "source": row.source,
        "note": row.note,
        "agrees_with_frozen_class": row.size_class == rel.size_class,
        "at_signing": rel.signed_on is None or row.declared_on <= rel.signed_on,
    }
