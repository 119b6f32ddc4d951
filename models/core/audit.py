"""The audit trail: every write through Tandem records who, how, what, which record, when and why."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from models.core.principal import Principal, current_principal
from models.tables import AuditEvent


def record(
    session: Session,
    *,
    actor: Principal | str | None = None,
    action: str,
    entity: str,
    entity_id: int | str | None,
    relationship_id: int | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to the session's transaction, attributed to the acting principal.

    `actor` is the principal, or a label (`flow`, `system:portal`, a partner contact's email) for
    writes with no signed-in person. When a principal is acting (see `acting_as`), it is who the
    event is attributed to, and a different label is kept in the data as `via`.
    """
    data = dict(data or {})
    who = attribution(actor, data)
    principal = actor if isinstance(actor, Principal) else current_principal()
    if principal is not None and principal.reason and reason is None:
        reason = principal.reason
    event = AuditEvent(
        **who,
        action=action,
        entity=entity,
        entity_id=str(entity_id if entity_id is not None else ""),
        relationship_id=relationship_id,
        reason=reason,
        data=data,
    )
    session.add(event)
    return event


def attribution(actor: Principal | str | None, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return an audit row's actor, method and on_behalf_of columns (a differing label goes to `data`)."""
    principal = actor if isinstance(actor, Principal) else current_principal()
    if principal is None:
        # No signed-in person: a run, the partner portal, or an integration (whose data says "api").
        method = str((data or {}).get("method") or "system")[:20]
        return {"actor": str(actor or "system")[:254], "method": method, "on_behalf_of": None}
    if data is not None and isinstance(actor, str) and actor not in (principal.who, principal.on_behalf_of):
        data.setdefault("via", actor)
    return {"actor": principal.who[:254], "method": principal.method, "on_behalf_of": principal.on_behalf_of}


def events_for(session: Session, *, relationship_id: int) -> list[AuditEvent]:
    """Return a relationship's audit events, oldest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.relationship_id == relationship_id)
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    )
    return list(session.exec(query))
