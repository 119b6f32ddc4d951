"""Builders for review tests: partners, active relationships, payments and scores with known answers."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

from sqlmodel import Session

from models.lifecycle.relationships import RelationshipOpen, open_relationship
from models.partners.registry import PartnerCreate, add_partner
from models.reviews.scorecards import Score, record_scores
from models.tables import Payment, Relationship
from tests.support.factories import uscc

_serial = count(1)


def active_relationship(
    session: Session,
    *,
    country: str = "CN",
    employees: int = 30,
    tier: str = "standard",
    term_days: int = 60,
    dependency: float = 0.2,
    deputy: bool = True,
    backup: bool = True,
    language: str = "zh-CN",
) -> Relationship:
    """Create a partner and an active relationship with it (tier approved), and commit."""
    n = next(_serial)
    industry = "industry"
    partner = add_partner(
        session,
        PartnerCreate(
            legal_name=f"Partner {n}",
            registration_id=uscc(n) if country == "CN" else f"REG{n:05d}",
            country=country,
            industry=industry,
            employees=employees,
            annual_revenue=5_000_000,
            currency="CNY" if country == "CN" else "EUR",
            preferred_language=language,
        ),
        actor="test",
    )
    rel = open_relationship(
        session,
        RelationshipOpen(
            partner=str(partner.id),
            manager=f"rm{n}@ours.example.com",
            deputy=f"deputy{n}@ours.example.com" if deputy else None,
            sponsor=f"sponsor{n}@ours.example.com",
            partner_contact=f"owner{n}@partner{n}.example.cn",
            backup_contact=f"backup{n}@partner{n}.example.cn" if backup else None,
            dependency_ratio=dependency,
            payment_term_days=term_days,
        ),
        actor="test",
    )
    rel.stage, rel.tier = "active", tier
    session.add(rel)
    session.commit()
    return rel


def invoice(
    session: Session,
    rel: Relationship,
    invoice_id: str,
    *,
    delivered: date,
    paid: date | None,
    amount_minor: int = 1_000_000,
    currency: str = "CNY",
) -> Payment:
    """Store one invoice for a relationship."""
    payment = Payment(
        relationship_id=rel.id,  # type: ignore[arg-type]
        invoice_id=invoice_id,
        delivered_on=delivered,
        invoiced_on=delivered + timedelta(days=1),
        paid_on=paid,
        amount_minor=amount_minor,
        currency=currency,
    )
    session.add(payment)
    session.commit()
    return payment


def scores(session: Session, rel: Relationship, period: str, side: str, values: dict[str, int]) -> None:
    """Record one side's scores."""
    record_scores(
        session,
        rel,
        period=period,
        side=side,
        scores=[Score(p, s) for p, s in values.items()],
        actor="test",
    )
    session.commit()


def all_principles(score: int) -> dict[str, int]:
    """Return the same score for each of the twelve principles."""
    return {f"5.{n}": score for n in range(1, 13)}
