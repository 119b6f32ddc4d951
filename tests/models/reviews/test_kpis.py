"""KPIs for hand-built cases with known answers: days-to-pay from delivery, late share, limits, interest."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from models.reviews.kpis import checklist_kpis, jurisdiction_for, late_interest, payment_kpis, response_kpis

Q4 = {"start": date(2026, 10, 1), "end": date(2026, 12, 31), "as_of": date(2027, 1, 5)}


@dataclass
class Inv:
    invoice_id: str
    delivered_on: date
    paid_on: date | None
    amount_minor: int = 1_000_000
    currency: str = "CNY"


@dataclass
class Item:
    owner_side: str
    status: str
    due_on: date
    effort_minutes: int = 0
    stage: str = "review"
    period: str = "2026Q4"
    created_at: datetime = datetime(2026, 10, 2, tzinfo=UTC)
    done_at: datetime | None = None
    asked_on: date | None = None


@dataclass
class Counted(Item):
    """An item standing for `n` identical ones, as the sweep's grouped query returns them."""

    n: int = 1


def days_after(day: date, n: int) -> date:
    return day + timedelta(days=n)


def test_china_sme_late_payment_counts_from_delivery_with_daily_interest() -> None:
    law = jurisdiction_for("CN", "small")
    assert law is not None and law.limit_days == 60
    delivered = date(2026, 9, 1)
    invoices = [
        Inv("on-time", delivered, days_after(delivered, 45)),  # paid in Q4, 45 days: on time
        Inv("late", delivered, days_after(delivered, 75)),  # 15 days beyond 60
        Inv("unpaid-late", date(2026, 9, 20), None),  # 107 days at as-of: late and still unpaid
        Inv("unpaid-young", date(2026, 12, 20), None),  # 16 days: not yet due, not counted
        Inv("paid-last-quarter", date(2026, 7, 1), date(2026, 8, 15)),  # another period
    ]
    kpis = payment_kpis(invoices, term_days=60, law=law, **Q4)
    assert kpis["invoices"] == 3 and kpis["paid"] == 2 and kpis["unpaid_late"] == 1
    assert kpis["days_to_pay_avg"] == 60.0  # (45 + 75) / 2, paid ones only
    assert kpis["days_to_pay_worst"] == 107
    assert kpis["late"] == 2 and kpis["late_share"] == round(2 / 3, 3)
    assert kpis["beyond_legal_limit"] == 2
    # 0.05% a day: 15 days and 47 days on 10,000.00 CNY = 75.00 + 235.00 CNY
    assert kpis["late_interest_minor"] == {"CNY": 7_500 + 23_500}
    assert [i["invoice_id"] for i in kpis["late_invoices"]] == ["unpaid-late", "late"]


def test_contract_term_shorter_than_the_eu_limit_makes_late_but_not_beyond_the_limit() -> None:
    law = jurisdiction_for("DE", "micro")
    assert law is not None and law.id == "eu-late-payment"
    delivered = date(2026, 10, 1)
    kpis = payment_kpis(
        [Inv("a", delivered, days_after(delivered, 40), amount_minor=365_000, currency="EUR")],
        term_days=30,
        law=law,
        **Q4,
    )
    assert kpis["due_days"] == 30 and kpis["late"] == 1 and kpis["beyond_legal_limit"] == 0
    # 10.15% a year on 3,650.00 EUR for 10 days = 10.15 EUR, plus the EUR 40 recovery fee
    assert kpis["late_interest_minor"] == {"EUR": 1_015 + 4_000}


def test_large_partner_and_non_eu_partner_have_no_legal_limit() -> None:
    assert jurisdiction_for("CN", "large") is None
    assert jurisdiction_for("US", "small") is None
    assert jurisdiction_for("NO", "small") is not None  # EEA, and YAML's "NO" is not false
    kpis = payment_kpis([Inv("a", date(2026, 9, 1), date(2026, 12, 10))], term_days=90, law=None, **Q4)
    assert kpis["due_days"] == 90 and kpis["late"] == 1 and kpis["legal_limit_days"] is None
    assert kpis["late_interest_minor"] == {} and kpis["beyond_legal_limit"] == 0
    assert late_interest(100, "CNY", 0, jurisdiction_for("CN", "small")) == {}


