"""Partner import from a spreadsheet export (CSV): validate the whole file, then write it at once.

Every row is checked as `partner add` checks one partner (fields, bounds, registration id, size
class), against the other rows and against the registry, before anything is written; one bad row
refuses the file. Then the writes go in batches, in the caller's one transaction.

A row whose country and registration id are new adds a partner (and its contact). A row for a
stored partner updates the fields that differ: a registry export is where a partner's yearly
figures change, and the class frozen on a relationship at signing is not touched by it. A row equal
to what is stored is unchanged, so importing the same file twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models.core.audit import attribution
from models.core.base import utcnow
from models.core.csvfiles import Record, read_csv
from models.core.db import insert_rows, table_of, update_rows
from models.core.errors import Conflict, InputRejected, Problem
from models.core.secrets import encrypt_json
from models.core.validation import problems_from, read_upload
from models.partners.channel_urls import masked, split_urls
from models.partners.registry import (
    LOOKUP_CHUNK,
    ContactCreate,
    PartnerCreate,
    channels_in,
    contact_fields,
    figures_of,
    sized_columns,
)
from models.partners.sizing import size_of
from models.tables import AuditEvent, Contact, Partner
from models.tables.core import Side

PARTNER_COLUMNS = tuple(PartnerCreate.model_fields)
CONTACT_COLUMNS = ("contact_name", "contact_email", "contact_language", "contact_channels")
REQUIRED_COLUMNS = (
    "legal_name",
    "registration_id",
    "country",
    "industry",
    "employees",
    "annual_revenue",
    "currency",
)
COLUMNS = PARTNER_COLUMNS + CONTACT_COLUMNS
OUTCOMES = ("new", "updated", "unchanged")
# The sizing speaks of a partner's figures; a problem it finds is named by the file's column.
_SIZING_COLUMNS = {
    "revenue": "annual_revenue",
    "partner_ent_employees": "partner_enterprise_employees",
    "partner_ent_revenue": "partner_enterprise_revenue",
    "partner_ent_assets": "partner_enterprise_assets",
}
_CONTACT_COLUMNS = {
    "email": "contact_email",
    "name": "contact_name",
    "language": "contact_language",
    "channels": "contact_channels",
}


@dataclass
class ImportRow:
    """One valid row: the partner, its optional contact and what importing it does."""

    line: int
    partner: PartnerCreate
    contact: ContactCreate | None
    contact_given: frozenset[str] = frozenset()  # contact fields the row gives (not defaulted)
    size: dict[str, str | None] = field(default_factory=dict)
    outcome: str = "new"  # new, updated or unchanged
    partner_id: int | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field: (stored, new)
    contact_id: int | None = None  # a stored contact of this partner, when the row names one
    contact_update: dict[str, Any] = field(default_factory=dict)  # its columns after the import

    @property
    def key(self) -> str:
        """Return the partner's COUNTRY:REGID."""
        return f"{self.partner.country}:{self.partner.registration_id}"


