"""`tandem relationship`: open, list and show relationships."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from rich.text import Text

from deployments.cli.common import (
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
    warn,
)
from deployments.cli.options import (
    ROLE_FLAGS,
    BackupContact,
    CriticalityOpt,
    Dependency,
    Deputy,
    Key,
    Manager,
    PartnerContact,
    PartnerRef,
    PaymentDays,
    Sponsor,
)
from models.checklists.generation import evidence_map, tier_of
from models.core.audit import events_for
from models.core.base import id_of
from models.core.calendar import today_local
from models.core.errors import InputRejected, Problem
from models.core.vocabulary import DEFAULT_PAYMENT_TERM_DAYS, Language, RelationshipRole, SizeClass
from models.lifecycle.machine import change_contact
from models.lifecycle.relationships import (
    RelationshipFilter,
    RelationshipOpen,
    find_relationship,
    list_relationships,
    open_relationship,
    relationship_public,
)
from models.partners.registry import find_contact
from models.payments.contract import DeclarationCreate, declaration_public, declare_size
from models.tables import Partner
from models.tables.core import Criticality, Stage, Tier
from notifications.documents import render_document

app = typer.Typer(help="Open, list and show relationships.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SizeClassChoice = SizeClass
FLAG_NAMES = {
    "partner": "PARTNER_REF",
    "dependency_ratio": "--dependency",
    "payment_term_days": "--payment-days",
    "signed_on": "--signed-on",
}


def validate_open(**fields: object) -> RelationshipOpen:
    """Validate `relationship open` input, naming flags in every problem."""
    return validated(RelationshipOpen, dict(fields), summary="relationship rejected", flags=FLAG_NAMES)


@app.command("open")
@handle_errors
def open_(
    partner: PartnerRef,
    manager: Manager,
    sponsor: Sponsor,
    partner_contact: PartnerContact,
    deputy: Deputy = None,
    backup_contact: BackupContact = None,
    criticality: CriticalityOpt = Criticality.medium,
    dependency: Dependency = 0.0,
    payment_days: PaymentDays = DEFAULT_PAYMENT_TERM_DAYS,
    signed_on: Annotated[str | None, typer.Option(help="Contract signing date, YYYY-MM-DD.")] = None,
    key: Key = None,
    as_json: JsonFlag = False,
) -> None:
    """Open a relationship; unknown emails become contacts on the side their flag implies."""
    data = validate_open(
        partner=partner,
        manager=manager,
        deputy=deputy,
        sponsor=sponsor,
        partner_contact=partner_contact,
        backup_contact=backup_contact,
        criticality=criticality,
        dependency_ratio=dependency,
        payment_term_days=payment_days,
        signed_on=signed_on,
        key=key,
    )
    with fields_as_flags(ROLE_FLAGS), db() as session:
        authorize("relationship.onboard", session=session)
        rel = open_relationship(session, data, actor=actor())
        shown = relationship_public(session, rel)
    if as_json:
        print_json(shown)
        return
    console.print(
        f"relationship {rel.id} ({rel.key}) opened with {shown['partner']['legal_name']}: "
        f"{rel.size_class}, stage {rel.stage}"
    )
    for flag in rel.key_person_flags:
        warn("key-person warning:", flag)


@app.command("list")
@handle_errors
def list_(
    search: Annotated[
        str | None, typer.Option("--search", help="Part of the partner's name or registration id, or key.")
    ] = None,
    size_class: Annotated[
        SizeClassChoice | None, typer.Option("--class", help="Size class frozen at signing.")
    ] = None,
    country: Annotated[str | None, typer.Option(help="The partner's country, e.g. CN, DE.")] = None,
    tier: Annotated[Tier | None, typer.Option(help="Governance tier.")] = None,
    stage: Annotated[Stage | None, typer.Option(help="Lifecycle stage.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    as_json: JsonFlag = False,
) -> None:
    """List relationships with partner, size class (frozen at signing), stage and tier, a page at a time."""
    where = RelationshipFilter(
        search=search,
        size_class=size_class,
        country=country.strip().upper() if country else None,
        tier=tier.value if tier else None,
        stage=stage.value if stage else None,
    )
    with db() as session:
        total, found = list_relationships(session, where, limit=limit, offset=offset)
        rows: list[dict[str, Any]] = [
            {
                "id": r.id,
                "key": r.key,
                "partner": p.legal_name,
                "country": p.country,
                "size_class": r.size_class,
                "stage": r.stage,
                "tier": r.tier,
                "criticality": r.criticality,
                "dependency_ratio": r.dependency_ratio,
                "next_review_on": r.next_review_on.isoformat() if r.next_review_on else None,
                "key_person_flags": r.key_person_flags,
            }
            for r, p in found
        ]
    if as_json:
        print_json(page_json(total, limit=limit, offset=offset, items=rows))
        return
    if rows:
        table = Table(
            "id", "partner", "country", "size", "stage", "tier", "criticality", "dependency", "flags"
        )
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["partner"],
                r["country"],
                r["size_class"],
                r["stage"],
                r["tier"] or "-",
                r["criticality"],
                f"{r['dependency_ratio']:.2f}",
                str(len(r["key_person_flags"])) if r["key_person_flags"] else "",
            )
        console.print(table)
    console.print(page_note(total, offset=offset, shown=len(rows), noun="relationships"))


@app.command("show")
@handle_errors
def show(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")], as_json: JsonFlag = False
) -> None:
    """Show one relationship: parties, size class with reason, stage, tier, key-person flags."""
    with db() as session:
        data = relationship_public(session, find_relationship(session, ref))
    if as_json:
        print_json(data)
        return
    party = f" ({data['key']}) with {data['partner']['legal_name']}"
    console.print(Text.assemble((f"relationship {data['id']}", "bold"), party))
    console.print(
        f"stage {data['stage']}, tier {data['tier'] or '-'}, criticality {data['criticality']}, "
        f"dependency {data['dependency_ratio']:.2f}, payment term {data['payment_term_days']} days"
    )
    console.print(
        f"size class {data['size_class']} frozen {data['size_frozen_at'][:10]} ({data['size_scheme']})"
    )
    declared = data["sme_declaration"]
    if declared:
        console.print(
            f"declared by the partner: {declared['size_class']} on {declared['declared_on']} by "
            f"{declared['declared_by']}"
            + ("" if declared["agrees_with_frozen_class"] else " (differs from the frozen class)")
            + ("" if declared["at_signing"] else " (after signing)"),
            highlight=False,
            markup=False,
        )
    for role in RelationshipRole:
        person = data[role]
        console.print(f"  {role}: {person['email'] if person else '-'}")
    if data["tier_explanation"]:
        console.print(f"proposed tier {data['tier_proposed']}: {data['tier_explanation']['reason']['en']}")
    if data["tier_override_reason"]:
        console.print(f"tier overridden by the sponsor: {data['tier_override_reason']}")
    for flag in data["key_person_flags"]:
        warn("key-person warning:", flag)
    if data["next_review_on"]:
        console.print(f"next review {data['next_review_on']}")


@app.command("declare")
@handle_errors
def declare(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    size_class: Annotated[
        str,
        typer.Option("--size-class", help="The class the partner declared: micro, small, medium or large."),
    ],
    by: Annotated[str, typer.Option("--declared-by", help="The partner contact who declared (email).")],
    on: Annotated[str | None, typer.Option("--on", help="When, YYYY-MM-DD (default: today).")] = None,
    note: Annotated[
        str | None, typer.Option("--note", help="Where the declaration is, e.g. the contract annex.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record the partner's own declaration of its size at signing (Art. 3); frozen once recorded."""
    data = validated(
        DeclarationCreate,
        {"size_class": size_class, "declared_by": by, "declared_on": on or today_local(), "note": note},
        summary="declaration rejected",
        flags={
            "size_class": "--size-class",
            "declared_by": "--declared-by",
            "declared_on": "--on",
            "note": "--note",
        },
    )
    with db() as session:
        rel = find_relationship(session, ref)
        authorize("relationship.write", rel, session=session)
        try:
            row = declare_size(session, rel, data, source="record", recorded_by=actor())
        except InputRejected as exc:  # the domain names its field; say the flag
            raise InputRejected(
                [Problem("--declared-by", p.message) for p in exc.problems], summary=exc.summary
            ) from exc
        shown = declaration_public(row, rel)
    if as_json:
        print_json(shown)
        return
    console.print(
        f"relationship {rel.id}: {data.size_class}, declared {data.declared_on} by {data.declared_by}",
        highlight=False,
        markup=False,
    )


