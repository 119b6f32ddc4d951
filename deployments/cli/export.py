"""`tandem export`: the audit trail and the ISO 44001 evidence pack, as files for auditors.

Imports of the database and the renderers happen inside each command (`tandem --help` stays fast);
none of these commands runs a flow or imports Prefect.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer

from deployments.cli.common import console, db, handle_errors
from models.core.base import id_of
from models.core.errors import InputRejected, Problem
from models.core.vocabulary import Language

app = typer.Typer(help="Files for auditors: the audit trail and the evidence pack.", no_args_is_help=True)


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputRejected(
            [Problem(flag, f"{text!r} is not a date YYYY-MM-DD")], summary="export refused"
        ) from None


@app.command("audit")
@handle_errors
def audit(
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (organization's timezone).")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (included).")],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    relationship: Annotated[
        list[str] | None,
        typer.Option("--relationship", help="Only this relationship's (id or key; repeatable)."),
    ] = None,
    fmt: Annotated[Literal["csv", "jsonl"], typer.Option("--format", help="csv or jsonl.")] = "csv",
) -> None:
    """Export the audit trail of a period, with actor and method; CSV cells never run as formulas."""
    from models.integration.exports import audit_events, write_audit
    from models.lifecycle.relationships import find_relationship

    first, last = _day(start, "--from"), _day(end, "--to")
    with db() as session:
        ids = [id_of(find_relationship(session, ref)) for ref in relationship or []]
        events = audit_events(session, start=first, end=last, relationship_ids=ids)
        with out.open("w", encoding="utf-8", newline="") as stream:
            count = write_audit(stream, events, fmt)
    _say(f"{count} audit event(s) written to {out}")


@app.command("evidence-pack")
@handle_errors
def evidence_pack(
    relationship: Annotated[
        list[str], typer.Option("--relationship", help="Relationship id or key (repeatable).")
    ],
    out: Annotated[Path, typer.Option("--out", help="The .zip to write.")],
    lang: Annotated[Language, typer.Option("--lang", help="en or zh-CN.")] = "en",
) -> None:
    """Write the ISO 44001 evidence pack: evidence map, charters, reviews, audit extract and a manifest."""
    from notifications.evidence_pack import build_pack

    with db() as session:
        content, manifest = build_pack(session, relationship, lang=lang)
    out.write_bytes(content)
    _say(f"{len(manifest['files'])} file(s) and manifest.json written to {out}")
