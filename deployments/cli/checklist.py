"""`tandem checklist`: generate a proportionate checklist, show it, and close its items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from sqlmodel import Session

from deployments.cli.common import (
    OnBehalfOf,
    OverrideReason,
    actor,
    authorize,
    console,
    db,
    handle_errors,
    person,
    print_json,
)
from deployments.local_server import configure_prefect, prefect_runtime
from models.checklists.generation import (
    STAGES,
    checklist_view,
    generate_checklist,
    mark_done,
    mark_not_applicable,
    open_required,
    waive,
)
from models.core.base import id_of
from models.core.validation import MAX_RECORD_ID
from models.core.vocabulary import Language
from models.lifecycle.machine import relationship_or_404, store_proposed_tier
from models.lifecycle.relationships import find_relationship
from notifications.documents import render_document

app = typer.Typer(help="Proportionate checklists per relationship and stage.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Lang = Language


def _stage(value: str | None) -> str | None:
    if value is not None and value not in STAGES:
        raise typer.BadParameter(f"use one of {', '.join(STAGES)}", param_hint="--stage")
    return value


@app.command("generate")
@handle_errors
def generate(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    stage: Annotated[str, typer.Option(help="onboarding, governance, review or exit.")],
    period: Annotated[str, typer.Option(help="Review period such as 2026Q4 (review stage only).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create the stage's items for the relationship's tier; running it again changes nothing."""
    _stage(stage)
    with db() as session:
        rel = find_relationship(session, ref)
        authorize("checklist.write", rel, session=session)
        if rel.tier is None:
            store_proposed_tier(session, rel, actor=actor())
        result = generate_checklist(session, id_of(rel), stage, actor=actor(), period=period)
    if as_json:
        print_json(result.__dict__)
        return
    console.print(
        f"{result.stage} checklist for relationship {result.relationship_id} ({result.tier} tier): "
        f"{result.added} item(s) added, {result.total} in all; partner effort "
        f"{result.used_minutes} of {result.budget_minutes} min"
    )
    for left in result.left_out:
        console.print(f"  left out {left['item']}: {left['reason']}", highlight=False)


@app.command("show")
@handle_errors
def show(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    period: Annotated[str | None, typer.Option(help="Only this review period.")] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="en or zh-CN.")] = "en",
    fmt: Annotated[
        Literal["table", "md", "html"], typer.Option("--format", help="table, md or html.")
    ] = "table",
    as_json: JsonFlag = False,
) -> None:
    """Show a checklist grouped by principle, each item with why it applies."""
    _stage(stage)
    with db() as session:
        rel = find_relationship(session, ref)
        view = checklist_view(session, id_of(rel), stage=stage, period=period, lang=lang)
    if as_json:
        print_json(view)
    elif fmt != "table":
        typer.echo(render_document("checklist", lang, fmt, view))
    else:
        _print_table(view)


def _print_table(view: dict[str, Any]) -> None:
    table = Table(
        "id",
        "clause",
        "stage",
        "item",
        "owner",
        "due",
        "status",
        "min",
        title=(
            f"relationship {view['relationship']['id']} · tier {view['tier']} · partner effort "
            f"{view['used_minutes']}/{view['budget_minutes']} min"
        ),
    )
    for i in view["items"]:
        table.add_row(
            str(i["id"]),
            i["clause"],
            i["stage"] + (f" {i['period']}" if i["period"] else ""),
            i["title_text"],
            f"{i['owner_side']}/{i['owner_role']}",
            i["due_on"],
            i["status"],
            str(i["effort_minutes"] or ""),
        )
    console.print(table)


@app.command("done")
@handle_errors
def done(
    item: Annotated[int, typer.Argument(min=1, max=MAX_RECORD_ID, help="Checklist item id.")],
    evidence: Annotated[str | None, typer.Option(help="Evidence note.")] = None,
    link: Annotated[str | None, typer.Option(help="Evidence link (http/https).")] = None,
    on_behalf_of: OnBehalfOf = None,
    reason: OverrideReason = None,
) -> None:
    """Mark an item done as yourself (or, for an administrator, on behalf of who did it), with evidence."""
    with db() as session:
        _authorize_item(session, item, "item.close")
        closed = mark_done(session, item, by=person(), evidence=evidence, link=link)
    console.print(f"item {closed.id} done by {closed.done_by}")
    _announce(closed.relationship_id)


@app.command("waive")
@handle_errors
def waive_(
    item: Annotated[int, typer.Argument(min=1, max=MAX_RECORD_ID, help="Checklist item id.")],
    reason: Annotated[str, typer.Option(help="Why the item is waived (required).")],
    on_behalf_of: OnBehalfOf = None,
) -> None:
    """Waive an item as its relationship's manager or deputy: a reason is required."""
    with db() as session:
        _authorize_item(session, item, "item.waive")
        closed = waive(session, item, by=person(), reason=reason)
    console.print(f"item {closed.id} waived by {closed.done_by}: {closed.waived_reason}")
    _announce(closed.relationship_id)


@app.command("not-applicable")
@handle_errors
def not_applicable(
    item: Annotated[int, typer.Argument(min=1, max=MAX_RECORD_ID, help="Checklist item id.")],
    reason: Annotated[str, typer.Option(help="Why it does not apply (required).")],
    on_behalf_of: OnBehalfOf = None,
) -> None:
    """Mark an item not applicable as its relationship's manager or deputy, with a reason."""
    with db() as session:
        _authorize_item(session, item, "item.waive")
        closed = mark_not_applicable(session, item, by=person(), reason=reason)
    console.print(f"item {closed.id} marked not applicable by {closed.done_by}")
    _announce(closed.relationship_id)


def _authorize_item(session: Session, item_id: int, action: str) -> None:
    """Refuse unless the acting person may act on the item (a missing item is left to the domain)."""
    from models.tables import ChecklistItem

    row = session.get(ChecklistItem, item_id)
    if row is not None:
        authorize(action, row, session=session)


def _announce(relationship_id: int) -> None:
    """Tell Prefect when onboarding is complete, so the governance automation can start."""
    with db() as session:  # most closed items leave onboarding open: no Prefect to load for those
        if relationship_or_404(session, relationship_id).stage != "onboarding" or open_required(
            session, relationship_id, "onboarding"
        ):
            return
    configure_prefect()
    from tasks.lifecycle import announce_if_onboarding_complete

    with prefect_runtime():
        announced = announce_if_onboarding_complete(relationship_id, flush=True)
    if announced:
        console.print(
            f"onboarding of relationship {relationship_id} is complete: run `tandem governance "
            f"{relationship_id}` (or let the automation start setup-governance)"
        )