@app.command("evidence")
@handle_errors
def evidence(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    fmt: Annotated[Literal["md", "html", "json"], typer.Option("--format", help="md, html or json.")] = "md",
    lang: Annotated[Language, typer.Option("--lang", help="en or zh-CN.")] = "en",
) -> None:
    """Print the evidence map: for each clause 5.1 to 5.12, the items, their state and evidence."""
    with db() as session:
        rel = find_relationship(session, ref)
        partner = session.get(Partner, rel.partner_id)
        assert partner is not None  # a foreign key: every relationship has its partner
        data = evidence_map(session, id_of(rel), lang)
        data.update(
            relationship=rel.model_dump(mode="json"),
            partner=partner.model_dump(mode="json"),
            tier=tier_of(rel, partner),
        )
    if fmt == "json":
        print_json(data)
    else:
        typer.echo(render_document("evidence_map", lang, fmt, data))


@app.command("timeline")
@handle_errors
def timeline(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")], as_json: JsonFlag = False
) -> None:
    """Show stages, approvals and every audit event of a relationship, oldest first."""
    with db() as session:
        rel = find_relationship(session, ref)
        authorize("audit.read", rel, session=session)
        rows = [e.model_dump(mode="json") for e in events_for(session, relationship_id=id_of(rel))]
    if as_json:
        print_json(rows)
        return
    table = Table("when (UTC)", "who", "what", "why / details", title=f"relationship {ref} timeline")
    for e in rows:
        detail = e["reason"] or ", ".join(f"{k}={v}" for k, v in e["data"].items() if v not in (None, "", []))
        # Who, and how they proved it; under an override, also the person they acted for.
        who = f"{e['actor']} ({e['method']})" + (f" for {e['on_behalf_of']}" if e["on_behalf_of"] else "")
        table.add_row(e["at"][:19].replace("T", " "), who, e["action"], detail[:120])
    console.print(table)


