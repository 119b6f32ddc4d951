"""KPIs for hand-built cases with known answers: days-to-pay by each invoice's clock, late share, interest."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from models.payments.clock import Terms, check_terms, invoice_clock
from models.payments.law import jurisdiction_for
from models.reviews.kpis import checklist_kpis, payment_kpis, response_kpis

Q4 = {"start": date(2026, 10, 1), "end": date(2026, 12, 31), "as_of": date(2027, 1, 5)}


@dataclass
class Inv:
    invoice_id: str
    delivered_on: date
    paid_on: date | None
    amount_minor: int = 1_000_000
    currency: str = "CNY"
    disputed_minor: int = 0
    accepted_on: date | None = None
    settled_on: date | None = None
    payment_method: str = "cash"
    matures_on: date | None = None

    @property
    def invoiced_on(self) -> date:
        return self.delivered_on


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


def kpis_of(invoices: list[Inv], terms: Terms, country: str, size: str, **extra: Any) -> dict[str, Any]:
    law = jurisdiction_for(country, size)
    check = check_terms(terms, law)
    clocks = [invoice_clock(i, terms, law, as_of=Q4["as_of"], check=check) for i in invoices]
    return payment_kpis(clocks, check=check, **Q4, **extra)


def test_china_sme_late_payment_counts_from_delivery_with_daily_interest() -> None:
    delivered = date(2026, 9, 1)
    invoices = [
        Inv("on-time", delivered, days_after(delivered, 45)),  # paid in Q4, 45 days: on time
        Inv("late", delivered, days_after(delivered, 75)),  # 15 days after the due date
        Inv("unpaid-late", date(2026, 9, 20), None),  # 107 days at as-of: late and still unpaid
        Inv("unpaid-young", date(2026, 12, 20), None),  # 16 days: not yet due, not counted
        Inv("paid-last-quarter", date(2026, 7, 1), date(2026, 8, 15)),  # another period
    ]
    kpis = kpis_of(invoices, Terms(60), "CN", "small")
    assert kpis["invoices"] == 3 and kpis["paid"] == 2 and kpis["unpaid_late"] == 1
    assert kpis["days_to_pay_avg"] == 60.0  # (45 + 75) / 2, paid ones only
    assert kpis["days_to_pay_worst"] == 107
    assert kpis["late"] == 2 and kpis["late_share"] == round(2 / 3, 3) and kpis["late_by_law"] == 2
    assert (kpis["due_days"], kpis["default_days"], kpis["cap_days"], kpis["term_finding"]) == (
        60,
        60,
        None,
        None,
    )
    # 0.05% a day: 15 days and 47 days on 10,000.00 CNY = 75.00 + 235.00 CNY
    assert kpis["late_interest_minor"] == {"CNY": 7_500 + 23_500}
    assert [i["invoice_id"] for i in kpis["late_invoices"]] == ["unpaid-late", "late"]
    assert (
        kpis["late_invoices"][0]["due_on"] == "2026-11-19"
        and kpis["late_invoices"][0]["started_by"] == "delivery"
    )


def test_a_term_above_the_default_is_a_finding_not_lateness_for_an_enterprise_buyer() -> None:
    delivered = date(2026, 9, 1)
    kpis = kpis_of([Inv("a", delivered, days_after(delivered, 75))], Terms(75), "CN", "small")
    assert (kpis["late"], kpis["late_by_law"], kpis["term_finding"], kpis["due_days"]) == (
        0,
        0,
        "needs_justification",
        75,
    )
    public = kpis_of(
        [Inv("a", delivered, days_after(delivered, 75))], Terms(75, buyer_type="public_body"), "CN", "small"
    )
    assert (public["late"], public["late_by_law"], public["term_finding"], public["due_days"]) == (
        1,
        1,
        "beyond_cap",
        60,
    )


def test_contract_term_shorter_than_the_eu_default_makes_late_with_the_recovery_fee() -> None:
    delivered = date(2026, 10, 1)
    kpis = kpis_of(
        [Inv("a", delivered, days_after(delivered, 40), amount_minor=365_000, currency="EUR")],
        Terms(30),
        "DE",
        "micro",
    )
    assert kpis["due_days"] == 30 and kpis["late"] == 1 and kpis["late_by_law"] == 1
    assert kpis["jurisdiction"] == "eu-late-payment" and kpis["term_finding"] is None
    # 10.15% a year (2.15 + 8; the table ends at 2026H1, so its rate is assumed for 2026H2) on
    # 3,650.00 EUR for 10 days = 10.15 EUR, plus the EUR 40 recovery fee
    assert kpis["late_interest_minor"] == {"EUR": 1_015 + 4_000}


def test_disputes_bills_awaiting_clocks_and_protected_requests_are_reported() -> None:
    delivered = date(2026, 9, 1)
    invoices = [
        Inv("disputed", delivered, None, disputed_minor=300_000),  # 7,000.00 overdue, 3,000.00 disputed
        Inv("bill", delivered, date(2026, 10, 20), payment_method="bill", matures_on=date(2027, 1, 1)),
        Inv("awaiting", date(2026, 12, 1), None),
    ]
    terms = Terms(60, basis="settlement")
    invoices[0].settled_on = invoices[1].settled_on = delivered
    kpis = kpis_of(invoices, terms, "CN", "small", requests=(2, 1))
    assert kpis["disputed_invoices"] == 1 and kpis["disputed_minor"] == {"CNY": 300_000}
    assert kpis["noncash_stretch"] == 1 and kpis["noncash_invoices"][0]["stretch_days"] == 62  # due 10-31
    assert kpis["awaiting_start"] == 1 and kpis["basis"] == "settlement"
    assert (kpis["requests_open"], kpis["requests_overdue"]) == (2, 1)
    # The disputed invoice: 7,000.00 late from 2026-10-31 to 2027-01-05 = 66 days x 350 fen
    assert kpis["late_interest_minor"] == {"CNY": 66 * 350}


def test_large_partner_and_non_eu_partner_have_no_payment_law() -> None:
    assert jurisdiction_for("CN", "large") is None and jurisdiction_for("US", "small") is None
    assert jurisdiction_for("NO", "small") is not None  # EEA, and YAML's "NO" is not false
    delivered = date(2026, 9, 1)
    kpis = kpis_of([Inv("a", delivered, days_after(delivered, 75))], Terms(60), "US", "small")
    assert kpis["late"] == 1 and kpis["late_by_law"] == 0 and kpis["late_interest_minor"] == {}
    assert kpis["jurisdiction"] is None and kpis["default_days"] is None


def test_no_invoices_means_no_payment_data_not_a_perfect_score() -> None:
    kpis = kpis_of([], Terms(60), "CN", "small")
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
    # A statement to confirm asks the partner's time from the same budget.
    more = checklist_kpis(
        items,
        period="2026Q4",
        start=Q4["start"],
        end=Q4["end"],
        as_of=as_of,
        budget_minutes=40,
        other_asks_minutes=8,
    )
    assert (more["burden_minutes"], more["burden_other_minutes"]) == (93, 8)
    assert more["burden_ratio"] == round(93 / 40, 3)


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
