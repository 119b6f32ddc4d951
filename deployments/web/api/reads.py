"""Reads with paging and filters: relationships, checklist items, reviews and the audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from deployments.web.api.auth import Caller, needs
from deployments.web.api.problems import problem_responses
from deployments.web.api.schemas import (
    AuditPage,
    ChecklistPage,
    RelationshipOut,
    RelationshipPage,
    ReviewPage,
)
from deployments.web.security import MAX_ID
from models.core.db import session_scope
from models.core.vocabulary import ChecklistStage, Clause, StageName, TierName
from models.integration.reads import (
    RelationshipQuery,
    audit_after,
    checklist_rows,
    relationship_row,
    relationship_rows,
    review_rows,
)
from models.lifecycle.relationships import find_relationship
from models.tables import AuditEvent
from models.tables.checklist import ItemStatus
from models.tables.review import ReviewStatus

router = APIRouter()
Reader = Annotated[Caller, Depends(needs("read"))]
Limit = Annotated[int, Query(ge=1, le=500, description="Rows a page (at most 500).")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip.")]
RelationshipId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this relationship's.")]
READ_ERRORS = problem_responses(401, 403, 404, 422, 429, 500)
# FastAPI checks and documents each filter's values from a Literal built from the vocabulary; mypy
# takes only Literals written out, so it sees the plain strings the handlers receive.
if TYPE_CHECKING:
    ItemStatusName = str
    ReviewStatusName = str
else:
    ItemStatusName = Literal[tuple(s.value for s in ItemStatus)]
    ReviewStatusName = Literal[tuple(s.value for s in ReviewStatus)]


@router.get(
    "/relationships", response_model=RelationshipPage, responses=READ_ERRORS, summary="List relationships"
)
def relationships(
    who: Reader,
    stage: Annotated[StageName | None, Query()] = None,
    tier: Annotated[TierName | None, Query()] = None,
    health_min: Annotated[int | None, Query(ge=0, le=100)] = None,
    health_max: Annotated[int | None, Query(ge=0, le=100)] = None,
    days_to_pay_min: Annotated[float | None, Query(ge=0, le=100_000)] = None,
    days_to_pay_max: Annotated[float | None, Query(ge=0, le=100_000)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List relationships by id with stage, tier, latest health and live days-to-pay (inclusive filters)."""
    where = RelationshipQuery(stage, tier, health_min, health_max, days_to_pay_min, days_to_pay_max)
    with session_scope() as session:
        total, rows = relationship_rows(session, where, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": rows}


@router.get(
    "/relationships/{ref}",
    response_model=RelationshipOut,
    responses=READ_ERRORS,
    summary="Read a relationship",
)
def relationship_by_ref(who: Reader, ref: str) -> dict[str, Any]:
    """Read one relationship (by id or key) with its health and live days-to-pay."""
    with session_scope() as session:
        return relationship_row(session, find_relationship(session, ref[:120]))


@router.get(
    "/checklist-items", response_model=ChecklistPage, responses=READ_ERRORS, summary="List checklist items"
)
def checklist_items(
    who: Reader,
    relationship_id: RelationshipId = None,
    stage: Annotated[ChecklistStage | None, Query()] = None,
    status: Annotated[ItemStatusName | None, Query()] = None,
    clause: Annotated[Clause | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List checklist items by id: clause, owner, status, due date and evidence."""
    with session_scope() as session:
        total, items = checklist_rows(
            session, relationship_id=relationship_id, stage=stage, status=status, clause=clause,
            limit=limit, offset=offset,
        )  # fmt: skip
        rows = [i.model_dump(mode="json") for i in items]
    return {"total": total, "limit": limit, "offset": offset, "items": rows}


@router.get("/reviews", response_model=ReviewPage, responses=READ_ERRORS, summary="List reviews with KPIs")
def reviews(
    who: Reader,
    relationship_id: RelationshipId = None,
    period: Annotated[str | None, Query(pattern=r"^\d{4}Q[1-4]$", description="e.g. 2026Q4")] = None,
    status: Annotated[ReviewStatusName | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List periodic reviews by id with their KPIs (payments, checklist, response), health and trend."""
    with session_scope() as session:
        total, found = review_rows(
            session, relationship_id=relationship_id, period=period, status=status, limit=limit, offset=offset
        )
        rows = [r.model_dump(mode="json") for r in found]
    return {"total": total, "limit": limit, "offset": offset, "items": rows}


def audit_public(event: AuditEvent) -> dict[str, Any]:
    """Return an audit event with its way in (`method`): the column where stored, else the data's."""
    data = event.model_dump(mode="json")
    data["method"] = getattr(event, "method", None) or event.data.get("method")
    return data


@router.get("/audit-events", response_model=AuditPage, responses=READ_ERRORS, summary="Read the audit trail")
def audit_events(
    who: Reader,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Cursor: events with a larger id.")] = 0,
    relationship_id: RelationshipId = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Read audit events after a cursor, oldest first; `next_after` is the cursor for the next call."""
    with session_scope() as session:
        found = audit_after(session, after=after, limit=limit, relationship_id=relationship_id)
        rows = [audit_public(e) for e in found]
    return {"items": rows, "next_after": rows[-1]["id"] if rows else after}
