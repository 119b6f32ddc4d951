"""`tandem statement`: periodic statements (对账单) the partner confirms or disputes line by line."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from deployments.cli.common import actor, authorize, console, db, handle_errors, plain_row, print_json
from models.core.base import id_of
from models.core.errors import InputRejected, Problem
from models.lifecycle.relationships import find_relationship
from models.payments.statements import (
    find_statement,
    issue_statement,
    period_bounds,
    statement_public,
    statements_of,
)
from models.portal.links import portal_url_for
from models.tables import Contact

app = typer.Typer(help="Periodic statements the partner confirms in the portal.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _bounds(period: str | None, start: str | None, end: str | None) -> tuple[date, date]:
    if period and not (start or end):
        try:
            return period_bounds(period)
        except InputRejected as exc:
            raise InputRejected([Problem("--period", p.message) for p in exc.problems]) from exc
    if start and end and not period:
        try:
            return date.fromisoformat(start), date.fromisoformat(end)
        except ValueError as exc:
            raise InputRejected([Problem("--from/--to", "give dates like 2026-03-01")]) from exc
    raise InputRejected([Problem("--period", "give --period YYYY-MM, or --from and --to")])


@app.command("issue")
@handle_errors
def issue(
    relationship: Annotated[str, typer.Argument(help="Relationship id or key.")],
    period: Annotated[str | None, typer.Option("--period", help="A month, YYYY-MM.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List a period's unpaid invoices on a statement for the partner to confirm or dispute in the portal."""
    first, last = _bounds(period, start, end)
    with db() as session:
        rel = find_relationship(session, relationship)
        authorize("payment.write", rel, session=session)
        statement = issue_statement(session, rel, start=first, end=last, actor=actor())
        data = statement_public(session, statement)
        contact = session.get(Contact, rel.partner_contact_id)
        assert contact is not None  # foreign key
        url = portal_url_for(session, contact, rel, actor=actor())
        data["portal_url"] = f"{url}/statements/{statement.id}"
    if as_json:
        print_json(data)
        return
    console.print(
        f"statement {data['id']} issued: {len(data['lines'])} invoice(s) from {data['period_start']} to "
        f"{data['period_end']}, for the partner to answer by {data['respond_by']} "
        f"(about {data['effort_minutes']} min of its time); its link: {data['portal_url']}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("list")
@handle_errors
def list_(
    relationship: Annotated[str, typer.Argument(help="Relationship id or key.")], as_json: JsonFlag = False
) -> None:
    """List a relationship's statements and how the partner answered them."""
    with db() as session:
        rel = find_relationship(session, relationship)
        rows = [statement_public(session, s) for s in statements_of(session, id_of(rel))]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "period", "lines", "answer by", "status", "confirmed", "disputed")
    for r in rows:
        states = [line["status"] for line in r["lines"]]
        plain_row(
            table,
            str(r["id"]),
            f"{r['period_start']} to {r['period_end']}",
            str(len(states)),
            r["respond_by"],
            r["status"],
            str(states.count("confirmed")),
            str(states.count("disputed")),
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(
    statement_id: Annotated[int, typer.Argument(help="Statement id.")], as_json: JsonFlag = False
) -> None:  # noqa: E501
    """Show a statement line by line: amounts listed, the partner's answers and e-invoice numbers."""
    with db() as session:
        data = statement_public(session, find_statement(session, statement_id))
    if as_json:
        print_json(data)
        return
    console.print(f"statement {data['id']}: {data['period_start']} to {data['period_end']}, {data['status']}")
    table = Table("invoice", "delivered", "listed", "answer", "partner's figure", "reason", "e-invoice")
    for line in data["lines"]:
        plain_row(
            table,
            line["invoice_id"],
            line["delivered_on"],
            f"{line['listed']} {line['currency']}",
            line["status"],
            line["claimed"] or "",
            line["reason"] or "",
            line["e_invoice_no"] or "",
        )
    console.print(table)
