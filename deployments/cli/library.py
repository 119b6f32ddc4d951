"""`tandem library`: validate and browse the checklist content library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from models.checklists.library import CLAUSES, STAGES, Item, check_library, load_library
from models.core.errors import InputRejected
from models.core.settings import LANGUAGES, get_settings

app = typer.Typer(help="Checklist content library.", no_args_is_help=True)

# Below this terminal width the stages and owner columns are left out so titles stay readable.
WIDE_COLUMNS = 120


@app.command()
def validate(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Folder of YAML files to check as a custom library (default: shipped content plus overlay)."
        ),
    ] = None,
) -> None:
    """Check every library file and report each problem; exit 1 if there are any."""
    overlay = None if path is not None else get_settings().library_overlay
    library, problems = check_library(path, overlay=overlay)
    if problems or library is None:
        for problem in problems:
            typer.echo(str(problem))
        typer.echo(f"{len(problems)} problem(s) found", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {len(library.files)} files, {len(library.items)} items")


def _check_clause(value: str | None) -> str | None:
    if value is not None and value not in CLAUSES:
        raise typer.BadParameter(f"{value!r} is not a clause; use one of {', '.join(CLAUSES)}")
    return value


def _check_stage(value: str | None) -> str | None:
    if value is not None and value not in STAGES:
        raise typer.BadParameter(f"{value!r} is not a stage; use one of {', '.join(STAGES)}")
    return value


def _check_lang(value: str) -> str:
    if value not in LANGUAGES:
        raise typer.BadParameter(f"{value!r} is not a language; use one of {', '.join(LANGUAGES)}")
    return value


@app.command("list")
def list_items(
    clause: Annotated[
        str | None, typer.Option(help="Only this clause, e.g. 5.5.", callback=_check_clause)
    ] = None,
    stage: Annotated[
        str | None, typer.Option(help="Only this stage, e.g. review.", callback=_check_stage)
    ] = None,
    lang: Annotated[
        str, typer.Option(help="Language of the texts: en or zh-CN.", callback=_check_lang)
    ] = "en",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List checklist items, optionally filtered by clause and stage."""
    try:
        library = load_library()
    except InputRejected as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from exc
    items = library.items_for(stage=stage, clause=clause)
    if as_json:
        rows = [_item_row(item, lang) for item in items]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    console = Console(markup=False, emoji=False, highlight=False)  # library text is data, not markup
    console.print(_item_table(items, lang, wide=console.width >= WIDE_COLUMNS))


def _item_row(item: Item, lang: str) -> dict[str, Any]:
    """Return one item as plain data with its texts in one language."""
    return {
        "id": item.id,
        "clause": item.clause,
        "stages": list(item.stages),
        "owner_side": item.owner_side,
        "owner_role": item.owner_role,
        "priority": item.priority,
        "required": item.is_required,
        "effort_minutes": item.effort_minutes,
        "due_offset_days": item.due_offset_days,
        "protects_msme": item.protects_msme,
        "evidence_key": item.evidence_key,
        "title": item.title[lang],
        "guidance": item.guidance[lang],
        "evidence": item.evidence[lang],
        "source_file": item.source_file,
        "version": item.file_version,
    }


def _item_table(items: tuple[Item, ...], lang: str, *, wide: bool) -> Table:
    """Return a rich table of items with titles in one language."""
    table = Table(title=f"Checklist items ({len(items)})", show_lines=True)
    # Ids are copied into other commands, so they are never broken across lines.
    table.add_column("id", no_wrap=True)
    table.add_column("§", no_wrap=True)
    if wide:
        table.add_column("stages")
        table.add_column("owner")
    table.add_column("prio", no_wrap=True)
    table.add_column("min", no_wrap=True, justify="right")  # partner effort
    table.add_column("title", min_width=12, ratio=1, overflow="fold")
    for item in items:
        owner = [", ".join(item.stages), f"{item.owner_side}/{item.owner_role}"] if wide else []
        table.add_row(
            item.id,
            item.clause,
            *owner,
            item.priority,
            str(item.effort_minutes),
            item.title[lang],
        )
    return table
