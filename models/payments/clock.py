"""The payment clock of one invoice, read from the law that applies (pure functions, no database).

What starts the clock (law, contract basis, invoice dates):
- delivery: the delivery date; under Directive 2011/7/EU the later of the invoice and the delivery;
- acceptance agreed: the acceptance date, or the end of the agreed acceptance period when the buyer
  has not accepted by then (it cannot delay the clock by delaying acceptance);
- periodic settlement: the day both sides confirmed the settlement amount (a confirmed statement);
  until then the clock has not started.
The invoice is due `due_days` later: the contract term, capped where the law caps it (public bodies).
A term above the statutory default is a finding for an enterprise buyer (it needs a recorded reason),
not lateness; above a cap it is a breach, and the cap is the due date. The disputed part of an
invoice is outside the clock; the undisputed part is due on time. Interest accrues on the
undisputed part for each day after the due date until it is paid (or to the as-of date).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from models.core.vocabulary import ClockBasis, PaymentMethod
from models.payments.law import Jurisdiction, rate_table


@dataclass(frozen=True)
class Terms:
    """A contract's payment terms as the clock reads them."""

    term_days: int
    buyer_type: str = "enterprise"
    basis: str = ClockBasis.delivery.value
    acceptance_days: int | None = None
    agreed_rate_bp: int | None = None  # agreed late interest, basis points a year
    justification: str | None = None
    signed_on: date | None = None


class InvoiceLike(Protocol):
    """What the clock reads of an invoice (a Payment row, or any object with these names)."""

    invoice_id: str
    delivered_on: date
    invoiced_on: date
    accepted_on: date | None
    settled_on: date | None
    paid_on: date | None
    payment_method: str
    matures_on: date | None
    amount_minor: int
    disputed_minor: int
    currency: str


@dataclass(frozen=True)
class TermCheck:
    """The contract term against the law: the due days it gives, and any finding about it."""

    law_id: str | None
    buyer_type: str
    basis: str
    term_days: int
    default_days: int | None
    cap_days: int | None
    due_days: int
    # needs_justification (enterprise above the default, no reason recorded), justified, beyond_cap.
    finding: str | None
    acceptance_finding: str | None  # the agreed acceptance period above the law's maximum
    article: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {
            "jurisdiction": self.law_id,
            "buyer_type": self.buyer_type,
            "basis": self.basis,
            "term_days": self.term_days,
            "default_days": self.default_days,
            "cap_days": self.cap_days,
            "due_days": self.due_days,
            "term_finding": self.finding,
            "acceptance_finding": self.acceptance_finding,
            "article": self.article,
        }


def check_terms(terms: Terms, law: Jurisdiction | None) -> TermCheck:
    """Compare a contract's term with the law's default and cap for its buyer type."""
    if law is None:
        return TermCheck(
            None,
            terms.buyer_type,
            terms.basis,
            terms.term_days,
            None,
            None,
            terms.term_days,
            None,
            None,
            None,
        )
    rule = law.buyer(terms.buyer_type)
    finding = None
    if rule.cap_days is not None and terms.term_days > rule.cap_days:
        finding = "beyond_cap"
    elif rule.justify_above_default and terms.term_days > rule.default_days:
        finding = "justified" if terms.justification else "needs_justification"
    acceptance = None
    limit = law.clock.acceptance.max_days
    if terms.basis == ClockBasis.acceptance.value and limit and (terms.acceptance_days or 0) > limit:
        acceptance = "justified" if terms.justification else "needs_justification"
    due = min(terms.term_days, rule.cap_days) if rule.cap_days is not None else terms.term_days
    return TermCheck(
        law.id,
        terms.buyer_type,
        terms.basis,
        terms.term_days,
        rule.default_days,
        rule.cap_days,
        due,
        finding,
        acceptance,
        rule.rule.article,
    )


