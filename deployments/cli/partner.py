"""`tandem partner` and `tandem contact`: the partner registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Column, Table
from rich.text import Text
from sqlmodel import col, select

from deployments.cli.common import (
    ENCODING_FLAG,
    Encoding,
    Limit,
    Offset,
    actor,
    authorize,
    console,
    db,
    fields_as_flags,
    handle_errors,
    page_json,
    page_note,
    print_json,
    validated,
)
from models.core.errors import InputRejected, Problem
from models.core.validation import country_code, problems_from
from models.core.vocabulary import LANGUAGES, SizeClass
from models.partners.channel_urls import split_urls
from models.partners.importer import ImportRow, import_partners
from models.partners.registry import (
    UNCLASSIFIABLE,
    ContactCreate,
    PartnerCreate,
    PartnerFilter,
    Unclassifiable,
    add_contact,
    add_partner,
    classify_partner,
    contact_public,
    find_contact,
    find_partner,
    list_partners,
    partner_public,
    refresh_sizes,
)
from models.partners.sizing import SizeResult
from models.tables import Contact
from models.tables.core import Side, Stage, Tier

# The flags `partner add` names in a refusal, for the fields whose flag is not --field-name.
ADD_FLAGS = {"legal_name": "--name", "annual_revenue": "--revenue", "preferred_language": "--language"}
SizeFilter = Literal[SizeClass, Unclassifiable]
app = typer.Typer(help="Register, import, list and classify partners.", no_args_is_help=True)
contact_app = typer.Typer(help="People on either side of a relationship.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("add")
@handle_errors
def add(
    legal_name: Annotated[str, typer.Option("--name", help="Legal name (any script).")],
    registration_id: Annotated[
        str, typer.Option("--registration-id", help="Registration id, unique per country.")
    ],
    country: Annotated[str, typer.Option(help="ISO 3166 two-letter code, e.g. CN, DE.")],
    industry: Annotated[str, typer.Option(help="Industry code from the sizing tables.")],
    employees: Annotated[int, typer.Option(help="Headcount.")],
    revenue: Annotated[int, typer.Option(help="Annual revenue, whole currency units.")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")],
    total_assets: Annotated[int | None, typer.Option(help="Total assets / balance sheet.")] = None,
    linked_employees: Annotated[int, typer.Option(help="Linked enterprises' headcount (added in full).")] = 0,
    linked_revenue: Annotated[int, typer.Option(help="Linked enterprises' revenue.")] = 0,
    linked_assets: Annotated[int, typer.Option(help="Linked enterprises' assets.")] = 0,
    partner_enterprise_employees: Annotated[
        int, typer.Option(help="Partner enterprises' headcount, pro-rated.")
    ] = 0,
    partner_enterprise_revenue: Annotated[
        int, typer.Option(help="Partner enterprises' revenue, pro-rated.")
    ] = 0,
    partner_enterprise_assets: Annotated[
        int, typer.Option(help="Partner enterprises' assets, pro-rated.")
    ] = 0,
    language: Annotated[str, typer.Option(help="Preferred language: en or zh-CN.")] = "en",
    as_json: JsonFlag = False,
) -> None:
    """Register one partner and show its size class."""
    data = validated(
        PartnerCreate,
        {
            "legal_name": legal_name,
            "registration_id": registration_id,
            "country": country,
            "industry": industry,
            "employees": employees,
            "annual_revenue": revenue,
            "currency": currency,
            "total_assets": total_assets,
            "linked_employees": linked_employees,
            "linked_revenue": linked_revenue,
            "linked_assets": linked_assets,
            "partner_enterprise_employees": partner_enterprise_employees,
            "partner_enterprise_revenue": partner_enterprise_revenue,
            "partner_enterprise_assets": partner_enterprise_assets,
            "preferred_language": language,
        },
        summary="partner rejected",
        flags=ADD_FLAGS,
    )
    with db() as session:
        authorize("partner.write", session=session)
        partner = add_partner(session, data, actor=actor())
        result = partner_public(partner)
    if as_json:
        print_json(result)
    else:
        size = f"{_size_cell(result)} ({partner.size_scheme})"
        console.print(f"partner {partner.id} {partner.legal_name}: {size}")


@app.command("import")
@handle_errors
def import_(
    file: Annotated[Path, typer.Argument(help="CSV file saved from a spreadsheet (UTF-8 preferred).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; write nothing.")] = False,
    encoding: Encoding = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every row's outcome.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import partners from a CSV export; any bad row rejects the whole file.

    A row for a stored partner (same country and registration id) updates the fields that differ.
    """
    with fields_as_flags(ENCODING_FLAG), db() as session:
        authorize("partner.write", session=session)
        plan = import_partners(session, file, actor=actor(), dry_run=dry_run, encoding=encoding)
    rows = [_outcome(row) for row in plan.rows] if verbose else None
    if as_json:
        shown = {"file": file.name, "encoding": plan.encoding, "dry_run": dry_run, **plan.counts()}
        print_json(shown | ({"rows": rows} if rows is not None else {}))
        return
    for row in rows or []:
        said = f"line {row['line']}: {row['outcome']} {row['partner']} {row['legal_name']}"
        console.print(said + _changes(row))
    verb = "would import" if dry_run else "imported"
    console.print(f"{verb} {file.name} ({plan.encoding}): {plan.summary()}")


