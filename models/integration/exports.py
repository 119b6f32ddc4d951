"""Exports for auditors: the audit trail by period and relationship, as CSV or JSON Lines.

Each event keeps its actor (a person's email, `api:NAME` for an integration, `system`) and its way
in (`method`: the column where the database has one, else what the event's data says). CSV cells
go through the shared writer, which neutralizes anything a spreadsheet would run as a formula.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, TextIO

from sqlmodel import Session, col, select

from models.core.csvfiles import write_csv
from models.core.errors import InputRejected, Problem
from models.core.settings import get_settings
from models.tables import AuditEvent

AUDIT_COLUMNS = (
    "id", "at", "actor", "method", "action", "entity", "entity_id", "relationship_id", "reason", "data",
)  # fmt: skip
AuditFormat = Literal["csv", "jsonl"]


def method_of(event: AuditEvent) -> str | None:
    """Return how an event came in: the stored column where there is one, else the event's data."""
    return getattr(event, "method", None) or event.data.get("method")


def audit_row(event: AuditEvent) -> dict[str, Any]:
    """Return one event as an export row (UTC timestamp, data as a dict)."""
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "method": method_of(event),
        "action": event.action,
        "entity": event.entity,
        "entity_id": event.entity_id,
        "relationship_id": event.relationship_id,
        "reason": event.reason,
        "data": event.data,
    }


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Return the UTC instants of a period of whole days in the organization's timezone (both days in)."""
    if end < start:
        raise InputRejected([Problem("--to", f"{end} is before --from {start}")], summary="export refused")
    tz = get_settings().tz
    return datetime.combine(start, time(), tzinfo=tz), datetime.combine(
        end + timedelta(days=1), time(), tzinfo=tz
    )


def audit_events(
    session: Session, *, start: date, end: date, relationship_ids: Iterable[int] = ()
) -> list[AuditEvent]:
    """Return the audit events of a period (and relationships, if named), oldest first."""
    low, high = period_bounds(start, end)
    query = select(AuditEvent).where(col(AuditEvent.at) >= low, col(AuditEvent.at) < high)
    if ids := sorted(set(relationship_ids)):
        query = query.where(col(AuditEvent.relationship_id).in_(ids))
    return list(session.exec(query.order_by(col(AuditEvent.at), col(AuditEvent.id))))


def write_audit(stream: TextIO, events: Iterable[AuditEvent], fmt: AuditFormat) -> int:
    """Write events as CSV (formula-like cells neutralized) or JSON Lines; return how many."""
    rows = [audit_row(e) for e in events]
    if fmt == "jsonl":
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    else:
        cells = ({**r, "data": json.dumps(r["data"], ensure_ascii=False, sort_keys=True)} for r in rows)
        write_csv(stream, AUDIT_COLUMNS, ([r[c] for c in AUDIT_COLUMNS] for r in cells))
    return len(rows)
