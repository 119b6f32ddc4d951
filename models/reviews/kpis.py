"""Two-way KPIs of one relationship for one review period: how we pay, what we ask, how fast we answer.

Definitions (also in docs/BENCHMARKS.md and `tandem review show`):
- days-to-pay runs from the delivery date to the paid date; an invoice is late past its due days,
  which are the contract term capped by the legal limit of the partner's jurisdiction;
- an invoice counts in a period if it was paid in the period, or if it is still unpaid at the
  as-of date and already late (it then counts in every period until paid, at its age so far);
- late interest is the statutory interest accrued on those late invoices, per currency, in minor units;
- response time is a proxy until the partner portal records partner requests: an item owed by our
  side is what the partner waits on; we measure days from it being asked to it being closed;
- partner burden is the partner minutes asked in the period, every stage counted (a review's items
  by their review period, other stages' by the day they were asked), against that period's whole
  budget: the budgets of the stages planned in it, so a first review after onboarding compares
  onboarding, governance and review minutes with their three budgets together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from models.tables.checklist import ItemStatus

LATE_LIST_LIMIT = 20  # invoices named in a review pack; the counts cover all of them


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fee(_Strict):
    """A fixed recovery fee per late invoice."""

    currency: str = Field(min_length=3, max_length=3)
    minor: int = Field(ge=0)


class Interest(_Strict):
    """Statutory late-payment interest: a daily rate or an annual percentage, and a fixed fee."""

    daily_rate: Decimal | None = Field(default=None, ge=0)
    annual_rate_percent: Decimal | None = Field(default=None, ge=0)
    fixed_fee: Fee | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> Interest:
        if (self.daily_rate is None) == (self.annual_rate_percent is None):
            raise ValueError("give exactly one of daily_rate and annual_rate_percent")
        return self


class Jurisdiction(_Strict):
    """Where a legal payment limit applies, how long it is, and what lateness costs."""

    id: str
    name: dict[str, str]
    countries: tuple[str, ...] = Field(min_length=1)
    size_classes: tuple[str, ...] = Field(min_length=1)
    limit_days: PositiveInt
    interest: Interest
    note: dict[str, str]


class PaymentLaw(_Strict):
    """The payment-law table."""

    version: PositiveInt
    jurisdictions: tuple[Jurisdiction, ...]

    @model_validator(mode="after")
    def _one_jurisdiction_per_country(self) -> PaymentLaw:
        seen: dict[str, str] = {}
        for j in self.jurisdictions:
            for country in j.countries:
                if country in seen:
                    raise ValueError(f"country {country} is in both {seen[country]} and {j.id}")
                seen[country] = j.id
        return self


@lru_cache(maxsize=1)
def payment_law() -> PaymentLaw:
    """Load and validate the shipped payment-law table."""
    text = (resources.files("models.payments") / "payment_law.yaml").read_text(encoding="utf-8")
    return PaymentLaw.model_validate(yaml.safe_load(text))


def jurisdiction_for(country: str, size_class: str) -> Jurisdiction | None:
    """Return the payment law protecting a partner of this country and size class, if any."""
    for j in payment_law().jurisdictions:
        if country.upper() in j.countries and size_class in j.size_classes:
            return j
    return None


class InvoiceLike(Protocol):
    """What the KPIs read of a payment (a Payment row or a plain tuple with these names)."""

    invoice_id: str
    delivered_on: date
    paid_on: date | None
    amount_minor: int
    currency: str


class ItemLike(Protocol):
    """What the KPIs read of a checklist item."""

    stage: str
    period: str
    owner_side: str
    status: str
    due_on: date
    effort_minutes: int
    asked_on: date | None
    created_at: datetime
    done_at: datetime | None


def due_days(term_days: int, law: Jurisdiction | None) -> int:
    """Return the days after delivery an invoice is due: the contract term, capped by the law."""
    return min(term_days, law.limit_days) if law else term_days


def late_interest(
    amount_minor: int, currency: str, days_late: int, law: Jurisdiction | None
) -> dict[str, int]:
    """Return the statutory interest (and fixed fee) owed on one late invoice, per currency."""
    if law is None or days_late <= 0:
        return {}
    rate = law.interest
    if rate.daily_rate is not None:
        accrued = Decimal(amount_minor) * rate.daily_rate * days_late
    else:
        accrued = Decimal(amount_minor) * (rate.annual_rate_percent or Decimal(0)) / 100 * days_late / 365
    owed = {currency: int(accrued.quantize(Decimal(1), rounding=ROUND_HALF_UP))}
    if rate.fixed_fee is not None:
        owed[rate.fixed_fee.currency] = owed.get(rate.fixed_fee.currency, 0) + rate.fixed_fee.minor
    return owed


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for currency, minor in more.items():
        total[currency] = total.get(currency, 0) + minor


def payment_kpis(
    invoices: Iterable[InvoiceLike],
    *,
    start: date,
    end: date,
    as_of: date,
    term_days: int,
    law: Jurisdiction | None,
) -> dict[str, Any]:
    """Return days-to-pay (average, worst), late share, invoices beyond the legal limit and interest."""
    due = due_days(term_days, law)
    paid_days: list[int] = []
    counted: list[tuple[InvoiceLike, int, bool]] = []  # invoice, days so far, still unpaid
    for inv in invoices:
        if inv.paid_on is not None and start <= inv.paid_on <= min(end, as_of):
            days = (inv.paid_on - inv.delivered_on).days
            paid_days.append(days)
            counted.append((inv, days, False))
        elif (inv.paid_on is None or inv.paid_on > as_of) and (as_of - inv.delivered_on).days > due:
            counted.append((inv, (as_of - inv.delivered_on).days, True))
    late = [(inv, days, unpaid) for inv, days, unpaid in counted if days > due]
    interest: dict[str, int] = {}
    for inv, days, _ in late:
        _add(interest, late_interest(inv.amount_minor, inv.currency, days - due, law))
    limit = law.limit_days if law else None
    return {
        "invoices": len(counted),
        "paid": len(paid_days),
        "unpaid_late": sum(1 for _, _, unpaid in counted if unpaid),
        "days_to_pay_avg": round(sum(paid_days) / len(paid_days), 1) if paid_days else None,
        "days_to_pay_worst": max((days for _, days, _ in counted), default=None),
        "late": len(late),
        "late_share": round(len(late) / len(counted), 3) if counted else None,
        "beyond_legal_limit": sum(1 for _, days, _ in late if limit is not None and days > limit),
        "term_days": term_days,
        "due_days": due,
        "legal_limit_days": limit,
        "jurisdiction": law.id if law else None,
        "late_interest_minor": dict(sorted(interest.items())),
        "late_invoices": [
            {"invoice_id": inv.invoice_id, "days": days, "unpaid": unpaid}
            for inv, days, unpaid in sorted(late, key=lambda x: -x[1])[:LATE_LIST_LIMIT]
        ],
    }


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _n(item: ItemLike) -> int:
    """Return how many identical items one entry stands for (the sweep reads items grouped)."""
    return getattr(item, "n", 1)


def _asked_in(item: ItemLike, *, period: str, start: date, end: date) -> bool:
    """Return whether an item's minutes count in a period: its review period, else the day it was asked."""
    if item.stage == "review":
        return item.period == period
    return start <= (item.asked_on or _day(item.created_at) or start) <= end


