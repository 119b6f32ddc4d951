"""Two-way KPIs of one relationship for one review period: how we pay, what we ask, how fast we answer.

Definitions (also in docs/PAYMENTS.md, docs/BENCHMARKS.md and `tandem review show`):
- each invoice has a payment clock (models/payments/clock.py): it starts at delivery, acceptance (or
  the end of the agreed acceptance period) or the confirmed settlement, as the contract and the law
  say; the invoice is due the contract term later, capped where the law caps it (public bodies);
- days-to-pay runs from the clock's start to the paid date; an invoice is late when its undisputed
  part is paid, or still unpaid at the as-of date, after its due date;
- an invoice counts in a period if it was paid in the period, or if it is still unpaid at the as-of
  date and already late (it then counts in every period until paid, at its age so far);
- late interest is what the applicable rule gives on those late invoices (agreed rate with its floor,
  0.05% a day, or reference rate + 8 points and EUR 40), per currency, in minor units;
- the partner's time asked counts checklist items and the statements it is asked to confirm;
- response time is a proxy until the partner portal records partner requests: an item owed by our
  side is what the partner waits on; we measure days from it being asked to it being closed;
- partner burden is the partner minutes asked in the period, every stage counted (a review's items
  by their review period, other stages' by the day they were asked), against that period's whole
  budget: the budgets of the stages planned in it, so a first review after onboarding compares
  onboarding, governance and review minutes with their three budgets together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol

from models.payments.clock import InvoiceClock, TermCheck
from models.tables.checklist import ItemStatus

LATE_LIST_LIMIT = 20  # invoices named in a review pack; the counts cover all of them
AWAITING = ("awaiting_settlement", "awaiting_acceptance")


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


def is_overdue(clock: InvoiceClock) -> bool:
    """Say whether an invoice is unpaid past its due date by its clock: the one overdue decision, which the
    KPIs count and the `payment.overdue` event announces."""
    return clock.state == "overdue" and clock.started_on is not None


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for currency, minor in more.items():
        total[currency] = total.get(currency, 0) + minor


def payment_kpis(
    clocks: Sequence[InvoiceClock],
    *,
    check: TermCheck,
    start: date,
    end: date,
    as_of: date,
    requests: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """Return days-to-pay, lateness and interest by each invoice's clock, the term check and disputes.

    `requests` is (open, past their answer-by date) of the partner's payment and confirmation
    requests: protected (Art. 20), reported for our follow-up and never scored against the partner.
    """
    paid_days: list[int] = []
    counted: list[tuple[InvoiceClock, int, bool]] = []  # clock, days so far, still unpaid
    for c in clocks:
        if c.paid_on is not None and c.days_to_pay is not None and start <= c.paid_on <= min(end, as_of):
            paid_days.append(c.days_to_pay)
            counted.append((c, c.days_to_pay, False))
        elif is_overdue(c) and c.started_on is not None:  # an overdue clock has started
            counted.append((c, (as_of - c.started_on).days, True))
    late = [(c, unpaid) for c, _, unpaid in counted if c.late]
    interest: dict[str, int] = {}
    for c, _ in late:
        _add(interest, c.owed_minor)
    in_period = {id(c) for c, _, _ in counted}
    shown = [c for c in clocks if c.unpaid or id(c) in in_period]
    disputed: dict[str, int] = {}
    for c in shown:
        if c.disputed_minor:
            _add(disputed, {c.currency: c.disputed_minor})
    stretched = [c for c, _, unpaid in counted if not unpaid and c.stretch_days > 0]
    return {
        "invoices": len(counted),
        "paid": len(paid_days),
        "unpaid_late": sum(1 for _, unpaid in late if unpaid),
        "days_to_pay_avg": round(sum(paid_days) / len(paid_days), 1) if paid_days else None,
        "days_to_pay_worst": max((days for _, days, _ in counted), default=None),
        "late": len(late),
        "late_share": round(len(late) / len(counted), 3) if counted else None,
        "late_by_law": len(late) if check.law_id else 0,
        **check.as_dict(),
        "late_interest_minor": dict(sorted(interest.items())),
        "disputed_invoices": sum(1 for c in shown if c.disputed_minor),
        "disputed_minor": dict(sorted(disputed.items())),
        "noncash_stretch": len(stretched),
        "awaiting_start": sum(1 for c in clocks if c.state in AWAITING),
        "requests_open": requests[0],
        "requests_overdue": requests[1],
        "late_invoices": [
            {
                "invoice_id": c.invoice_id,
                "days_late": c.days_late,
                "unpaid": unpaid,
                "started_by": c.started_by,
                "started_on": c.started_on.isoformat() if c.started_on else None,
                "due_on": c.due_on.isoformat() if c.due_on else None,
            }
            for c, unpaid in sorted(late, key=lambda x: -x[0].days_late)[:LATE_LIST_LIMIT]
        ],
        "noncash_invoices": [
            {"invoice_id": c.invoice_id, "method": c.payment_method, "stretch_days": c.stretch_days}
            for c in stretched[:LATE_LIST_LIMIT]
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
    other_asks_minutes: int = 0,
) -> dict[str, Any]:
    """Return checklist completion, overdue items by side, and partner burden against the budget.

    `budget_minutes` is the period's whole budget: every stage planned in it (see the module's notes).
    `other_asks_minutes` is the partner's time asked outside the checklist in the period (statements
    to confirm): it counts against the same budget.
    """
    past_due = [i for i in items if i.due_on < as_of]
    overdue = [i for i in past_due if i.status == ItemStatus.open.value]
    due_count, overdue_count = sum(map(_n, past_due)), sum(map(_n, overdue))
    asked = [i for i in items if _asked_in(i, period=period, start=start, end=end)]
    minutes = sum(i.effort_minutes * _n(i) for i in asked) + other_asks_minutes  # scorecard is an item too
    return {
        "items_past_due": due_count,
        "completion": round((due_count - overdue_count) / due_count, 3) if due_count else None,
        "overdue_items": overdue_count,
        "overdue_ours": sum(_n(i) for i in overdue if i.owner_side == "ours"),
        "overdue_partner": sum(_n(i) for i in overdue if i.owner_side == "partner"),
        "overdue_joint": sum(_n(i) for i in overdue if i.owner_side == "joint"),
        "burden_minutes": minutes,
        "burden_other_minutes": other_asks_minutes,
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
