"""The annual disclosure of overdue payments to SMEs (Art. 18), and the same under Directive 2011/7/EU.

A contract is a relationship. At the year's end (or today, while the year runs), a contract counts when
at least one of its invoices is overdue and unpaid by its clock: the undisputed part past its due date
and not paid by then. Every figure is the sum over the invoices listed with it, so each is traceable.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlmodel import Session, col, or_, select

from models.core.calendar import today_local
from models.core.errors import InputRejected, Problem
from models.core.settings import get_settings
from models.payments.clock import InvoiceClock, invoice_clock
from models.payments.contract import Contract, contracts
from models.payments.law import rules_applied
from models.payments.ledger import from_minor
from models.tables import Partner, Payment, Relationship

# The report's sections: the Chinese regulation's disclosure, then the Directive's partners.
SECTIONS = ("cn-sme-payments", "eu-late-payment")
FIRST_YEAR = 2000


def report_year(year: int, *, today: date | None = None) -> tuple[date, bool]:
    """Return the as-of date of a year's report (its last day, or today while it runs) and if it is final."""
    today = today or today_local()
    if not FIRST_YEAR <= year <= today.year:
        raise InputRejected([Problem("year", f"give a year from {FIRST_YEAR} to {today.year}, not {year}")])
    end = date(year, 12, 31)
    return min(end, today), today > end


def sme_payments(session: Session, *, year: int, today: date | None = None) -> dict[str, Any]:
    """Return the year's disclosure: per law, contracts and amounts overdue and unpaid, with every invoice."""
    as_of, final = report_year(year, today=today)
    pairs = list(
        session.exec(select(Relationship, Partner).join(Partner, col(Partner.id) == Relationship.partner_id))
    )
    by_rel = contracts(session, pairs)
    partners = {r.id: (r, p) for r, p in pairs}
    covered = [rid for rid, c in by_rel.items() if c.law is not None and c.law.id in SECTIONS]
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inv in _candidates(session, covered, as_of):
        contract = by_rel[inv.relationship_id]
        clock = invoice_clock(inv, contract.terms, contract.law, as_of=as_of, check=contract.check)
        if clock.state == "overdue":
            rel, partner = partners[inv.relationship_id]
            assert contract.law is not None  # only relationships under a covered law are read
            rows[contract.law.id].append(_row(rel, partner, inv, clock, contract))
    return {
        "organization_name": get_settings().organization_name,
        "year": year,
        "as_of": as_of.isoformat(),
        "final": final,
        "sections": [_section(law_id, rows.get(law_id, []), by_rel) for law_id in SECTIONS],
    }


def _candidates(session: Session, relationship_ids: list[int], as_of: date) -> list[Payment]:
    """Return invoices that can be overdue and unpaid at a date: delivered by then, not paid by then."""
    if not relationship_ids:
        return []
    query = (
        select(Payment)
        .where(
            col(Payment.relationship_id).in_(relationship_ids),
            col(Payment.delivered_on) <= as_of,
            or_(col(Payment.paid_on).is_(None), col(Payment.paid_on) > as_of),
        )
        .order_by(col(Payment.relationship_id), col(Payment.delivered_on), col(Payment.invoice_id))
    )
    return list(session.exec(query))


def _row(
    rel: Relationship, partner: Partner, inv: Payment, clock: InvoiceClock, contract: Contract
) -> dict[str, Any]:
    return {
        "relationship_id": rel.id,
        "relationship_key": rel.key,
        "partner": partner.legal_name,
        "country": partner.country,
        "size_class": contract.size_class,
        "invoice_id": inv.invoice_id,
        "e_invoice_no": inv.e_invoice_no,
        "delivered_on": inv.delivered_on.isoformat(),
        "started_by": clock.started_by,
        "started_on": clock.started_on.isoformat() if clock.started_on else None,
        "due_on": clock.due_on.isoformat() if clock.due_on else None,
        "days_late": clock.days_late,
        "currency": inv.currency,
        "overdue_minor": clock.due_minor,
        "overdue": from_minor(clock.due_minor, inv.currency),
        "disputed": from_minor(clock.disputed_minor, inv.currency) if clock.disputed_minor else None,
        "interest_minor": clock.interest_minor,
        "fee_minor": clock.fee_minor,
        "interest": _amounts(clock.interest_minor),
        "fee": _amounts(clock.fee_minor),
        "interest_basis": clock.interest_basis,
        "rate_known": clock.rate_known,
    }


def _amounts(minor: dict[str, int]) -> list[dict[str, str]]:
    return [{"currency": c, "amount": from_minor(m, c)} for c, m in sorted(minor.items()) if m]


def _sum(rows: list[dict[str, Any]], *fields: str) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for row in rows:
        for name in fields:
            value = row[name]
            if isinstance(value, dict):
                for currency, minor in value.items():
                    total[currency] += minor
            else:
                total[row["currency"]] += value
    return dict(sorted(total.items()))


def _section(law_id: str, rows: list[dict[str, Any]], by_rel: dict[int, Contract]) -> dict[str, Any]:
    """Return one law's figures, each with the invoices it sums."""
    rules = rules_applied(law_id, buyer_type=get_settings().buyer_type.value, basis="delivery")
    longest = max(rows, key=lambda r: r["days_late"], default=None)
    return {
        "law": law_id,
        "name": rules["name"] if rules else {},
        "disclosure": rules["disclosure"] if rules else None,
        "contracts_covered": sum(1 for c in by_rel.values() if c.law is not None and c.law.id == law_id),
        "contracts_overdue": len({r["relationship_id"] for r in rows}),
        "invoices_overdue": len(rows),
        "overdue": _amounts(_sum(rows, "overdue_minor")),
        "longest_days_late": longest["days_late"] if longest else None,
        "longest_invoice": f"{longest['relationship_key']} {longest['invoice_id']}" if longest else None,
        "interest": _amounts(_sum(rows, "interest_minor")),
        "fees": _amounts(_sum(rows, "fee_minor")),
        "rates_assumed": any(not r["rate_known"] for r in rows),
        "invoices": rows,
    }
