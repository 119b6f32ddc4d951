"""`tandem payment`: record what we paid partners and when (days-to-pay runs from delivery)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from deployments.cli.common import (
    ENCODING_FLAG,
    Encoding,
    actor,
    console,
    db,
    handle_errors,
    print_json,
    with_flags,
)
from models.core.errors import InputRejected
from models.lifecycle.relationships import find_relationship
from models.payments.ledger import add_payment, from_minor, import_payments, payments_of, validate_payment

app = typer.Typer(help="Record invoices and payments.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("import")
@handle_errors
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: invoice_id, relationship, delivered_on, invoiced_on, amount, currency, paid_on."
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; write nothing.")] = False,
    encoding: Encoding = None,
    as_json: JsonFlag = False,
) -> None:
    """Import payments from a CSV file; any problem stops the whole file, reported by line and column."""
    try:
        with db() as session:
            plan = import_payments(session, file, actor=actor(), dry_run=dry_run, encoding=encoding)
    except InputRejected as exc:
        raise with_flags(exc, ENCODING_FLAG) from exc
    summary = {"new": len(plan.new), "paid": len(plan.paid), "unchanged": plan.unchanged, "dry_run": dry_run}
    if as_json:
        print_json(summary)
        return
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{verb} {summary['new']} invoice(s), {summary['paid']} newly paid, {summary['unchanged']} unchanged"
    )


@app.command("add")
@handle_errors
def add(
    relationship: Annotated[str, typer.Option("--relationship", help="Relationship id or key.")],
    invoice: Annotated[str, typer.Option("--invoice", help="Invoice id (unique per relationship).")],
    delivered: Annotated[str, typer.Option("--delivered", help="Delivery date, YYYY-MM-DD.")],
    invoiced: Annotated[str, typer.Option("--invoiced", help="Invoice date, YYYY-MM-DD.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount, e.g. 1234.50.")],
    currency: Annotated[str, typer.Option("--currency", help="ISO currency code.")],
    paid: Annotated[
        str | None, typer.Option("--paid", help="Paid date, YYYY-MM-DD (omit if unpaid).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record one invoice, and its payment if paid."""
    data = validate_payment(
        {
            "invoice_id": invoice,
            "relationship": relationship,
            "delivered_on": delivered,
            "invoiced_on": invoiced,
            "amount": amount,
            "currency": currency,
            "paid_on": paid,
        }
    )
    with db() as session:
        payment = add_payment(session, data, actor=actor())
        shown = payment.model_dump(mode="json")
    if as_json:
        print_json(shown)
        return
    state = f"paid {payment.paid_on}" if payment.paid_on else "unpaid"
    console.print(
        f"invoice {payment.invoice_id} recorded: "
        f"{from_minor(payment.amount_minor, payment.currency)} {payment.currency}, {state}"
    )


@app.command("list")
@handle_errors
def list_(
    relationship: Annotated[str, typer.Argument(help="Relationship id or key.")], as_json: JsonFlag = False
) -> None:
    """List a relationship's invoices with days-to-pay from delivery."""
    with db() as session:
        rel = find_relationship(session, relationship)
        rows = [
            {
                **p.model_dump(mode="json"),
                "amount": from_minor(p.amount_minor, p.currency),
                "days_to_pay": (p.paid_on - p.delivered_on).days if p.paid_on else None,
            }
            for p in payments_of(session, rel.id)  # type: ignore[arg-type]
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("invoice", "delivered", "paid", "days", "amount")
    for r in rows:
        table.add_row(
            r["invoice_id"],
            r["delivered_on"],
            r["paid_on"] or "-",
            str(r["days_to_pay"] or "-"),
            f"{r['amount']} {r['currency']}",
        )
    console.print(table)
