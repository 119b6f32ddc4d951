"""Partner import from a spreadsheet export (CSV): validate the whole file, then write it at once."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from models.core.errors import InputRejected, Problem
from models.core.validation import problems_from, read_upload
from models.partners.channels import split_urls
from models.partners.registry import (
    ContactCreate,
    PartnerCreate,
    add_contact,
    add_partner,
    existing_registrations,
    find_contact,
)
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


@dataclass
class ImportRow:
    """One validated row: the partner and its optional primary contact."""

    line: int
    partner: PartnerCreate
    contact: ContactCreate | None


@dataclass
class ImportPlan:
    """What an import would write, or every problem that stops it."""

    rows: list[ImportRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    encoding: str = "utf-8"


def decode(raw: bytes) -> tuple[str, str]:
    """Decode a spreadsheet export: UTF-8 (with or without BOM), else GB18030."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise InputRejected([Problem("file", "wrong encoding: not UTF-8 or GB18030; save as CSV UTF-8")])


def _row_problems(line: int, row: dict[str, str]) -> tuple[ImportRow | None, list[Problem]]:
    where = f"row {line}"
    values = {k: (v or "").strip() for k, v in row.items() if k is not None}
    partner_data: dict[str, Any] = {k: values[k] for k in PARTNER_COLUMNS if values.get(k, "") != ""}
    problems: list[Problem] = []
    partner = contact = None
    try:
        partner = PartnerCreate.model_validate(partner_data)
    except ValidationError as exc:
        problems += problems_from(exc, where=where, columns=COLUMNS)
    missing = [c for c in REQUIRED_COLUMNS if c in row and not values.get(c)]
    problems = [p for p in problems if not any(p.where == f"{where}, column {c}" for c in missing)]
    problems += [Problem(f"{where}, column {c}", "missing value") for c in missing]
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
            renamed = {
                "email": "contact_email",
                "language": "contact_language",
                "channels": "contact_channels",
                "name": "contact_name",
            }
            for p in problems_from(exc, where=where, columns=renamed):
                column = p.where.split("column ", 1)[-1]
                problems.append(Problem(f"{where}, column {renamed.get(column, column)}", p.message))
    elif values.get("contact_channels") or values.get("contact_name"):
        problems.append(Problem(f"{where}, column contact_email", "missing value (a contact needs an email)"))
    if problems or partner is None:
        return None, problems
    return ImportRow(line, partner, contact), []


def open_csv(
    raw: bytes, *, columns: Sequence[str], required: Sequence[str]
) -> tuple[csv.DictReader[str] | None, list[Problem], str]:
    """Decode a spreadsheet export and check its header: the row reader (None if the header is bad),
    the header's problems, and the encoding found."""
    text, encoding = decode(raw)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    if not header:
        return None, [Problem("file", "empty file: no header row")], encoding
    problems = [Problem("header", f"unknown column {h!r}") for h in header if h not in columns]
    problems += [Problem("header", f"missing column {c!r}") for c in required if c not in header]
    return (None if problems else reader), problems, encoding


def plan_import(session: Session, raw: bytes) -> ImportPlan:
    """Validate a whole CSV file against itself and the database; write nothing."""
    reader, problems, encoding = open_csv(raw, columns=COLUMNS, required=REQUIRED_COLUMNS)
    plan = ImportPlan(encoding=encoding.replace("-sig", ""), problems=problems)
    if reader is None:
        return plan
    seen: dict[tuple[str, str], int] = {}
    emails: dict[str, int] = {}
    for index, row in enumerate(reader):
        line = index + 2  # spreadsheet numbering: the header is row 1
        if None in row:
            plan.problems.append(Problem(f"row {line}", "more cells than columns"))
            continue
        parsed, problems = _row_problems(line, row)
        plan.problems += problems
        if parsed is None:
            continue
        key = (parsed.partner.country, parsed.partner.registration_id)
        if key in seen:
            plan.problems.append(
                Problem(
                    f"row {line}, column registration_id",
                    f"duplicate registration id {key[1]!r} (also row {seen[key]})",
                )
            )
            continue
        seen[key] = line
        if parsed.contact is not None:
            if parsed.contact.email in emails:
                plan.problems.append(
                    Problem(
                        f"row {line}, column contact_email",
                        f"email also used in row {emails[parsed.contact.email]}",
                    )
                )
                continue
            emails[parsed.contact.email] = line
        plan.rows.append(parsed)
    stored = existing_registrations(session, set(seen))
    for row in plan.rows:
        key = (row.partner.country, row.partner.registration_id)
        if key in stored:
            plan.problems.append(
                Problem(
                    f"row {row.line}, column registration_id",
                    f"registration id {key[1]!r} already exists for {key[0]}",
                )
            )
        if row.contact is not None and find_contact(session, row.contact.email) is not None:
            plan.problems.append(
                Problem(
                    f"row {row.line}, column contact_email",
                    f"contact {row.contact.email} already exists",
                )
            )
    if not plan.rows and not plan.problems:
        plan.problems.append(Problem("file", "no data rows"))
    return plan


def import_partners(session: Session, path: Path, *, actor: str, dry_run: bool = False) -> ImportPlan:
    """Import partners from a CSV file in one transaction, or raise InputRejected listing every problem."""
    raw = read_upload(path)
    plan = plan_import(session, raw)
    if plan.problems:
        raise InputRejected(plan.problems, summary=f"{path.name}: nothing imported")
    if dry_run:
        return plan
    for row in plan.rows:
        partner = add_partner(session, row.partner, actor=actor, checked=True)
        if row.contact is not None:
            add_contact(session, row.contact, actor=actor, partner_id=partner.id)
    return plan