@dataclass(frozen=True)
class InvoiceClock:
    """One invoice's clock at an as-of date: its start, due date, state, and what is owed."""

    invoice_id: str
    currency: str
    amount_minor: int
    disputed_minor: int
    due_minor: int  # the undisputed part: what the clock holds us to
    started_by: str | None  # delivery, invoice, acceptance, acceptance_period_end, settlement
    started_on: date | None
    due_on: date | None
    paid_on: date | None
    payment_method: str
    cash_on: date | None  # when the money is the partner's: the paid date, or a bill's maturity
    stretch_days: int  # a bill or e-voucher paying out this many days after the due date
    days_to_pay: int | None  # from the clock's start to payment
    days_late: int
    state: str  # awaiting_settlement, awaiting_acceptance, disputed, not_due, overdue, paid, paid_late
    interest_minor: dict[str, int] = field(default_factory=dict)  # interest, in the invoice's currency
    fee_minor: dict[str, int] = field(default_factory=dict)  # a fixed recovery fee, e.g. EUR 40
    interest_basis: str | None = None  # agreed, lpr_floor, daily, reference_plus
    annual_percent: str | None = None  # the annual rate applied, where the rate is annual
    rate_known: bool = True  # False: a reference rate past the table's end was assumed unchanged

    @property
    def late(self) -> bool:
        """Say whether the undisputed part was or is paid after its due date."""
        return self.days_late > 0

    @property
    def owed_minor(self) -> dict[str, int]:
        """Return interest and fees owed, per currency."""
        owed = dict(self.interest_minor)
        for currency, minor in self.fee_minor.items():
            owed[currency] = owed.get(currency, 0) + minor
        return owed

    @property
    def unpaid(self) -> bool:
        """Say whether the invoice is unpaid at the as-of date."""
        return self.state in ("awaiting_settlement", "awaiting_acceptance", "disputed", "not_due", "overdue")

    def as_dict(self) -> dict[str, Any]:
        """Return the clock as JSON-ready data."""
        data = dict(self.__dict__, owed_minor=self.owed_minor)
        for name in ("started_on", "due_on", "paid_on", "cash_on"):
            data[name] = data[name].isoformat() if data[name] else None
        return data


# Plain strings: the clock runs for every invoice of every review, and an enum lookup costs more.
_SETTLEMENT, _ACCEPTANCE, _CASH = (
    ClockBasis.settlement.value,
    ClockBasis.acceptance.value,
    PaymentMethod.cash.value,
)


def clock_start(
    inv: InvoiceLike, terms: Terms, law: Jurisdiction | None, *, as_of: date
) -> tuple[str | None, date | None]:
    """Return which event starts the invoice's clock and its date (None before a settlement is confirmed).

    Acceptance and settlement recorded after the as-of date had not happened yet at that date.
    """
    basis = terms.basis
    if basis == _SETTLEMENT and (law is None or law.clock.settlement is not None):
        settled = inv.settled_on if inv.settled_on and inv.settled_on <= as_of else None
        return ("settlement", settled) if settled else (None, None)
    if basis == _ACCEPTANCE:
        period_end = inv.delivered_on + timedelta(days=terms.acceptance_days or 0)
        accepted = inv.accepted_on if inv.accepted_on and inv.accepted_on <= as_of else None
        if accepted is not None and accepted <= period_end:
            event, day = "acceptance", accepted
        else:  # not accepted within the agreed period: the buyer's delay does not delay the clock
            event, day = "acceptance_period_end", period_end
    else:  # delivery, or a settlement basis the law does not know: its delivery rule applies
        event, day = "delivery", inv.delivered_on
    if law is not None and law.clock.delivery.starts_at == "invoice_or_delivery" and inv.invoiced_on > day:
        event, day = "invoice", inv.invoiced_on
    return event, day


def invoice_clock(
    inv: InvoiceLike, terms: Terms, law: Jurisdiction | None, *, as_of: date, check: TermCheck | None = None
) -> InvoiceClock:
    """Return the invoice's clock as of a date: start, due date, state, days late and interest owed."""
    check = check or check_terms(terms, law)
    started_by, started_on = clock_start(inv, terms, law, as_of=as_of)
    due_minor = inv.amount_minor - inv.disputed_minor
    paid = inv.paid_on if inv.paid_on is not None and inv.paid_on <= as_of else None
    cash_on = paid if paid is None or inv.payment_method == _CASH else inv.matures_on
    due_on = started_on + timedelta(days=check.due_days) if started_on else None
    stretch, days_late, owed = 0, 0, _NOTHING_OWED
    if due_on is None or started_on is None:  # paid before the settlement was confirmed: paid, not late
        state = "paid" if paid else "awaiting_settlement"
    elif paid is None and started_by == "acceptance_period_end" and as_of < started_on:
        state = "awaiting_acceptance"
    else:
        end = paid or as_of
        days_late = max(0, (end - due_on).days) if due_minor > 0 else 0
        if paid is not None:
            state = "paid_late" if days_late else "paid"
            stretch = max(0, (cash_on - due_on).days) if cash_on and cash_on != paid else 0
        else:
            state = "overdue" if days_late else "disputed" if due_minor == 0 else "not_due"
        if days_late:
            owed = late_interest(
                due_minor,
                inv.currency,
                due_on=due_on,
                end=end,
                law=law,
                terms=terms,
                delivered_on=inv.delivered_on,
            )
    return InvoiceClock(
        invoice_id=inv.invoice_id,
        currency=inv.currency,
        amount_minor=inv.amount_minor,
        disputed_minor=inv.disputed_minor,
        due_minor=due_minor,
        started_by=started_by,
        started_on=started_on,
        due_on=due_on,
        paid_on=paid,
        payment_method=inv.payment_method,
        cash_on=cash_on,
        stretch_days=stretch,
        days_to_pay=(paid - started_on).days if paid and started_on and state.startswith("paid") else None,
        days_late=days_late,
        state=state,
        interest_minor=owed.minor,
        fee_minor=owed.fee,
        interest_basis=owed.basis,
        annual_percent=owed.annual_percent,
        rate_known=owed.rate_known,
    )