@dataclass
class ImportPlan:
    """What an import would write, or every problem that stops it."""

    rows: list[ImportRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    encoding: str = "utf-8"

    def counts(self) -> dict[str, int]:
        """Return how many rows are new, updated and unchanged."""
        found = Counter(row.outcome for row in self.rows)
        return {outcome: found[outcome] for outcome in OUTCOMES}

    def summary(self) -> str:
        """Say what the import does in one line, e.g. `3 new, 2 updated, 49,995 unchanged`."""
        return ", ".join(f"{n:,} {outcome}" for outcome, n in self.counts().items() if n) or "nothing"


def plan_import(session: Session, raw: bytes, *, encoding: str | None = None) -> ImportPlan:
    """Validate a whole CSV file against itself and the registry; write nothing."""
    table, problems = read_csv(raw, columns=COLUMNS, required=REQUIRED_COLUMNS, encoding=encoding)
    plan = ImportPlan(problems=problems)
    if table is None:
        return plan
    plan.encoding = table.encoding
    _plan_records(session, plan, table.records, unit="line")
    if not table.records and not plan.problems:
        plan.problems.append(Problem("file", "no data rows"))
    return plan


def plan_rows(session: Session, rows: list[dict[str, str]]) -> ImportPlan:
    """Validate rows given as data (the API's), numbered from 0, exactly as a file's lines; write nothing.

    Problems name `row N, column C`. Unknown columns are refused as a file's header would refuse them.
    """
    plan = ImportPlan()
    for index, values in enumerate(rows):
        plan.problems += [
            Problem(f"row {index}, column {name}", "unknown column") for name in values if name not in COLUMNS
        ]
    _plan_records(session, plan, [Record(i, v) for i, v in enumerate(rows)], unit="row")
    return plan


def _plan_records(session: Session, plan: ImportPlan, records: list[Record], *, unit: str) -> None:
    for record in records:
        row, row_problems = _row(record, unit=unit)
        plan.problems += row_problems
        if row is not None:
            plan.rows.append(row)
    plan.problems += _duplicates(plan.rows, unit=unit)
    plan.problems += _compare_with_registry(session, plan.rows, unit=unit)


def _row(record: Record, *, unit: str = "line") -> tuple[ImportRow | None, list[Problem]]:
    """Validate one record as `partner add` would, with its contact; name every problem."""
    where, values = f"{unit} {record.line}", record.values
    partner_data = {k: values[k] for k in PARTNER_COLUMNS if values.get(k)}
    absent = [c for c in REQUIRED_COLUMNS if not values.get(c)]
    problems = [Problem(f"{where}, column {c}", "missing value") for c in absent]
    missing = {p.where for p in problems}
    partner = contact = None
    try:
        partner = PartnerCreate.model_validate(partner_data)
    except ValidationError as exc:
        problems += [p for p in problems_from(exc, where=where, columns=COLUMNS) if p.where not in missing]
    given = frozenset(k for k in CONTACT_COLUMNS if values.get(k))
    if values.get("contact_email"):
        try:
            contact = ContactCreate(
                email=values["contact_email"],
                name=values.get("contact_name", ""),
                side=Side.partner,
                language=values.get("contact_language") or values.get("preferred_language") or "en",
                channels=split_urls(values.get("contact_channels")),
            )
        except ValidationError as exc:
            problems += [_renamed(p, _CONTACT_COLUMNS, where) for p in problems_from(exc)]
    elif given:
        problems.append(Problem(f"{where}, column contact_email", "missing value (a contact needs an email)"))
    if partner is None or problems:
        return None, problems
    try:
        size = size_of(figures_of(partner))
    except InputRejected as exc:  # the fields pass, but the tables cannot size this partner
        return None, [_renamed(p, _SIZING_COLUMNS, where) for p in exc.problems]
    return ImportRow(record.line, partner, contact, given, sized_columns(size)), []


def _renamed(problem: Problem, names: dict[str, str], where: str) -> Problem:
    name = problem.where.removeprefix("column ")
    return Problem(f"{where}, column {names.get(name, name)}", problem.message)


def _duplicates(rows: list[ImportRow], *, unit: str = "line") -> list[Problem]:
    """Refuse two rows for one partner, or one contact email on two rows."""
    problems: list[Problem] = []
    keys: dict[str, int] = {}
    emails: dict[str, int] = {}
    for row in rows:
        if row.key in keys:
            message = (
                f"duplicate registration id {row.partner.registration_id!r} (also {unit} {keys[row.key]})"
            )
            problems.append(Problem(f"{unit} {row.line}, column registration_id", message))
        keys.setdefault(row.key, row.line)
        if row.contact is not None:
            if row.contact.email in emails:
                message = f"email also used on {unit} {emails[row.contact.email]}"
                problems.append(Problem(f"{unit} {row.line}, column contact_email", message))
            emails.setdefault(row.contact.email, row.line)
    return problems


def _compare_with_registry(session: Session, rows: list[ImportRow], *, unit: str = "line") -> list[Problem]:
    """Decide each row's outcome against the stored partners and contacts, in a few queries."""
    stored = _stored_partners(session, rows)
    contacts = _stored_contacts(session, [r.contact.email for r in rows if r.contact is not None])
    problems: list[Problem] = []
    for row in rows:
        found = stored.get((row.partner.country, row.partner.registration_id))
        if found is not None:
            row.partner_id = found["id"]
            row.changes = {
                name: (found[name], value)
                for name, value in row.partner.model_dump().items()
                if found[name] != value
            }
            row.outcome = "updated" if row.changes else "unchanged"
        if row.contact is not None:
            problems += _compare_contact(row, contacts.get(row.contact.email), unit=unit)
    return problems


def _stored_partners(session: Session, rows: list[ImportRow]) -> dict[tuple[str, str], dict[str, Any]]:
    by_country: dict[str, list[str]] = {}
    for row in rows:
        by_country.setdefault(row.partner.country, []).append(row.partner.registration_id)
    table = table_of(Partner)
    wanted = [table.c.id, *(table.c[name] for name in PARTNER_COLUMNS)]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for country, regids in by_country.items():
        for start in range(0, len(regids), LOOKUP_CHUNK):
            query = select(*wanted).where(
                table.c.country == country, table.c.registration_id.in_(regids[start : start + LOOKUP_CHUNK])
            )
            for stored in session.connection().execute(query).mappings():
                found[(country, stored["registration_id"])] = dict(stored)
    return found


def _stored_contacts(session: Session, emails: list[str]) -> dict[str, Any]:
    """Return the stored contacts with these emails, as rows (a registry has tens of thousands)."""
    table = table_of(Contact)
    found: dict[str, Any] = {}
    for start in range(0, len(emails), LOOKUP_CHUNK):
        query = select(
            table.c.id, table.c.email, table.c.side, table.c.partner_id, table.c.name, table.c.language,
            table.c.channels_encrypted, table.c.channels_masked,
        ).where(table.c.email.in_(emails[start : start + LOOKUP_CHUNK]))  # fmt: skip
        found |= {c.email: c for c in session.connection().execute(query)}
    return found


def _compare_contact(row: ImportRow, stored: Any, *, unit: str = "line") -> list[Problem]:
    """A known email must be this partner's contact; the fields the row gives may update it."""
    assert row.contact is not None
    where = f"{unit} {row.line}, column contact_email"
    if stored is None:
        return []
    if stored.side != Side.partner.value or stored.partner_id is None:
        return [Problem(where, f"{stored.email} is one of our people, not a partner contact")]
    if stored.partner_id != row.partner_id:
        return [Problem(where, f"{stored.email} is already the contact of partner {stored.partner_id}")]
    row.contact_id = stored.id
    given = row.contact_given
    after = {"name": stored.name, "language": stored.language}
    if "contact_name" in given:
        after["name"] = row.contact.name
    if "contact_language" in given:
        after["language"] = row.contact.language
    for name, value in after.items():
        if getattr(stored, name) != value:
            row.changes[f"contact.{name}"] = (getattr(stored, name), value)
    after |= {"channels_encrypted": stored.channels_encrypted, "channels_masked": stored.channels_masked}
    if "contact_channels" in given and channels_in(stored.channels_encrypted) != row.contact.channels:
        shown = [masked(url) for url in row.contact.channels]
        row.changes["contact.channels"] = (stored.channels_masked, shown)
        after |= {"channels_encrypted": encrypt_json(row.contact.channels), "channels_masked": shown}
    row.contact_update = after
    if row.changes and row.outcome == "unchanged":
        row.outcome = "updated"
    return []


# --- writing ---------------------------------------------------------------------------------


def import_partners(
    session: Session, path: Path, *, actor: str, dry_run: bool = False, encoding: str | None = None
) -> ImportPlan:
    """Import partners from a CSV file in one transaction, or raise InputRejected listing every problem."""
    raw = read_upload(path)
    plan = plan_import(session, raw, encoding=encoding)
    if plan.problems:
        raise InputRejected(plan.problems, summary=f"{path.name}: nothing imported")
    if dry_run:
        return plan
    write_plan(session, plan, actor=actor, file=path.name)
    return plan


def write_plan(
    session: Session, plan: ImportPlan, *, actor: str, file: str, method: str | None = None
) -> None:
    """Write a checked plan in the caller's transaction; `method` (e.g. "api") goes into each event's data."""
    try:
        _write(session, plan, actor=actor, file=file, method=method)
    except IntegrityError as exc:  # another writer added one of these partners since the check
        raise Conflict(f"{file}: a partner or contact was added meanwhile; import again") from exc


def _write(session: Session, plan: ImportPlan, *, actor: str, file: str, method: str | None) -> None:
    now = utcnow()
    events: list[dict[str, Any]] = []
    new = [row for row in plan.rows if row.outcome == "new"]
    ids = insert_rows(
        session,
        table_of(Partner),
        [{**row.partner.model_dump(), **row.size, "created_at": now, "updated_at": now} for row in new],
        returning=("id", "country", "registration_id"),
    )
    by_key = {(country, regid): pid for pid, country, regid in ids}
    for row in new:
        row.partner_id = by_key[(row.partner.country, row.partner.registration_id)]
        events.append(_event("partner.created", row.partner_id, {"legal_name": row.partner.legal_name}))
    _update_partners(session, [row for row in plan.rows if row.outcome == "updated"], now, events)
    _write_contacts(session, plan.rows, now, events)
    summary = {"file": file, "encoding": plan.encoding, **plan.counts()}
    events.append(_event("partner.imported", file, summary))
    via = {"method": method} if method else {}
    who = attribution(actor, dict(via))
    insert_rows(
        session,
        table_of(AuditEvent),
        [{**event, "data": {**event["data"], **via}, **who, "at": now} for event in events],
    )


def _event(action: str, entity_id: int | str | None, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": action,
        "entity": action.split(".")[0],
        "entity_id": str(entity_id),
        "relationship_id": None,
        "reason": None,
        "data": data,
    }


def _update_partners(session: Session, rows: list[ImportRow], now: Any, events: list[dict[str, Any]]) -> None:
    """Write every changed partner's fields (and its size under them) in one executemany."""
    changed = [row for row in rows if _partner_changes(row)]
    update_rows(
        session,
        table_of(Partner),
        [{"id": r.partner_id, **r.partner.model_dump(), **r.size, "updated_at": now} for r in changed],
    )
    events += [_event("partner.updated", r.partner_id, {"changes": _partner_changes(r)}) for r in changed]


def _partner_changes(row: ImportRow) -> dict[str, list[Any]]:
    return {k: list(v) for k, v in row.changes.items() if not k.startswith("contact.")}


def _write_contacts(session: Session, rows: list[ImportRow], now: Any, events: list[dict[str, Any]]) -> None:
    """Add the new contacts and update the changed ones, in a statement each."""
    new = [(row, row.contact) for row in rows if row.contact is not None and row.contact_id is None]
    found = insert_rows(
        session,
        table_of(Contact),
        [
            {**contact_fields(contact, partner_id=row.partner_id), "created_at": now, "updated_at": now}
            for row, contact in new
        ],
        returning=("id", "email"),
    )
    for contact_id, email in found:
        events.append(_event("contact.created", contact_id, {"email": email, "side": Side.partner.value}))
    changed = [row for row in rows if _contact_changes(row)]
    update_rows(
        session,
        table_of(Contact),
        [{"id": r.contact_id, **r.contact_update, "updated_at": now} for r in changed],
    )
    events += [_event("contact.updated", r.contact_id, {"changes": _contact_changes(r)}) for r in changed]


def _contact_changes(row: ImportRow) -> dict[str, list[Any]]:
    return {k.removeprefix("contact."): list(v) for k, v in row.changes.items() if k.startswith("contact.")}
