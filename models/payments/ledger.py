"""Payments to partners: add one, or import a CSV export (validated whole, nothing written on error).

Every field is checked here exactly as the payment clock reads it (models/payments/clock.py): dates
in order and not in the future, a bill or e-voucher with its maturity, a disputed part no larger than
the invoice, a 20-digit e-invoice (数电票) number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlmodel import Session, col, select

from models.core import audit
from models.core.base import id_of, utcnow
from models.core.calendar import today_local
from models.core.csvfiles import Record, read_csv
from models.core.errors import Conflict, InputRejected, Problem
from models.core.validation import (
    MAX_AMOUNT,
    SingleLine,
    currency_code,
    problems_from,
    read_upload,
    record_id,
)
from models.core.vocabulary import PaymentMethod
from models.lifecycle.relationships import find_relationship
from models.tables import Payment, Relationship

# Currencies without minor units (ISO 4217 exponent 0); every other currency has two decimals.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "ISK", "CLP", "HUF"})
REQUIRED_COLUMNS = ("invoice_id", "relationship", "delivered_on", "invoiced_on", "amount", "currency")
OPTIONAL_COLUMNS = (
    "paid_on",
    "accepted_on",
    "settled_on",
    "payment_method",
    "matures_on",
    "disputed_amount",
    "e_invoice_no",
)
COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
E_INVOICE = re.compile(r"[0-9]{20}")  # a fully digital e-invoice (数电票) number: ASCII digits only


def e_invoice_number(value: str | None) -> str | None:
    """Return a 数电票 number (20 ASCII digits) unchanged, or raise ValueError."""
    if value is not None and not E_INVOICE.fullmatch(value):
        raise ValueError("an e-invoice (数电票) number is 20 digits")
    return value


def to_minor(amount: str | Decimal | int, currency: str) -> int:
    """Convert an amount like `1234.50` into minor units of its currency, refusing extra decimals."""
    try:
        value = Decimal(str(amount).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(f"{amount!r} is not an amount like 1234.50") from exc
    if not value.is_finite():  # NaN, Infinity
        raise ValueError(f"{amount!r} is not an amount like 1234.50")
    if value < 0:
        raise ValueError("amount cannot be negative")
    if value > MAX_AMOUNT:
        raise ValueError(f"amount must be at most {MAX_AMOUNT:,}")
    exponent = 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount!r} has more than {exponent} decimal(s) for {currency.upper()}")
    return int(minor)


def from_minor(minor: int, currency: str) -> str:
    """Format minor units as a plain amount in its currency, e.g. `1234.50`."""
    exponent = 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    return f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"


class PaymentCreate(BaseModel):
    """One invoice and its payment, as given at a boundary (CLI flags or a CSV row).

    Fields are declared in the order their checks need: each may compare itself with earlier ones.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    invoice_id: SingleLine = Field(min_length=1, max_length=64)
    relationship: SingleLine = Field(min_length=1, max_length=120, description="Relationship id or key.")
    delivered_on: date
    invoiced_on: date
    currency: str = Field(min_length=3, max_length=3)
    amount: str = Field(description="Amount in currency units, e.g. 1234.50.")
    paid_on: date | None = None
    accepted_on: date | None = Field(default=None, description="Inspection or acceptance passed.")
    settled_on: date | None = Field(default=None, description="Settlement amount confirmed by both sides.")
    payment_method: PaymentMethod | None = Field(default=None, description="cash, bill or e_voucher.")
    matures_on: date | None = Field(default=None, description="When a bill or e-voucher pays out.")
    disputed_amount: str | None = Field(default=None, description="The disputed part, e.g. 300.00.")
    e_invoice_no: str | None = Field(default=None, max_length=20, description="数电票 number (20 digits).")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return currency_code(value)

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str, info: ValidationInfo) -> str:
        to_minor(value, info.data.get("currency") or "XXX")
        return value

    @field_validator(*OPTIONAL_COLUMNS, mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("payment_method", mode="before")
    @classmethod
    def _method_lower(cls, value: Any) -> Any:
        return value.strip().lower().replace("-", "_") if isinstance(value, str) else value

    @field_validator("paid_on", "accepted_on", "settled_on")
    @classmethod
    def _after_delivery(cls, value: date | None, info: ValidationInfo) -> date | None:
        delivered = info.data.get("delivered_on")
        what = {"paid_on": "paid", "accepted_on": "accepted", "settled_on": "settled"}[info.field_name or ""]
        if value is not None and delivered is not None and value < delivered:
            raise ValueError(f"{what} before delivery ({delivered})")
        if value is not None and value > today_local():
            raise ValueError(f"{what} date is in the future")
        return value

    @field_validator("payment_method")
    @classmethod
    def _method_needs_payment(cls, value: PaymentMethod | None, info: ValidationInfo) -> PaymentMethod | None:
        if value is not None and info.data.get("paid_on") is None and "paid_on" not in _failed(info):
            raise ValueError("a payment method needs the paid date")
        return value

    @field_validator("matures_on")
    @classmethod
    def _maturity(cls, value: date | None, info: ValidationInfo) -> date | None:
        method, paid = info.data.get("payment_method"), info.data.get("paid_on")
        non_cash = method not in (None, PaymentMethod.cash)
        if value is None and non_cash:
            raise ValueError(f"a {method} payment needs its maturity date")  # a StrEnum prints its value
        if value is not None and not non_cash and "payment_method" not in _failed(info):
            raise ValueError("only a bill or e-voucher payment has a maturity date")
        if value is not None and paid is not None and value < paid:
            raise ValueError(f"matures before it was handed over ({paid})")
        return value

    @field_validator("disputed_amount")
    @classmethod
    def _disputed(cls, value: str | None, info: ValidationInfo) -> str | None:
        currency, amount = info.data.get("currency"), info.data.get("amount")
        if value is None or currency is None:
            return value
        disputed = to_minor(value, currency)
        if amount is not None and disputed > to_minor(amount, currency):
            raise ValueError(f"the disputed part is more than the invoice ({amount})")
        return value

    @field_validator("e_invoice_no")
    @classmethod
    def _e_invoice(cls, value: str | None) -> str | None:
        return e_invoice_number(value)

    @property
    def amount_minor(self) -> int:
        """Return the amount in minor units."""
        return to_minor(self.amount, self.currency)

    @property
    def disputed_minor(self) -> int | None:
        """Return the disputed part in minor units, if given."""
        return None if self.disputed_amount is None else to_minor(self.disputed_amount, self.currency)

    @property
    def method(self) -> str | None:
        """Return the payment method as stored: cash unless said otherwise, once paid."""
        if self.payment_method is not None:
            return self.payment_method.value
        return PaymentMethod.cash.value if self.paid_on is not None else None


def _failed(info: ValidationInfo) -> set[str]:
    """Return fields declared before this one that failed (absent from info.data): no second complaint."""
    return {name for name in PaymentCreate.model_fields if name not in info.data} - {info.field_name or ""}


@dataclass
class PaymentPlan:
    """What an import would write (new rows, stored invoices to update) or every problem that stops it."""

    new: list[tuple[int, PaymentCreate, int]] = field(default_factory=list)  # line, row, relationship id
    updated: list[tuple[int, PaymentCreate, Payment, dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def paid(self) -> int:
        """Return how many stored invoices this import records as paid."""
        return sum(1 for *_, changes in self.updated if "paid_on" in changes)


def _row(record: Record, *, unit: str = "line") -> tuple[PaymentCreate | None, list[Problem]]:
    where, values = f"{unit} {record.line}", record.values
    missing = [c for c in REQUIRED_COLUMNS if not values.get(c)]
    problems = [Problem(f"{where}, column {c}", "missing value") for c in missing]
    try:
        return PaymentCreate.model_validate(values), problems
    except ValidationError as exc:
        found = problems_from(exc, where=where, columns=COLUMNS)
        return None, problems + [
            p for p in found if not any(p.where == f"{where}, column {c}" for c in missing)
        ]


def _relationship_ids(session: Session, refs: set[str]) -> dict[str, int]:
    """Resolve relationship references (ids or keys) in two queries."""
    ids = {rid for r in refs if (rid := record_id(r)) is not None}
    found: dict[str, int] = {}
    for rid, key in session.exec(
        select(Relationship.id, Relationship.key).where(
            col(Relationship.id).in_(ids) | col(Relationship.key).in_(refs)
        )
    ):
        assert rid is not None  # a primary key
        if str(rid) in refs:
            found[str(rid)] = rid
        if key in refs:
            found[key] = rid
    return found


def _stored_values(row: PaymentCreate) -> dict[str, Any]:
    """Return the fields a stored invoice may gain later and keeps once set (None: not given)."""
    return {
        "paid_on": row.paid_on,
        "accepted_on": row.accepted_on,
        "settled_on": row.settled_on,
        "payment_method": row.method,
        "matures_on": row.matures_on,
        "e_invoice_no": row.e_invoice_no,
    }


def _compare_stored(line: int, row: PaymentCreate, stored: Payment, plan: PaymentPlan, unit: str) -> None:
    """Plan a row's changes to its stored invoice: fixed fields must match, later ones filled once."""
    where = f"{unit} {line}, column"
    fixed = {
        "delivered_on": (row.delivered_on, stored.delivered_on),
        "invoiced_on": (row.invoiced_on, stored.invoiced_on),
        "amount": (row.amount_minor, stored.amount_minor),
        "currency": (row.currency, stored.currency),
    }
    problems = [
        Problem(f"{where} {name}", f"invoice {row.invoice_id!r} is stored with a different {name}")
        for name, (new, old) in fixed.items()
        if new != old
    ]
    changes: dict[str, Any] = {}
    for name, new in _stored_values(row).items():
        old = getattr(stored, name)
        if name == "payment_method" and stored.paid_on is None:
            old = None  # the stored default means nothing until the invoice is paid
        if new is None or new == old:
            continue
        if old is None:
            changes[name] = new
        else:
            problems.append(
                Problem(f"{where} {name}", f"invoice {row.invoice_id!r} is stored with {name} {old}")
            )
    if row.disputed_minor is not None and row.disputed_minor != stored.disputed_minor:
        changes["disputed_minor"] = row.disputed_minor  # a dispute may be raised, narrowed or settled
    plan.problems += problems
    if problems:
        return
    if changes:
        plan.updated.append((line, row, stored, changes))
    else:
        plan.unchanged += 1


def plan_payments(session: Session, raw: bytes, *, encoding: str | None = None) -> PaymentPlan:
    """Validate a whole payments CSV against itself and the database; write nothing."""
    table, problems = read_csv(raw, columns=COLUMNS, required=REQUIRED_COLUMNS, encoding=encoding)
    plan = PaymentPlan(problems=problems)
    if table is None:
        return plan
    _plan_records(session, plan, table.records, unit="line")
    if not table.records and not plan.problems:
        plan.problems.append(Problem("file", "no data rows"))
    return plan


def plan_payment_rows(session: Session, rows: list[dict[str, str]]) -> PaymentPlan:
    """Validate rows given as data (the API's), numbered from 0, exactly as a file's lines; write nothing."""
    plan = PaymentPlan()
    for index, values in enumerate(rows):
        plan.problems += [
            Problem(f"row {index}, column {name}", "unknown column") for name in values if name not in COLUMNS
        ]
    _plan_records(session, plan, [Record(i, v) for i, v in enumerate(rows)], unit="row")
    return plan


def _plan_records(session: Session, plan: PaymentPlan, records: list[Record], *, unit: str) -> None:
    rows: list[tuple[int, PaymentCreate]] = []
    for record in records:
        parsed, problems = _row(record, unit=unit)
        plan.problems += problems
        if parsed is not None and not problems:
            rows.append((record.line, parsed))
    _check_against_store(session, rows, plan, unit=unit)


def _check_against_store(
    session: Session, rows: list[tuple[int, PaymentCreate]], plan: PaymentPlan, *, unit: str = "line"
) -> None:
    rel_ids = _relationship_ids(session, {r.relationship for _, r in rows})
    seen: dict[tuple[int, str], int] = {}
    keyed: list[tuple[int, PaymentCreate, int]] = []
    for line, row in rows:
        rid = rel_ids.get(row.relationship)
        if rid is None:
            plan.problems.append(
                Problem(f"{unit} {line}, column relationship", f"no relationship {row.relationship!r}")
            )
            continue
        if (rid, row.invoice_id) in seen:
            plan.problems.append(
                Problem(
                    f"{unit} {line}, column invoice_id",
                    f"duplicate invoice {row.invoice_id!r} (also {unit} {seen[(rid, row.invoice_id)]})",
                )
            )
            continue
        seen[(rid, row.invoice_id)] = line
        keyed.append((line, row, rid))
    stored = {
        (p.relationship_id, p.invoice_id): p
        for p in session.exec(
            select(Payment).where(
                col(Payment.relationship_id).in_({rid for _, _, rid in keyed}),
                col(Payment.invoice_id).in_({r.invoice_id for _, r, _ in keyed}),
            )
        )
    }
    for line, row, rid in keyed:
        existing = stored.get((rid, row.invoice_id))
        if existing is None:
            plan.new.append((line, row, rid))
        else:
            _compare_stored(line, row, existing, plan, unit)


def _new_payment(row: PaymentCreate, relationship_id: int) -> Payment:
    now = utcnow()
    values = {k: v for k, v in _stored_values(row).items() if v is not None}
    return Payment(
        relationship_id=relationship_id,
        invoice_id=row.invoice_id,
        delivered_on=row.delivered_on,
        invoiced_on=row.invoiced_on,
        amount_minor=row.amount_minor,
        disputed_minor=row.disputed_minor or 0,
        currency=row.currency,
        created_at=now,
        updated_at=now,
        **values,
    )


def import_payments(
    session: Session, path: Path, *, actor: str, dry_run: bool = False, encoding: str | None = None
) -> PaymentPlan:
    """Import payments from a CSV file in one transaction, or raise InputRejected listing every problem.

    A row identical to a stored invoice is skipped; a stored invoice may gain what was blank before
    (its paid date, acceptance, settlement, payment method and maturity, e-invoice number) and a
    changed disputed part.
    """
    raw = read_upload(path)
    plan = plan_payments(session, raw, encoding=encoding)
    if plan.problems:
        raise InputRejected(plan.problems, summary=f"{path.name}: nothing imported")
    if dry_run:
        return plan
    write_payments(session, plan, actor=actor, file=path.name)
    return plan


def write_payments(
    session: Session, plan: PaymentPlan, *, actor: str, file: str, method: str | None = None
) -> None:
    """Write a checked plan in the caller's transaction, with one audit event (its data names `method`)."""
    session.add_all([_new_payment(row, rid) for _, row, rid in plan.new])
    for _, _, stored, changes in plan.updated:
        for name, value in changes.items():
            setattr(stored, name, value)
        session.add(stored)
    audit.record(
        session,
        actor=actor,
        action="payment.imported",
        entity="payment",
        entity_id=file,
        data={
            "file": file,
            "new": len(plan.new),
            "updated": len(plan.updated),
            "paid": plan.paid,
            "unchanged": plan.unchanged,
            **({"method": method} if method else {}),
        },
    )


def add_payment(session: Session, data: PaymentCreate, *, actor: str) -> Payment:
    """Store one invoice (and its payment, if paid); refuse an invoice id the relationship already has."""
    rel = find_relationship(session, data.relationship)
    existing = session.exec(
        select(Payment).where(Payment.relationship_id == rel.id, Payment.invoice_id == data.invoice_id)
    ).first()
    if existing is not None:
        raise Conflict(f"invoice {data.invoice_id!r} already exists for relationship {rel.id}")
    payment = _new_payment(data, id_of(rel))
    session.add(payment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="payment.added",
        entity="payment",
        entity_id=payment.id,
        relationship_id=rel.id,
        data={
            "invoice_id": data.invoice_id,
            "paid_on": str(data.paid_on) if data.paid_on else None,
            "payment_method": data.method,
            "disputed_minor": data.disputed_minor or 0,
        },
    )
    return payment


def payments_of(session: Session, relationship_id: int) -> list[Payment]:
    """Return a relationship's payments by delivery date."""
    query = (
        select(Payment)
        .where(Payment.relationship_id == relationship_id)
        .order_by(col(Payment.delivered_on), col(Payment.invoice_id))
    )
    return list(session.exec(query))
