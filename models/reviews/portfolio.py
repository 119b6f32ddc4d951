"""The portfolio view: every relationship with its latest review, and the charts' data."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.core.base import id_of
from models.core.calendar import add_months, today_local
from models.core.settings import get_settings
from models.payments.clock import invoice_clock
from models.payments.contract import Contract, contracts
from models.tables import ChecklistItem, ItemStatus, Partner, Payment, Relationship, Review, ReviewStatus
from models.tables.core import Stage

HEALTH_BINS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 101))


def latest_reviews(session: Session) -> dict[int, Review]:
    """Return each relationship's latest completed review, by relationship id."""
    latest = (
        select(Review.relationship_id, func.max(Review.period).label("period"))
        .where(Review.status != ReviewStatus.open.value)
        .group_by(col(Review.relationship_id))
        .subquery()
    )
    query = select(Review).join(
        latest,
        (col(Review.relationship_id) == latest.c.relationship_id) & (col(Review.period) == latest.c.period),
    )
    return {r.relationship_id: r for r in session.exec(query)}


def _overdue(session: Session, as_of: date) -> dict[int, int]:
    query = (
        select(ChecklistItem.relationship_id, func.count())
        .where(ChecklistItem.status == ItemStatus.open.value, col(ChecklistItem.due_on) < as_of)
        .group_by(col(ChecklistItem.relationship_id))
    )
    return {int(rid): int(n) for rid, n in session.exec(query)}


def _row(
    rel: Relationship, partner: Partner, review: Review | None, overdue: int, contract: Contract
) -> dict[str, Any]:
    pay = (review.kpis.get("payments") if review else None) or {}
    return {
        "id": rel.id,
        "key": rel.key,
        "partner": partner.legal_name,
        "country": partner.country,
        "tier": rel.tier or rel.tier_proposed,
        "stage": rel.stage,
        "period": review.period if review else None,
        "health": review.health if review else None,
        "trend": review.trend if review else None,
        "health_delta": review.health_delta if review else None,
        "days_to_pay_avg": pay.get("days_to_pay_avg"),
        "days_to_pay_worst": pay.get("days_to_pay_worst"),
        "due_days": pay.get("due_days", contract.check.due_days),
        "term_finding": pay.get("term_finding", contract.check.finding),
        "late_by_law": pay.get("late_by_law", 0),
        "overdue_items": overdue,
        "key_person_flags": list(rel.key_person_flags),
    }


def payment_timeliness_by_month(session: Session, *, as_of: date, months: int = 12) -> list[dict[str, Any]]:
    """Return, per month of payment, how many invoices were paid by the due date of their clock."""
    since = add_months(as_of.replace(day=1), -(months - 1))
    pairs = select(Relationship, Partner).join(Partner, col(Partner.id) == Relationship.partner_id)
    by_relationship = contracts(session, list(session.exec(pairs)))
    paid: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    query = select(Payment).where(col(Payment.paid_on) >= since, col(Payment.paid_on) <= as_of)
    for invoice in session.exec(query):
        assert invoice.paid_on is not None  # the query keeps paid invoices only
        c = by_relationship[invoice.relationship_id]
        clock = invoice_clock(invoice, c.terms, c.law, as_of=as_of, check=c.check)
        bucket = paid[invoice.paid_on.strftime("%Y-%m")]
        bucket[0] += 1
        bucket[1] += int(clock.state == "paid")
    out = []
    for i in range(months):
        month = add_months(since, i).strftime("%Y-%m")
        total, on_time = paid.get(month, [0, 0])
        out.append(
            {
                "month": month,
                "invoices": total,
                "on_time": on_time,
                "share": round(on_time / total, 3) if total else None,
            }
        )
    return out


def portfolio(session: Session, *, as_of: date | None = None) -> dict[str, Any]:
    """Return every live relationship: tier, stage, health, trend, days-to-pay, overdue items, flags."""
    day = as_of or today_local()
    reviews, overdue = latest_reviews(session), _overdue(session, day)
    query = (
        select(Relationship, Partner)
        .join(Partner, col(Partner.id) == Relationship.partner_id)
        .where(Relationship.stage != Stage.exited.value)
        .order_by(col(Relationship.id))
    )
    pairs = list(session.exec(query))
    every = contracts(session, pairs)
    rows = [_row(r, p, reviews.get(id_of(r)), overdue.get(id_of(r), 0), every[id_of(r)]) for r, p in pairs]
    healths = [r["health"] for r in rows if r["health"] is not None]
    distribution = [
        {"label": f"{lo}-{min(hi, 100)}", "value": sum(1 for h in healths if lo <= h < hi)}
        for lo, hi in HEALTH_BINS
    ]
    return {
        "organization_name": get_settings().organization_name,
        "as_of": day.isoformat(),
        "relationships": rows,
        "count": len(rows),
        "reviewed": len(healths),
        "health_avg": round(sum(healths) / len(healths), 1) if healths else None,
        "health_distribution": distribution,
        "payment_timeliness": payment_timeliness_by_month(session, as_of=day),  # exited ones too
    }
