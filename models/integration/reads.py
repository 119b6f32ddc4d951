"""What the API reads: relationships with live days-to-pay and health, checklist items, reviews, audit.

Days-to-pay is the live figure of the payment clock over the trailing year (each invoice's clock from
what started it to its payment, models/payments/clock.py, summed up by the review KPIs' own
function), so a payment posted now shows at once; health is the latest completed review's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from models.core.base import id_of
from models.core.calendar import today_local
from models.lifecycle.relationships import RelationshipFilter, list_relationships
from models.payments.clock import invoice_clock
from models.payments.contract import contracts
from models.reviews.kpis import payment_kpis
from models.reviews.portfolio import latest_reviews
from models.tables import AuditEvent, ChecklistItem, Partner, Payment, Relationship, Review

WINDOW_DAYS = 365


@dataclass(frozen=True)
class RelationshipQuery:
    """Filters of a relationship listing; the health and days-to-pay ones are inclusive bounds."""

    stage: str | None = None
    tier: str | None = None
    health_min: int | None = None
    health_max: int | None = None
    days_to_pay_min: float | None = None
    days_to_pay_max: float | None = None

    @property
    def computed(self) -> bool:
        """Say whether a filter needs the computed figures (health, days-to-pay), not SQL alone."""
        bounds = (self.health_min, self.health_max, self.days_to_pay_min, self.days_to_pay_max)
        return any(b is not None for b in bounds)


def days_to_pay(
    session: Session, pairs: list[tuple[Relationship, Partner]], *, as_of: date
) -> dict[int, dict[str, Any]]:
    """Return each relationship's payment KPIs over the trailing year by the payment clock of each invoice."""
    every = contracts(session, pairs)
    ids = [r.id for r, _ in pairs]
    invoices: dict[int, list[Payment]] = defaultdict(list)
    for p in session.exec(select(Payment).where(col(Payment.relationship_id).in_(ids))):
        invoices[p.relationship_id].append(p)
    start = as_of - timedelta(days=WINDOW_DAYS)
    out: dict[int, dict[str, Any]] = {}
    for rel, _ in pairs:
        c = every[id_of(rel)]
        clocks = [invoice_clock(p, c.terms, c.law, as_of=as_of, check=c.check) for p in invoices[id_of(rel)]]
        k = payment_kpis(clocks, check=c.check, start=start, end=as_of, as_of=as_of)
        out[id_of(rel)] = {
            "avg": k["days_to_pay_avg"],
            "worst": k["days_to_pay_worst"],
            "invoices": k["invoices"],
            "late": k["late"],
            "due_days": c.check.due_days,
            "since": start.isoformat(),
        }
    return out


def _row(rel: Relationship, partner: Partner, review: Review | None, pay: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rel.id,
        "key": rel.key,
        "partner": {
            "id": partner.id,
            "legal_name": partner.legal_name,
            "country": partner.country,
            "registration_id": partner.registration_id,
        },  # fmt: skip
        "stage": rel.stage,
        "tier": rel.tier or rel.tier_proposed,
        "size_class": rel.size_class,
        "health": review.health if review else None,
        "trend": review.trend or None if review else None,
        "review_period": review.period if review else None,
        "days_to_pay": pay,
    }


def _within(value: float | None, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    return value is not None and (low is None or value >= low) and (high is None or value <= high)


def relationship_rows(
    session: Session, where: RelationshipQuery, *, limit: int, offset: int, as_of: date | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Return how many relationships match and one page of them, by id, with health and days-to-pay."""
    day = as_of or today_local()
    sql_filter = RelationshipFilter(stage=where.stage, tier=where.tier)
    reviews = latest_reviews(session)
    if not where.computed:  # page in SQL, compute the page only
        total, pairs = list_relationships(session, sql_filter, limit=limit, offset=offset)
        pay = days_to_pay(session, pairs, as_of=day)
        return total, [_row(r, p, reviews.get(id_of(r)), pay[id_of(r)]) for r, p in pairs]
    _, pairs = list_relationships(session, sql_filter, limit=0)
    pay = days_to_pay(session, pairs, as_of=day)
    rows = [_row(r, p, reviews.get(id_of(r)), pay[id_of(r)]) for r, p in pairs]
    kept = [
        row for row in rows
        if _within(row["health"], where.health_min, where.health_max)
        and _within(row["days_to_pay"]["avg"], where.days_to_pay_min, where.days_to_pay_max)
    ]  # fmt: skip
    return len(kept), kept[offset : offset + limit]


def relationship_row(session: Session, rel: Relationship, *, as_of: date | None = None) -> dict[str, Any]:
    """Return one relationship as the listing shows it."""
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    pay = days_to_pay(session, [(rel, partner)], as_of=as_of or today_local())
    return _row(rel, partner, latest_reviews(session).get(id_of(rel)), pay[id_of(rel)])


def _page(session: Session, query: Any, order: Any, *, limit: int, offset: int) -> tuple[int, list[Any]]:
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    return total, list(session.exec(query.order_by(order).offset(offset).limit(limit)))


def checklist_rows(
    session: Session,
    *,
    relationship_id: int | None,
    stage: str | None,
    status: str | None,
    clause: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[ChecklistItem]]:
    """Return how many checklist items match and one page of them, by id."""
    query = select(ChecklistItem)
    for column, value in (
        (ChecklistItem.relationship_id, relationship_id),
        (ChecklistItem.stage, stage),
        (ChecklistItem.status, status),
        (ChecklistItem.clause, clause),
    ):
        if value is not None:
            query = query.where(column == value)
    return _page(session, query, col(ChecklistItem.id), limit=limit, offset=offset)


def review_rows(
    session: Session,
    *,
    relationship_id: int | None,
    period: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Review]]:
    """Return how many reviews match and one page of them, by id."""
    query = select(Review)
    for column, value in (
        (Review.relationship_id, relationship_id),
        (Review.period, period),
        (Review.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    return _page(session, query, col(Review.id), limit=limit, offset=offset)


def audit_after(
    session: Session, *, after: int, limit: int, relationship_id: int | None = None
) -> list[AuditEvent]:
    """Return the audit events with an id above a cursor, oldest first (ids only grow)."""
    query = select(AuditEvent).where(col(AuditEvent.id) > after)
    if relationship_id is not None:
        query = query.where(AuditEvent.relationship_id == relationship_id)
    return list(session.exec(query.order_by(col(AuditEvent.id)).limit(limit)))
