"""`tandem report`: the portfolio report as HTML (inline SVG charts) or JSON."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from deployments.cli.common import console, db, handle_errors, print_json
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
    from tasks.review import write_portfolio

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