@dataclass(frozen=True)
class Owed:
    """Interest (and any fixed fee) owed on one late invoice, per currency, and how it was computed."""

    minor: dict[str, int] = field(default_factory=dict)
    fee: dict[str, int] = field(default_factory=dict)
    basis: str | None = None
    annual_percent: str | None = None
    rate_known: bool = True


_NOTHING_OWED = Owed()  # shared by every clock with nothing owed: never mutate a clock's dicts


def late_interest(
    due_minor: int,
    currency: str,
    *,
    due_on: date,
    end: date,
    law: Jurisdiction | None,
    terms: Terms,
    delivered_on: date,
) -> Owed:
    """Return the interest the law gives on an undisputed amount paid (or unpaid) from due_on to end."""
    days = (end - due_on).days
    if law is None or days <= 0 or due_minor <= 0:
        return Owed()
    rule = law.interest
    known = True
    if rule.method == "agreed_or_daily" and terms.agreed_rate_bp is None:
        accrued, basis, annual = Decimal(due_minor) * (rule.daily_rate or Decimal(0)) * days, "daily", None
    elif rule.method == "agreed_or_daily":
        agreed = Decimal(terms.agreed_rate_bp or 0) / 100
        floor, known = rate_table(rule.floor_rates or "").at(terms.signed_on or delivered_on)
        rate = max(agreed, floor)
        basis = "agreed" if agreed >= floor else "lpr_floor"  # an agreed rate may not be below the floor
        accrued, annual = Decimal(due_minor) * rate / 100 * days / rule.day_count, f"{rate:.2f}"
    else:
        accrued, known, annual = _reference_interest(
            due_minor, due_on, end, rule.reference_rates or "", rule.points or Decimal(0), rule.day_count
        )
        basis = "reference_plus"
    owed = {currency: int(accrued.quantize(Decimal(1), rounding=ROUND_HALF_UP))}
    fee = {law.fixed_fee.currency: law.fixed_fee.minor} if law.fixed_fee is not None else {}
    return Owed(owed, fee, basis, annual, known)


def _reference_interest(
    due_minor: int, due_on: date, end: date, table_name: str, points: Decimal, day_count: int
) -> tuple[Decimal, bool, str]:
    """Accrue reference rate + points day by day, the rate of each half-year fixed on its first day."""
    table = rate_table(table_name)
    accrued, known, rates = Decimal(0), True, []
    for first, days in half_years(due_on + timedelta(days=1), end):
        reference, found = table.at(_half_year_start(first))
        known = known and found
        rate = reference + points
        rates.append(f"{rate:.2f}")
        accrued += Decimal(due_minor) * rate / 100 * days / day_count
    return accrued, known, "/".join(dict.fromkeys(rates))


def _half_year_start(day: date) -> date:
    return date(day.year, 1 if day.month < 7 else 7, 1)


def half_years(first: date, last: date) -> Iterator[tuple[date, int]]:
    """Split the days first..last (inclusive) at each 1 January and 1 July: (first day, days) per part."""
    day = first
    while day <= last:
        following = date(day.year, 7, 1) if day.month < 7 else date(day.year + 1, 1, 1)
        part_end = min(last, following - timedelta(days=1))
        yield day, (part_end - day).days + 1
        day = following
