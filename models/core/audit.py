"""The audit trail: every write through Tandem records who, what, which record, when and why."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from models.tables import AuditEvent


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | str | None,
    relationship_id: int | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to the session's transaction."""
    event = AuditEvent(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id if entity_id is not None else ""),
        relationship_id=relationship_id,
        reason=reason,
        data=data or {},
    )
    session.add(event)
    return event


def events_for(session: Session, *, relationship_id: int) -> list[AuditEvent]:
    """Return a relationship's audit events, oldest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.relationship_id == relationship_id)
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    )
    return list(session.exec(query))
