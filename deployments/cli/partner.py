"""`tandem partner` and `tandem contact`: the partner registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import col, select

from deployments.cli.common import actor, console, db, handle_errors, print_json
from models.core.errors import InputRejected
from models.core.validation import problems_from
from models.partners.channels import split_urls
from models.partners.importer import import_partners
from models.partners.registry import (
    ContactCreate,
    add_contact,
    add_partner,
    classify_partner,
    contact_public,
    find_contact,
    find_partner,
    partner_public,
    validate_partner,
)
from models.tables import Contact, Partner
from models.tables.core import Side

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
    linked_employees: Annotated[
        int, typer.Option(help="Linked enterprises' headcount (added in full).")
    ] = 0,
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
    data = validate_partner(
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
        }
    )
    with db() as session:
        partner = add_partner(session, data, actor=actor())
        size = classify_partner(partner)
        result = partner_public(partner, size)
    if as_json:
        print_json(result)
    else:
        console.print(
            f"partner {partner.id} {partner.legal_name}: {size.size_class} ({size.scheme})"
        )


@app.command("import")
@handle_errors
def import_(
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8 with or without BOM, or GB18030).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate only; write nothing.")
    ] = False,
) -> None:
    """Import partners from a CSV export; any bad row rejects the whole file."""
    with db() as session:
        plan = import_partners(session, file, actor=actor(), dry_run=dry_run)
    verb = "would import" if dry_run else "imported"
    console.print(f"{verb} {len(plan.rows)} partner(s) from {file.name} ({plan.encoding})")


@app.command("list")
@handle_errors
def list_(as_json: JsonFlag = False) -> None:
    """List partners with their current size class."""
    with db() as session:
        partners = list(session.exec(select(Partner).order_by(col(Partner.id))))
        rows = [partner_public(p, classify_partner(p)) for p in partners]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "legal name", "country", "industry", "staff", "size", "scheme")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["legal_name"],
            r["country"],
            r["industry"],
            str(r["employees"]),
            r["size_class"],
            r["size_scheme"],
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(
    ref: Annotated[str, typer.Argument(help="Id, registration id or COUNTRY:REGID.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one partner, its contacts and its size class."""
    with db() as session:
        partner = find_partner(session, ref)
        size = classify_partner(partner)
        data = partner_public(partner, size)
        contacts = session.exec(select(Contact).where(Contact.partner_id == partner.id))
        data["contacts"] = [contact_public(c) for c in contacts]
        data["size"] = size.to_dict()
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]{data['legal_name']}[/bold] ({data['country']}:{data['registration_id']})"
    )
    console.print(
        f"industry {data['industry']}, {data['employees']} staff, revenue "
        f"{data['annual_revenue']:,} {data['currency']}, language {data['preferred_language']}"
    )
    console.print(f"size: {size.size_class} ({size.scheme_label})")
    for c in data["contacts"]:
        console.print(
            f"contact: {c['name']} <{c['email']}> {c['language']} {' '.join(c['channels'])}"
        )


@app.command("classify")
@handle_errors
def classify_(
    ref: Annotated[str, typer.Argument(help="Id, registration id or COUNTRY:REGID.")],
    lang: Annotated[str, typer.Option("--lang", help="en or zh-CN.")] = "en",
    as_json: JsonFlag = False,
) -> None:
    """Show a partner's size class, the scheme used and the thresholds that decided it."""
    with db() as session:
        size = classify_partner(find_partner(session, ref))
    if as_json:
        print_json(size.to_dict())
        return
    console.print(f"[bold]{size.size_class}[/bold]  ({size.scheme_label})")
    table = Table(
        "metric", "value", "test", "threshold", "unit", "result", title="deciding thresholds"
    )
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
    console.print(size.explanation.get(lang, size.explanation["en"]), highlight=False)


@contact_app.command("add")
@handle_errors
def contact_add(
    email: Annotated[str, typer.Argument(help="Email address.")],
    side: Annotated[Side, typer.Option(help="ours or partner.")],
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    partner: Annotated[
        str | None, typer.Option(help="The partner (for partner-side contacts).")
    ] = None,
    language: Annotated[str, typer.Option(help="en or zh-CN.")] = "en",
    timezone: Annotated[str | None, typer.Option(help="IANA timezone, e.g. Asia/Shanghai.")] = None,
    role: Annotated[str, typer.Option(help="Role, e.g. owner-manager, finance.")] = "",
    team: Annotated[
        list[str] | None, typer.Option(help="Team tag (repeatable), e.g. finance.")
    ] = None,
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
        if find_contact(session, data.email) is not None:
            raise InputRejected(
                [f"contact {data.email} already exists"], summary="contact rejected"
            )
        partner_id = find_partner(session, partner).id if partner else None
        contact = add_contact(session, data, actor=actor(), partner_id=partner_id)
        shown = contact_public(contact)
    console.print(
        f"contact {shown['id']} {shown['email']} ({shown['side']}) {' '.join(shown['channels'])}"
    )


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
        removal = remove_contact(session, email, reason=reason, actor=actor())
    console.print(
        f"contact {removal.contact.email} removed: {removal.links_revoked} portal link(s) revoked, "
        f"{len(removal.cleared)} role(s) cleared, {removal.items_released} open item(s) back to their role",
        markup=False,
        highlight=False,
    )
