"""The payment clock at every boundary, with answers computed by hand in each test's comments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from models.core.errors import InputRejected
from models.payments.clock import Terms, check_terms, half_years, invoice_clock
from models.payments.law import jurisdiction_for, parse_law, payment_law

CN = jurisdiction_for("CN", "small")
DE = jurisdiction_for("DE", "micro")
DELIVERED = date(2026, 3, 2)  # + 60 days = 2026-05-01 (29 days left in March, 30 in April, 1 in May)
TENK = 1_000_000  # 10,000.00 CNY in fen: 0.05% a day is 500 fen


@dataclass
class Inv:
    invoice_id: str = "INV-1"
    delivered_on: date = DELIVERED
    invoiced_on: date = DELIVERED
    accepted_on: date | None = None
    settled_on: date | None = None
    paid_on: date | None = None
    payment_method: str = "cash"
    matures_on: date | None = None
    amount_minor: int = TENK
    disputed_minor: int = 0
    currency: str = "CNY"


def day(n: int, start: date = DELIVERED) -> date:
    return start + timedelta(days=n)


def test_the_shipped_law_loads_and_names_every_rule_in_both_languages() -> None:
    assert CN is not None and DE is not None and jurisdiction_for("CN", "large") is None
    assert CN.buyer("enterprise").default_days == 60 and CN.buyer("enterprise").cap_days is None
    assert (CN.buyer("public_body").default_days, CN.buyer("public_body").cap_days) == (30, 60)
    assert CN.clock.acceptance.article == "Art. 10" and CN.clock.settlement is not None
    assert CN.interest.article == "Art. 17" and CN.confirmation is not None and CN.confirmation.days == 30
    assert DE.fixed_fee is not None and DE.fixed_fee.minor == 4000 and DE.clock.settlement is None
    for law in payment_law().jurisdictions:
        assert all(text.strip() for text in law.interest.text.values()) and set(law.interest.text) == {
            "en",
            "zh-CN",
        }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "default_days: 60\n        cap_days: null",
            "default_days: 60\n        cap_days: 20",
        ),  # cap below default
        ("floor_rates: lpr_1y", "floor_rates: lpr_2y"),  # unknown rate table
        ('{from: 2025-07-01, percent: "2.15"}', '{from: 2025-08-01, percent: "2.15"}'),  # not a half-year
        ('        zh-CN: "大型企业应当', '        fr: "大型企业应当'),  # a language missing
    ],
)
def test_a_bad_law_table_is_refused_on_load(change: str, message: str) -> None:
    from importlib import resources

    text = (resources.files("models.payments") / "payment_law.yaml").read_text(encoding="utf-8")
    assert change in text
    with pytest.raises(InputRejected) as caught:
        parse_law(text.replace(change, message, 1))
    assert caught.value.problems and all(
        p.where.startswith("payment_law.yaml") for p in caught.value.problems
    )


@pytest.mark.parametrize(
    ("paid_after", "state", "days_late", "interest"),
    [(59, "paid", 0, {}), (60, "paid", 0, {}), (61, "paid_late", 1, {"CNY": 500})],
)
def test_day_59_60_61_from_delivery(
    paid_after: int, state: str, days_late: int, interest: dict[str, int]
) -> None:
    clock = invoice_clock(Inv(paid_on=day(paid_after)), Terms(60), CN, as_of=date(2026, 6, 30))
    assert (clock.started_by, clock.started_on, clock.due_on) == ("delivery", DELIVERED, date(2026, 5, 1))
    assert (clock.state, clock.days_late, clock.days_to_pay, clock.interest_minor) == (
        state,
        days_late,
        paid_after,
        interest,
    )


def test_unpaid_on_day_61_is_overdue_with_a_day_of_interest() -> None:
    clock = invoice_clock(Inv(), Terms(60), CN, as_of=day(61))
    assert (clock.state, clock.days_late, clock.interest_minor, clock.interest_basis) == (
        "overdue",
        1,
        {"CNY": 500},
        "daily",
    )
    assert invoice_clock(Inv(), Terms(60), CN, as_of=day(60)).state == "not_due"


ACCEPTANCE = Terms(60, basis="acceptance", acceptance_days=15)  # agreed period ends 2026-03-17


def test_acceptance_on_time_starts_the_clock_at_acceptance() -> None:
    accepted = date(2026, 3, 10)
    on_time = invoice_clock(
        Inv(accepted_on=accepted, paid_on=date(2026, 5, 9)), ACCEPTANCE, CN, as_of=date(2026, 6, 1)
    )
    assert (on_time.started_by, on_time.started_on, on_time.due_on, on_time.state) == (
        "acceptance",
        accepted,
        date(2026, 5, 9),
        "paid",
    )
    late = invoice_clock(
        Inv(accepted_on=accepted, paid_on=date(2026, 5, 10)), ACCEPTANCE, CN, as_of=date(2026, 6, 1)
    )
    assert (late.state, late.days_late) == ("paid_late", 1)


def test_late_acceptance_does_not_delay_the_clock() -> None:
    # Accepted on 2026-03-25, after the agreed period ended on 2026-03-17: the clock started on the 17th,
    # so the invoice was due on 2026-05-16; paid on 2026-05-20 it is 4 days late (from acceptance it
    # would have looked on time until 2026-05-24).
    clock = invoice_clock(
        Inv(accepted_on=date(2026, 3, 25), paid_on=date(2026, 5, 20)), ACCEPTANCE, CN, as_of=date(2026, 6, 1)
    )
    assert (clock.started_by, clock.started_on, clock.due_on) == (
        "acceptance_period_end",
        date(2026, 3, 17),
        date(2026, 5, 16),
    )
    assert (clock.state, clock.days_late, clock.interest_minor) == ("paid_late", 4, {"CNY": 2000})


def test_the_end_of_the_acceptance_period_starts_the_clock_when_nobody_accepted() -> None:
    waiting = invoice_clock(Inv(), ACCEPTANCE, CN, as_of=date(2026, 3, 16))
    assert (waiting.state, waiting.days_late) == ("awaiting_acceptance", 0)
    overdue = invoice_clock(Inv(), ACCEPTANCE, CN, as_of=date(2026, 5, 17))
    assert (overdue.started_by, overdue.started_on, overdue.due_on) == (
        "acceptance_period_end",
        date(2026, 3, 17),
        date(2026, 5, 16),
    )
    assert (overdue.state, overdue.days_late) == ("overdue", 1)
    # An acceptance recorded after the as-of date had not happened yet at that date.
    later = invoice_clock(Inv(accepted_on=date(2026, 3, 12)), ACCEPTANCE, CN, as_of=date(2026, 3, 11))
    assert later.state == "awaiting_acceptance"


def test_a_settlement_confirmed_late_starts_the_clock_late() -> None:
    settlement = Terms(60, basis="settlement")
    delivered = date(2026, 1, 10)
    settled = date(2026, 3, 20)  # confirmed 69 days after delivery
    before = invoice_clock(
        Inv(delivered_on=delivered, settled_on=settled), settlement, CN, as_of=date(2026, 3, 19)
    )
    assert (before.state, before.started_on, before.due_on) == ("awaiting_settlement", None, None)
    after = invoice_clock(
        Inv(delivered_on=delivered, settled_on=settled), settlement, CN, as_of=date(2026, 4, 1)
    )
    # Day 81 from delivery, but the clock runs from the confirmation: due 2026-05-19, not late.
    assert (after.started_by, after.started_on, after.due_on, after.state) == (
        "settlement",
        settled,
        date(2026, 5, 19),
        "not_due",
    )
    paid = invoice_clock(
        Inv(delivered_on=delivered, settled_on=settled, paid_on=date(2026, 5, 20)),
        settlement,
        CN,
        as_of=date(2026, 6, 1),
    )
    assert (paid.state, paid.days_late, paid.days_to_pay) == ("paid_late", 1, 61)
    # Paid before any statement was confirmed: paid, and never late.
    early = invoice_clock(
        Inv(delivered_on=delivered, paid_on=date(2026, 2, 1)), settlement, CN, as_of=date(2026, 6, 1)
    )
    assert (early.state, early.days_late, early.days_to_pay) == ("paid", 0, None)


def test_a_75_day_term_is_a_finding_for_an_enterprise_and_late_for_a_public_body() -> None:
    paid = Inv(paid_on=day(75))  # 2026-05-16
    enterprise = Terms(75)
    check = check_terms(enterprise, CN)
    assert (check.due_days, check.default_days, check.cap_days, check.finding) == (
        75,
        60,
        None,
        "needs_justification",
    )
    clock = invoice_clock(paid, enterprise, CN, as_of=date(2026, 6, 1))
    assert (clock.due_on, clock.state, clock.days_late) == (date(2026, 5, 16), "paid", 0)
    assert (
        check_terms(Terms(75, justification="seasonal stock: agreed for a 3% higher price"), CN).finding
        == "justified"
    )

    public = Terms(75, buyer_type="public_body")
    check = check_terms(public, CN)
    assert (check.due_days, check.cap_days, check.finding, check.article) == (
        60,
        60,
        "beyond_cap",
        "Art. 9(1)",
    )
    clock = invoice_clock(paid, public, CN, as_of=date(2026, 6, 1))
    # Due at the 60-day maximum (2026-05-01): paid on day 75 is 15 days late, 15 x 500 fen of interest.
    assert (clock.due_on, clock.state, clock.days_late, clock.interest_minor) == (
        date(2026, 5, 1),
        "paid_late",
        15,
        {"CNY": 7500},
    )
    # A public body may agree up to 60 days in China without a finding.
    assert check_terms(Terms(45, buyer_type="public_body"), CN).finding is None


def test_a_partial_dispute_keeps_the_undisputed_part_due_on_time() -> None:
    # 10,000.00 invoiced, 3,000.00 disputed: 7,000.00 is due on 2026-05-01; unpaid on day 70 it is
    # 10 days late, and interest runs on 7,000.00 only: 700,000 x 0.0005 x 10 = 3,500 fen.
    clock = invoice_clock(Inv(disputed_minor=300_000), Terms(60), CN, as_of=day(70))
    assert (clock.due_minor, clock.state, clock.days_late, clock.interest_minor) == (
        700_000,
        "overdue",
        10,
        {"CNY": 3500},
    )
    whole = invoice_clock(Inv(disputed_minor=TENK), Terms(60), CN, as_of=day(70))
    assert (whole.state, whole.days_late, whole.interest_minor) == ("disputed", 0, {})


def test_a_commercial_bill_maturing_180_days_later_is_flagged_as_stretching_the_term() -> None:
    handed = date(2026, 4, 20)  # before the due date, 2026-05-01
    bill = Inv(paid_on=handed, payment_method="bill", matures_on=handed + timedelta(days=180))  # 2026-10-17
    clock = invoice_clock(bill, Terms(60), CN, as_of=date(2026, 11, 1))
    assert (clock.state, clock.days_late, clock.cash_on) == ("paid", 0, date(2026, 10, 17))
    assert clock.stretch_days == 169  # 2026-05-01 to 2026-10-17
    short = Inv(paid_on=handed, payment_method="e_voucher", matures_on=date(2026, 4, 30))
    assert invoice_clock(short, Terms(60), CN, as_of=date(2026, 11, 1)).stretch_days == 0


def test_eu_interest_across_a_half_year_reference_rate_change() -> None:
    # Delivered 2025-05-01, invoiced 2025-05-02: the Directive's period runs from the invoice, so a
    # 30-day term is due on 2025-06-01. Paid on 2025-07-11: 40 days late, 29 in 2025H1 at 3.15 + 8 =
    # 11.15% and 11 in 2025H2 at 2.15 + 8 = 10.15%. On 3,650.00 EUR (1,000 cents a day per 100%):
    # 1000 x 11.15% x 29 = 3,233.5 and 1000 x 10.15% x 11 = 1,116.5, so 4,350 cents, plus EUR 40.
    invoice = Inv(
        delivered_on=date(2025, 5, 1),
        invoiced_on=date(2025, 5, 2),
        paid_on=date(2025, 7, 11),
        amount_minor=365_000,
        currency="EUR",
    )
    clock = invoice_clock(invoice, Terms(30), DE, as_of=date(2025, 8, 1))
    assert (clock.started_by, clock.started_on, clock.due_on, clock.days_late) == (
        "invoice",
        date(2025, 5, 2),
        date(2025, 6, 1),
        40,
    )
    assert (clock.interest_minor, clock.fee_minor, clock.owed_minor) == (
        {"EUR": 4350},
        {"EUR": 4000},
        {"EUR": 8350},
    )
    assert (clock.interest_basis, clock.annual_percent, clock.rate_known) == (
        "reference_plus",
        "11.15/10.15",
        True,
    )
    assert list(half_years(date(2025, 6, 2), date(2025, 7, 11))) == [
        (date(2025, 6, 2), 29),
        (date(2025, 7, 1), 11),
    ]


def test_eu_interest_past_the_rate_table_says_the_rate_was_assumed() -> None:
    invoice = Inv(delivered_on=date(2026, 5, 1), amount_minor=365_000, currency="EUR")
    clock = invoice_clock(invoice, Terms(30), DE, as_of=date(2026, 7, 10))  # 2026H2 is not in the table
    assert clock.days_late == 40 and clock.rate_known is False


def test_an_agreed_rate_applies_but_never_below_the_lpr_at_signing() -> None:
    signed = date(2025, 1, 1)  # one-year LPR then: 3.10%
    late = Inv(paid_on=day(70))  # 10 days late
    agreed = invoice_clock(late, Terms(60, agreed_rate_bp=400, signed_on=signed), CN, as_of=day(80))
    # 1,000,000 x 4.00% x 10 / 365 = 1,095.9 fen
    assert (agreed.interest_minor, agreed.interest_basis, agreed.annual_percent) == (
        {"CNY": 1096},
        "agreed",
        "4.00",
    )
    low = invoice_clock(late, Terms(60, agreed_rate_bp=200, signed_on=signed), CN, as_of=day(80))
    # Raised to the floor: 1,000,000 x 3.10% x 10 / 365 = 849.3 fen
    assert (low.interest_minor, low.interest_basis, low.annual_percent) == ({"CNY": 849}, "lpr_floor", "3.10")


def test_a_large_partner_has_its_contract_term_only() -> None:
    clock = invoice_clock(Inv(paid_on=day(75)), Terms(60), None, as_of=date(2026, 6, 1))
    assert (clock.state, clock.days_late, clock.interest_minor) == ("paid_late", 15, {})
    assert check_terms(Terms(90), None).finding is None