@app.command("set-contact")
@handle_errors
def set_contact(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    role: Annotated[str, typer.Option(help="manager, deputy, sponsor, partner-contact or backup-contact.")],
    email: Annotated[
        str | None, typer.Option(help="The new person (a known contact); omit to clear.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (handover, leaving, ...).")] = None,
) -> None:
    """Hand a role to another person and re-run the key-person check."""
    with db() as session:
        rel = find_relationship(session, ref)
        authorize("relationship.handover", rel, session=session)
        contact = find_contact(session, email) if email else None
        if email and contact is None:
            raise InputRejected(
                [Problem("--email", f"{email} is not a known contact (add it with tandem contact add)")]
            )
        flags, asked = change_contact(session, rel, role=role, contact=contact, actor=actor(), reason=reason)
    console.print(f"relationship {ref}: {role} is now {email or 'nobody'}")
    for key in asked:
        console.print(f"asked now for the handover: {key}")
    for flag in flags:
        warn("key-person warning:", flag)


@app.command("handover")
@handle_errors
def handover(
    predecessor: Annotated[str, typer.Argument(help="Email of the manager (or deputy) who leaves.")],
    successor: Annotated[str, typer.Argument(help="Email of the successor (a known contact of ours).")],
    reason: Annotated[str, typer.Option(help="Why (leaving, new role, ...).")],
) -> None:
    """Hand over all of a manager's (and deputy's) live relationships to a successor in one step."""
    from models.lifecycle.machine import hand_over_all

    with db() as session:
        authorize("relationship.handover", session=session)
        old, new = find_contact(session, predecessor), find_contact(session, successor)
        missing = [
            Problem(flag, f"{email} is not a known contact")
            for flag, email, c in (("PREDECESSOR", predecessor, old), ("SUCCESSOR", successor, new))
            if c is None
        ]
        if missing or old is None or new is None:
            raise InputRejected(missing, summary="handover rejected")
        moved = hand_over_all(session, predecessor=old, successor=new, actor=actor(), reason=reason)
    console.print(f"{len(moved)} relationship(s) handed from {predecessor} to {successor}: {moved}")