def _outcome(row: ImportRow) -> dict[str, Any]:
    return {
        "line": row.line,
        "outcome": row.outcome,
        "partner": row.key,
        "legal_name": row.partner.legal_name,
        "changes": {name: list(values) for name, values in row.changes.items()},
    }


def _changes(row: dict[str, Any]) -> str:
    changes = [f"{name} {old} -> {new}" for name, (old, new) in row["changes"].items()]
    return f" ({'; '.join(changes)})" if changes else ""


@app.command("list")
@handle_errors
def list_(
    search: Annotated[
        str | None, typer.Option("--search", help="Part of the legal name or registration id (any case).")
    ] = None,
    size_class: Annotated[SizeFilter | None, typer.Option("--class", help="Size by today's tables.")] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166 two-letter code, e.g. CN, DE.")] = None,
    tier: Annotated[Tier | None, typer.Option(help="With a relationship of this governance tier.")] = None,
    stage: Annotated[Stage | None, typer.Option(help="With a relationship in this stage.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    as_json: JsonFlag = False,
) -> None:
    """List partners with their size class under today's tables, a page at a time."""
    where = PartnerFilter(
        search=search,
        size_class=size_class,
        country=_country(country),
        tier=tier.value if tier else None,
        stage=stage.value if stage else None,
    )
    with db() as session:
        total, partners = list_partners(session, where, limit=limit, offset=offset)
        rows = [partner_public(p) for p in partners]
    if as_json:
        print_json(page_json(total, limit=limit, offset=offset, items=rows))
        return
    if rows:
        table = Table("id", Column("legal name", overflow="fold", ratio=1), "country")
        table.add_column("registration id", no_wrap=True)  # copied into other commands: kept whole
        table.add_column("industry", overflow="fold")
        table.add_column("staff", justify="right")
        table.add_column("size", overflow="fold")
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["legal_name"],
                r["country"],
                r["registration_id"],
                r["industry"],
                f"{r['employees']:,}",
                _size_cell(r),
            )
        console.print(table)
    console.print(page_note(total, offset=offset, shown=len(rows), noun="partners"))


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return country_code(value)
    except ValueError as exc:
        raise InputRejected([Problem("--country", str(exc))]) from exc


def _size_cell(row: dict[str, Any]) -> str:
    if row["size_class"] is None:
        return f"{UNCLASSIFIABLE}: {row['size_problem']}"
    return str(row["size_class"])


@app.command("show")
@handle_errors
def show(
    ref: Annotated[str, typer.Argument(help="Id, registration id or COUNTRY:REGID.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one partner, its contacts and its size class."""
    with db() as session:
        refresh_sizes(session)
        partner = find_partner(session, ref)
        data = partner_public(partner)
        contacts = session.exec(select(Contact).where(Contact.partner_id == partner.id))
        data["contacts"] = [contact_public(c) for c in contacts]
        try:
            size: SizeResult | None = classify_partner(partner)
        except InputRejected:  # stored before the tables changed: shown, not fatal
            size = None
        data["size"] = size.to_dict() if size else None
    if as_json:
        print_json(data)
        return
    key = f" ({data['country']}:{data['registration_id']})"
    console.print(Text.assemble((data["legal_name"], "bold"), key))
    console.print(
        f"industry {data['industry']}, {data['employees']:,} staff, revenue "
        f"{data['annual_revenue']:,} {data['currency']}, language {data['preferred_language']}"
    )
    console.print(f"size: {size.size_class} ({size.scheme_label})" if size else f"size: {_size_cell(data)}")
    for c in data["contacts"]:
        console.print(f"contact: {c['name']} <{c['email']}> {c['language']} {' '.join(c['channels'])}")


@app.command("classify")
@handle_errors
def classify_(
    ref: Annotated[str, typer.Argument(help="Id, registration id or COUNTRY:REGID.")],
    lang: Annotated[str, typer.Option("--lang", help="en or zh-CN.")] = "en",
    as_json: JsonFlag = False,
) -> None:
    """Show a partner's size class, the scheme used and the thresholds that decided it."""
    if lang not in LANGUAGES:
        raise InputRejected([Problem("--lang", f"unknown language {lang!r}; use {' or '.join(LANGUAGES)}")])
    with db() as session:
        authorize("partner.write", session=session)
        size = classify_partner(find_partner(session, ref))
    if as_json:
        print_json(size.to_dict())
        return
    console.print(Text.assemble((size.size_class, "bold"), f"  ({size.scheme_label})"))
    table = Table("metric", "value", "test", "threshold", "unit", "result", title="deciding thresholds")
    for check in size.checks:
        table.add_row(
            check.metric,
            f"{check.value:,}",
            check.op,
            f"{check.threshold:,}",
            check.unit,
            "yes" if check.passed else "no",
        )
    console.print(table)
    console.print(size.explanation[lang])


@contact_app.command("add")
@handle_errors
def contact_add(
    email: Annotated[str, typer.Argument(help="Email address.")],
    side: Annotated[Side, typer.Option(help="ours or partner.")],
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    partner: Annotated[str | None, typer.Option(help="The partner (for partner-side contacts).")] = None,
    language: Annotated[str, typer.Option(help="en or zh-CN.")] = "en",
    timezone: Annotated[str | None, typer.Option(help="IANA timezone, e.g. Asia/Shanghai.")] = None,
    role: Annotated[str, typer.Option(help="Role, e.g. owner-manager, finance.")] = "",
    team: Annotated[list[str] | None, typer.Option(help="Team tag (repeatable), e.g. finance.")] = None,
    channel: Annotated[
        list[str] | None, typer.Option(help="Apprise URL (repeatable; stored encrypted).")
    ] = None,
) -> None:
    """Add a person on either side, with their chat channels."""
    from pydantic import ValidationError

    try:
        data = ContactCreate(
            email=email,
            side=side,
            name=name,
            language=language,
            timezone=timezone,
            role=role,
            teams=team or [],
            channels=[u for c in channel or [] for u in split_urls(c)],
        )
    except ValidationError as exc:
        raise InputRejected(problems_from(exc), summary="contact rejected") from exc
    with db() as session:
        authorize("partner.write", session=session)
        if find_contact(session, data.email) is not None:
            raise InputRejected([f"contact {data.email} already exists"], summary="contact rejected")
        partner_id = find_partner(session, partner).id if partner else None
        contact = add_contact(session, data, actor=actor(), partner_id=partner_id)
        shown = contact_public(contact)
    console.print(f"contact {shown['id']} {shown['email']} ({shown['side']}) {' '.join(shown['channels'])}")


@contact_app.command("list")
@handle_errors
def contact_list(as_json: JsonFlag = False) -> None:
    """List contacts (channels masked)."""
    with db() as session:
        rows = [contact_public(c) for c in session.exec(select(Contact).order_by(col(Contact.id)))]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "email", "name", "side", "partner", "lang", "channels")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["email"],
            r["name"],
            r["side"],
            str(r["partner_id"] or ""),
            r["language"],
            " ".join(r["channels"]),
        )
    console.print(table)


@contact_app.command("remove")
@handle_errors
def contact_remove(
    email: Annotated[str, typer.Argument(help="The person's email.")],
    reason: Annotated[str, typer.Option(help="Why, e.g. 'left the company' (required).")],
) -> None:
    """Record that a person has left: their portal links stop and their optional roles are cleared."""
    from models.lifecycle.leavers import remove_contact

    with db() as session:
        authorize("partner.write", session=session)
        removal = remove_contact(session, email, reason=reason, actor=actor())
    console.print(
        f"contact {removal.contact.email} removed: {removal.links_revoked} portal link(s) revoked, "
        f"{len(removal.cleared)} role(s) cleared, {removal.items_released} open item(s) back to their role",
        markup=False,
        highlight=False,
    )
