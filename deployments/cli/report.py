"""`tandem report`: the portfolio report as HTML (inline SVG charts) or JSON."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from deployments.cli.common import console, db, handle_errors, print_json
from deployments.local_server import configure_prefect
from models.core.errors import InputRejected, Problem
from models.core.settings import LANGUAGES

app = typer.Typer(help="Reports across the portfolio.", no_args_is_help=True)


@app.command("portfolio")
@handle_errors
def portfolio(
    out: Annotated[Path | None, typer.Option("--out", help="Write the HTML report to this file.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Report as of this date, YYYY-MM-DD (default: today).")
    ] = None,
    language: Annotated[str, typer.Option(help="en or zh-CN.")] = "en",
    as_json: Annotated[bool, typer.Option("--json", help="Print the same data as JSON.")] = False,
) -> None:
    """Report every relationship: tier, stage, health, trend, days-to-pay vs limit, overdue items, flags."""
    configure_prefect()  # tasks.review imports Prefect (no flow runs here)
    from notifications.review_publishing import write_portfolio

    if language not in LANGUAGES:
        raise InputRejected([Problem("--language", f"use one of {', '.join(LANGUAGES)}")])
    if out is None and not as_json:
        raise InputRejected([Problem("--out", "give --out FILE.html, or --json")])
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError as exc:
        raise InputRejected([Problem("--as-of", f"{as_of!r} is not a date like 2027-01-04")]) from exc
    with db():
        pass  # upgrade the schema first
    data = write_portfolio(str(out) if out else None, as_of=day, language=language)
    if as_json:
        print_json(data)
        return
    console.print(f"portfolio report: {data['count']} relationship(s), written to {out}", soft_wrap=True)


@app.command("sme-payments")
@handle_errors
def sme_payments_report(
    year: Annotated[
        int, typer.Option("--year", help="The year reported, e.g. 2026 (a running year: as of today).")
    ],
    language: Annotated[str, typer.Option("--lang", "--language", help="en or zh-CN.")] = "en",
    fmt: Annotated[str, typer.Option("--format", help="html, or csv (spreadsheet-safe).")] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of printing.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures and their invoices as JSON.")
    ] = False,
) -> None:
    """Report contracts with SMEs overdue and unpaid at the year's end (Art. 18), and EU partners likewise."""
    from models.payments.disclosure import sme_payments
    from notifications.disclosure import disclosure_csv, disclosure_html

    problems = []
    if language not in LANGUAGES:
        problems.append(Problem("--lang", f"use one of {', '.join(LANGUAGES)}"))
    if fmt not in ("html", "csv"):
        problems.append(Problem("--format", "use html or csv"))
    if problems:
        raise InputRejected(problems)
    with db() as session:
        data = sme_payments(session, year=year)
    if as_json:
        print_json(data)
        return
    text = (
        disclosure_html(data, language=language) if fmt == "html" else disclosure_csv(data, language=language)
    )
    if out is None:
        typer.echo(text, nl=False)
        return
    out.expanduser().write_text(text, encoding="utf-8")
    figures = ", ".join(
        f"{s['law']}: {s['contracts_overdue']} contract(s), {s['invoices_overdue']} invoice(s) overdue"
        for s in data["sections"]
    )
    console.print(f"sme-payments {year} as of {data['as_of']} written to {out}: {figures}", highlight=False)