def test_no_invoices_means_no_payment_data_not_a_perfect_score() -> None:
    kpis = payment_kpis([], term_days=60, law=None, **Q4)
    assert kpis["invoices"] == 0 and kpis["late_share"] is None and kpis["days_to_pay_avg"] is None


def test_checklist_completion_overdue_by_side_and_partner_burden() -> None:
    as_of = Q4["as_of"]
    items = [
        Item("ours", "done", date(2026, 12, 1), done_at=datetime(2026, 11, 1, tzinfo=UTC)),
        Item("partner", "open", date(2026, 12, 1), effort_minutes=20),
        Item("ours", "open", date(2026, 12, 15)),
        Item("joint", "waived", date(2026, 12, 15), effort_minutes=30),
        Item("partner", "open", date(2027, 2, 1), effort_minutes=10),  # not yet due
        Item(
            "partner",
            "done",
            date(2026, 5, 1),
            effort_minutes=60,
            stage="onboarding",
            period="",
            created_at=datetime(2026, 4, 1, tzinfo=UTC),
        ),  # asked in another period
        Item(
            "partner",
            "done",
            date(2026, 11, 1),
            effort_minutes=25,
            stage="governance",
            period="",
            created_at=datetime(2026, 4, 1, tzinfo=UTC),  # stored long before it was asked
            asked_on=date(2026, 10, 12),
        ),  # asked in the period: its minutes count whatever its stage
    ]
    kpis = checklist_kpis(
        items, period="2026Q4", start=Q4["start"], end=Q4["end"], as_of=as_of, budget_minutes=40
    )
    assert kpis["items_past_due"] == 6 and kpis["completion"] == round(4 / 6, 3)
    assert (kpis["overdue_items"], kpis["overdue_ours"], kpis["overdue_partner"]) == (2, 1, 1)
    assert kpis["burden_minutes"] == 85 and kpis["burden_ratio"] == round(85 / 40, 3)


def test_response_time_is_days_from_asked_to_closed_for_what_our_side_owes() -> None:
    asked = datetime(2026, 10, 2, tzinfo=UTC)
    items = [
        Item("ours", "done", date(2026, 10, 20), created_at=asked, done_at=asked + timedelta(days=4)),
        Item("ours", "done", date(2026, 10, 20), created_at=asked, done_at=asked + timedelta(days=10)),
        Item("partner", "done", date(2026, 10, 20), created_at=asked, done_at=asked + timedelta(days=30)),
        Item("ours", "open", date(2026, 12, 1), created_at=asked),
    ]
    kpis = response_kpis(items, start=Q4["start"], end=Q4["end"], as_of=Q4["as_of"])
    assert kpis["answered"] == 2 and kpis["response_days_avg"] == 7.0 and kpis["response_days_worst"] == 10
    assert kpis["waiting"] == 1 and kpis["waiting_days_worst"] == 95


def test_grouped_items_count_as_many_identical_items() -> None:
    """The sweep reads identical items as one entry with a count: the KPIs must not change."""
    asked = datetime(2026, 10, 2, tzinfo=UTC)
    one = [
        Item("ours", "open", date(2026, 12, 1), created_at=asked, effort_minutes=0),
        Item("partner", "open", date(2027, 2, 1), created_at=asked, effort_minutes=15),
        Item("ours", "done", date(2026, 10, 20), created_at=asked, done_at=asked + timedelta(days=6)),
    ]
    counts = (3, 4, 2)
    expanded = [item for item, n in zip(one, counts, strict=True) for _ in range(n)]
    grouped = [Counted(**asdict(item), n=n) for item, n in zip(one, counts, strict=True)]
    args: dict[str, Any] = {**Q4, "period": "2026Q4", "budget_minutes": 40}
    kpis = checklist_kpis(grouped, **args)
    assert kpis == checklist_kpis(expanded, **args)
    assert kpis["burden_minutes"] == 60 and kpis["overdue_ours"] == 3 and kpis["items_past_due"] == 5
    window = {"start": Q4["start"], "end": Q4["end"], "as_of": Q4["as_of"]}
    assert response_kpis(grouped, **window) == response_kpis(expanded, **window)
    assert (
        response_kpis(grouped, **window)["answered"] == 2 and response_kpis(grouped, **window)["waiting"] == 3
    )