def checklist_kpis(
    items: Sequence[ItemLike],
    *,
    period: str,
    start: date,
    end: date,
    as_of: date,
    budget_minutes: int,
) -> dict[str, Any]:
    """Return checklist completion, overdue items by side, and partner burden against the budget.

    `budget_minutes` is the period's whole budget: every stage planned in it (see the module's notes).
    """
    past_due = [i for i in items if i.due_on < as_of]
    overdue = [i for i in past_due if i.status == ItemStatus.open.value]
    due_count, overdue_count = sum(map(_n, past_due)), sum(map(_n, overdue))
    asked = [i for i in items if _asked_in(i, period=period, start=start, end=end)]
    minutes = sum(i.effort_minutes * _n(i) for i in asked)  # the partner's scorecard is an item (5.11) too
    return {
        "items_past_due": due_count,
        "completion": round((due_count - overdue_count) / due_count, 3) if due_count else None,
        "overdue_items": overdue_count,
        "overdue_ours": sum(_n(i) for i in overdue if i.owner_side == "ours"),
        "overdue_partner": sum(_n(i) for i in overdue if i.owner_side == "partner"),
        "overdue_joint": sum(_n(i) for i in overdue if i.owner_side == "joint"),
        "burden_minutes": minutes,
        "burden_budget_minutes": budget_minutes,
        "burden_ratio": round(minutes / budget_minutes, 3) if budget_minutes else None,
    }


def response_kpis(items: Sequence[ItemLike], *, start: date, end: date, as_of: date) -> dict[str, Any]:
    """Return how fast our side closed what it owed the partner in the period (days, and still open)."""
    answered = [
        (i.done_at.date() - i.created_at.date()).days
        for i in items
        if i.owner_side == "ours" and i.done_at is not None and start <= i.done_at.date() <= min(end, as_of)
        for _ in range(_n(i))
    ]
    waiting = [
        (as_of - i.created_at.date()).days
        for i in items
        if i.owner_side == "ours" and i.status == ItemStatus.open.value and i.due_on < as_of
        for _ in range(_n(i))
    ]
    return {
        "answered": len(answered),
        "response_days_avg": round(sum(answered) / len(answered), 1) if answered else None,
        "response_days_worst": max(answered, default=None),
        "waiting": len(waiting),
        "waiting_days_worst": max(waiting, default=None),
    }
