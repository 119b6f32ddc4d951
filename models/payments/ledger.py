"""Payments to partners: add one, or import a CSV export (validated whole, nothing written on error)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlmodel import Session, col, select

from models.core import audit
from models.core.base import utcnow
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
from models.lifecycle.relationships import find_relationship
from models.tables import Payment, Relationship

# Currencies without minor units (ISO 4217 exponent 0); every other currency has two decimals.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "ISK", "CLP", "HUF"})
REQUIRED_COLUMNS = ("invoice_id", "relationship", "delivered_on", "invoiced_on", "amount", "currency")
COLUMNS = (*REQUIRED_COLUMNS, "paid_on")


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
    """One invoice and its payment, as given at a boundary (CLI flags or a CSV row)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    invoice_id: SingleLine = Field(min_length=1, max_length=64)
    relationship: SingleLine = Field(min_length=1, max_length=120, description="Relationship id or key.")
    delivered_on: date
    invoiced_on: date
    currency: str = Field(min_length=3, max_length=3)
    amount: str = Field(description="Amount in currency units, e.g. 1234.50.")
    paid_on: date | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return currency_code(value)

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str, info: ValidationInfo) -> str:
        to_minor(value, info.data.get("currency") or "XXX")
        return value

    @field_validator("paid_on", mode="before")
    @classmethod
    def _blank_is_unpaid(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("paid_on")
    @classmethod
    def _paid_after_delivery(cls, value: date | None, info: ValidationInfo) -> date | None:
        delivered = info.data.get("delivered_on")
        if value is not None and delivered is not None and value < delivered:
            raise ValueError(f"paid before delivery ({delivered})")
        if value is not None and value > today_local():
            raise ValueError("paid date is in the future")
        return value

    @property
    def amount_minor(self) -> int:
        """Return the amount in minor units."""
        return to_minor(self.amount, self.currency)


@dataclass
class PaymentPlan:
    """What an import would write (new rows, payments to record) or every problem that stops it."""

    new: list[tuple[int, PaymentCreate, int]] = field(default_factory=list)  # line, row, relationship id
    paid: list[tuple[int, PaymentCreate, Payment]] = field(default_factory=list)  # now paid
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


def _row(record: Record) -> tuple[PaymentCreate | None, list[Problem]]:
    where, values = f"line {record.line}", record.values
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
        if str(rid) in refs:
            found[str(rid)] = rid  # type: ignore[assignment]
        if key in refs:
            found[key] = rid  # type: ignore[assignment]
    return found


def _compare_stored(line: int, row: PaymentCreate, stored: Payment, plan: PaymentPlan) -> None:
    where = f"line {line}, column"
    fields = {
        "delivered_on": (row.delivered_on, stored.delivered_on),
        "invoiced_on": (row.invoiced_on, stored.invoiced_on),
        "amount": (row.amount_minor, stored.amount_minor),
        "currency": (row.currency, stored.currency),
    }
    differs = [name for name, (new, old) in fields.items() if new != old]
    if differs:
        plan.problems += [
            Problem(f"{where} {name}", f"invoice {row.invoice_id!r} is stored with a different {name}")
            for name in differs
        ]
    elif stored.paid_on is None and row.paid_on is not None:
        plan.paid.append((line, row, stored))
    elif stored.paid_on != row.paid_on:
        plan.problems.append(
            Problem(f"{where} paid_on", f"invoice {row.invoice_id!r} is stored as paid on {stored.paid_on}")
        )
    else:
        plan.unchanged += 1


def plan_payments(session: Session, raw: bytes, *, encoding: str | None = None) -> PaymentPlan:
    """Validate a whole payments CSV against itself and the database; write nothing."""
    table, problems = read_csv(raw, columns=COLUMNS, required=REQUIRED_COLUMNS, encoding=encoding)
    plan = PaymentPlan(problems=problems)
    if table is None:
        return plan
    rows: list[tuple[int, PaymentCreate]] = []
    for record in table.records:
        parsed, problems = _row(record)
        plan.problems += problems
        if parsed is not None and not problems:
            rows.append((record.line, parsed))
    _check_against_store(session, rows, plan)
    if not table.records and not plan.problems:
        plan.problems.append(Problem("file", "no data rows"))
    return plan


def _check_against_store(session: Session, rows: list[tuple[int, PaymentCreate]], plan: PaymentPlan) -> None:
    rel_ids = _relationship_ids(session, {r.relationship for _, r in rows})
    seen: dict[tuple[int, str], int] = {}
    keyed: list[tuple[int, PaymentCreate, int]] = []
    for line, row in rows:
        rid = rel_ids.get(row.relationship)
        if rid is None:
            plan.problems.append(
                Problem(f"line {line}, column relationship", f"no relationship {row.relationship!r}")
            )
            continue
        if (rid, row.invoice_id) in seen:
            plan.problems.append(
                Problem(
                    f"line {line}, column invoice_id",
                    f"duplicate invoice {row.invoice_id!r} (also line {seen[(rid, row.invoice_id)]})",
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
            _compare_stored(line, row, existing, plan)


def _new_payment(row: PaymentCreate, relationship_id: int) -> Payment:
    now = utcnow()
    return Payment(
        relationship_id=relationship_id,
        invoice_id=row.invoice_id,
        delivered_on=row.delivered_on,
        invoiced_on=row.invoiced_on,
        paid_on=row.paid_on,
        amount_minor=row.amount_minor,
        currency=row.currency,
        created_at=now,
        updated_at=now,
    )


def import_payments(
    session: Session, path: Path, *, actor: str, dry_run: bool = False, encoding: str | None = None
) -> PaymentPlan:
    """Import payments from a CSV file in one transaction, or raise InputRejected listing every problem.

    A row identical to a stored invoice is skipped; a stored unpaid invoice may be given its paid date.
    """
    raw = read_upload(path)
    plan = plan_payments(session, raw, encoding=encoding)
    if plan.problems:
        raise InputRejected(plan.problems, summary=f"{path.name}: nothing imported")
    if dry_run:
        return plan
    session.add_all([_new_payment(row, rid) for _, row, rid in plan.new])
    for _, row, stored in plan.paid:
        stored.paid_on = row.paid_on
        session.add(stored)
    audit.record(
        session,
        actor=actor,
        action="payment.imported",
        entity="payment",
        entity_id=path.name,
        data={"file": path.name, "new": len(plan.new), "paid": len(plan.paid), "unchanged": plan.unchanged},
    )
    return plan


def validate_payment(fields: dict[str, Any]) -> PaymentCreate:
    """Validate `payment add` input, naming flags in every problem."""
    try:
        return PaymentCreate.model_validate(fields)
    except ValidationError as exc:
        problems = [
            Problem(f"--{p.where.replace('_', '-')}" if p.where else "payment", p.message)
            for p in problems_from(exc)
        ]
        raise InputRejected(problems, summary="payment rejected") from exc


def add_payment(session: Session, data: PaymentCreate, *, actor: str) -> Payment:
    """Store one invoice (and its payment, if paid); refuse an invoice id the relationship already has."""
    rel = find_relationship(session, data.relationship)
    existing = session.exec(
        select(Payment).where(Payment.relationship_id == rel.id, Payment.invoice_id == data.invoice_id)
    ).first()
    if existing is not None:
        raise Conflict(f"invoice {data.invoice_id!r} already exists for relationship {rel.id}")
    payment = _new_payment(data, rel.id)  # type: ignore[arg-type]
    session.add(payment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="payment.added",
        entity="payment",
        entity_id=payment.id,
        relationship_id=rel.id,
        data={"invoice_id": data.invoice_id, "paid_on": str(data.paid_on) if data.paid_on else None},
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
