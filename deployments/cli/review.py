"""`tandem review`: run the quarterly review sweep, show a review or its pack, record a side's scores."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from deployments.cli.common import actor, authorize, console, db, handle_errors, print_json, warn
from deployments.local_server import configure_prefect, prefect_runtime
from models.core.errors import InputRejected, Problem
from models.lifecycle.relationships import find_relationship
from models.reviews.scorecards import SIDES, import_scores
from models.reviews.sweep import review_public

app = typer.Typer(help="Periodic reviews: run the sweep, show a review, record scores.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputRejected([Problem(flag, f"{value!r} is not a date like 2027-01-04")]) from exc


@app.command("run")
@handle_errors
def run(
    period: Annotated[
        str | None, typer.Option(help="Quarter like 2026Q4 (default: the last complete one).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Measure as of this date, YYYY-MM-DD (default: today).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=2000, help="Relationships per task.")] = 500,
    workers: Annotated[
        int, typer.Option(min=1, max=16, help="Processes reviewing batches at once (1: this process).")
    ] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Run the `quarterly-review` flow now: review every relationship that is due."""
    configure_prefect()
    from flows.quarterly_review import quarterly_review
    from models.core.periods import parse_period

    day = _date(as_of, "--as-of")
    if period is not None:
        period = parse_period(period).name
    with db():
        pass  # upgrade the schema before the flow's tasks open their own sessions
    with prefect_runtime():
        result = quarterly_review(period=period, as_of=day, batch_size=batch_size, workers=workers)
    if as_json:
        print_json(result)
        return
    console.print(
        f"quarterly review {result['period']} as of {result['as_of']}: {result['reviewed']} reviewed "
        f"of {result['due']} due, {result['escalated']} escalated to a sponsor, "
        f"{result['messages']} message(s) queued"
    )


@app.command("show")
@handle_errors
def show(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    period: Annotated[
        str | None, typer.Option(help="Quarter like 2026Q4 (default: the latest review).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a review: KPIs, both scorecards with their gaps, health, trend and actions."""
    with db() as session:
        data = review_public(session, ref, period)
    if as_json:
        print_json(data)
        return
    rel, pay, items = data["relationship"], data["kpis"]["payments"], data["kpis"]["checklist"]
    console.print(
        Text.assemble(
            (f"review {data['period']}", "bold"), f" of #{rel['id']} {rel['partner_name']} ({data['status']})"
        )
    )
    delta = f" ({data['health_delta']:+d})" if data["health_delta"] is not None else ""
    console.print(
        f"health {data['health'] if data['health'] is not None else '-'} / 100, {data['trend']}{delta}"
    )
    finding = f" ({pay['term_finding'].replace('_', ' ')})" if pay["term_finding"] else ""
    console.print(
        f"days to pay from the clock's start ({pay['basis']}): avg {pay['days_to_pay_avg']}, "
        f"worst {pay['days_to_pay_worst']}; due after {pay['due_days']} days (term {pay['term_days']}, "
        f"statutory default {pay['default_days'] or '-'}, maximum {pay['cap_days'] or '-'}){finding}; "
        f"late {pay['late']}/{pay['invoices']}, under the payment law {pay['late_by_law']}; "
        f"interest {_amounts(data['interest'])}; disputed {_amounts(data['disputed'])}; "
        f"partner requests open {pay['requests_open']}, overdue {pay['requests_overdue']}",
        highlight=False,
    )
    console.print(
        f"checklist: completion {items['completion']}, overdue {items['overdue_items']}; "
        f"partner burden {items['burden_minutes']}/{items['burden_budget_minutes']} min"
    )
    table = Table("principle", "ours", "partner", "gap")
    for row in data["scorecards"]["rows"]:
        gap = "" if row["gap"] is None else f"{row['gap']:+d}" + (" !" if row["partner_lower"] else "")
        table.add_row(row["principle"], str(row["ours"] or "-"), str(row["partner"] or "-"), gap)
    console.print(table)
    for action in data["actions"]:
        warn("action", f"({action['owner_role']}, due {action['due_on']}): {action['title']['en']}")


def _amounts(items: list[dict[str, str]]) -> str:
    return ", ".join(f"{i['amount']} {i['currency']}" for i in items) or "-"


@app.command("pack")
@handle_errors
def pack(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    period: Annotated[
        str | None, typer.Option(help="Quarter like 2026Q4 (default: the latest review).")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="en or zh-CN.")] = "en",
    fmt: Annotated[str, typer.Option("--format", help="html (with inline SVG charts) or md.")] = "md",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of printing.")] = None,
) -> None:
    """Render a review pack from the stored review, in English or Chinese, as HTML or Markdown."""
    configure_prefect()  # tasks.review imports Prefect (no flow runs here)
    from notifications.review_publishing import review_pack

    with db() as session:
        content = review_pack(session, ref, period, language=lang, fmt=fmt)
    if out is None:
        typer.echo(content)
        return
    out.expanduser().write_text(content, encoding="utf-8")
    console.print(f"review pack written to {out}")


@app.command("score")
@handle_errors
def score(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    period: Annotated[str, typer.Option(help="Quarter like 2026Q4.")],
    side: Annotated[str, typer.Option(help="Who scores: ours or partner.")],
    file: Annotated[Path, typer.Option("--file", help="Scores YAML: scores: {'5.1': 4, ...}.")],
) -> None:
    """Record one side's scores of the twelve principles for a period (replaces that side's earlier ones)."""
    if side not in SIDES:
        raise InputRejected([Problem("--side", f"side must be ours or partner, not {side!r}")])
    with db() as session:
        rel = find_relationship(session, ref)
        authorize("review.write", rel, session=session)
        stored = import_scores(session, rel, file, period=period, side=side, actor=actor())
    console.print(f"{stored} score(s) recorded for relationship {rel.id}, {period}, side {side}")
