"""Batched, idempotent upserts: partners and payments, checked and written as the CSV imports do."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from deployments.web.api.auth import Caller, needs
from deployments.web.api.problems import ApiProblem, problem_responses
from deployments.web.api.schemas import PartnerBatch, PartnerResult, PaymentBatch, PaymentResult
from models.core.db import session_scope
from models.core.errors import Conflict, InputRejected
from models.integration.idempotency import MAX_KEY, keep, replay, request_digest
from models.partners.importer import plan_rows, write_plan
from models.payments.ledger import plan_payment_rows, write_payments

router = APIRouter()
METHOD = "api"  # the way in, in each audit event's data (an `method` column is coming; see the report)
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY}}}")
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_KEY,
        description="Makes a retried call a no-op that returns the first response (kept per token).",
    ),
]
WRITE_ERRORS = problem_responses(400, 401, 403, 409, 413, 422, 429, 500)


def cells(row: BaseModel) -> dict[str, str]:
    """Return a row's given fields as the text a CSV cell would hold (the import reads text)."""
    return {k: "" if v is None else str(v) for k, v in row.model_dump(exclude_unset=True).items()}


def idempotent(
    who: Caller,
    key: str | None,
    path: str,
    body: BaseModel,
    work: Callable[[Session], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    """Run a write once per Idempotency-Key: its response is kept in the same transaction as its writes."""
    if key is not None and not _KEY.fullmatch(key):
        raise ApiProblem(400, "Idempotency-Key: 1-200 visible ASCII characters", kind="bad-idempotency-key")
    digest = request_digest("POST", path, json.dumps(body.model_dump(mode="json"), sort_keys=True).encode())
    try:
        with session_scope() as session:
            if key is not None and (kept := replay(session, token_id=who.token_id, key=key, digest=digest)):
                return JSONResponse(
                    kept.body, status_code=kept.status, headers={"Idempotent-Replayed": "true"}
                )
            status, answer = work(session)
            if key is not None:
                keep(session, token_id=who.token_id, key=key, digest=digest, status=status, body=answer)
    except IntegrityError as exc:  # a concurrent call with the same key won the insert
        raise Conflict("a call with this Idempotency-Key is being processed; retry it") from exc
    return JSONResponse(answer, status_code=status)


@router.post(
    "/partners/batch", response_model=PartnerResult, responses=WRITE_ERRORS, summary="Add or update partners"
)
def upsert_partners(
    batch: PartnerBatch, who: Annotated[Caller, Depends(needs("partners:write"))], key: IdempotencyKey = None
) -> JSONResponse:
    """Add or update up to 1,000 partners by registration id, with the CSV import's checks: all or nothing."""

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        plan = plan_rows(session, [cells(row) for row in batch.rows])
        if plan.problems:
            raise InputRejected(plan.problems, summary="nothing written")
        write_plan(session, plan, actor=who.actor, file="api", method=METHOD)
        rows = [
            {"row": r.line, "key": r.key, "partner_id": r.partner_id, "outcome": r.outcome} for r in plan.rows
        ]
        return 200, PartnerResult.model_validate({**plan.counts(), "rows": rows}).model_dump(mode="json")

    return idempotent(who, key, "/partners/batch", batch, work)


@router.post(
    "/payments/batch", response_model=PaymentResult, responses=WRITE_ERRORS, summary="Add or update invoices"
)
def upsert_payments(
    batch: PaymentBatch, who: Annotated[Caller, Depends(needs("payments:write"))], key: IdempotencyKey = None
) -> JSONResponse:
    """Record up to 1,000 invoices and payments for the payment clock, as `tandem payment import` does.

    A stored invoice may gain its paid, acceptance and settlement dates, payment method, maturity and
    e-invoice number once, and a changed disputed part; its delivery and invoice dates and amount are fixed.
    """

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        plan = plan_payment_rows(session, [cells(row) for row in batch.rows])
        if plan.problems:
            raise InputRejected(plan.problems, summary="nothing written")
        write_payments(session, plan, actor=who.actor, file="api", method=METHOD)
        counts = {
            "new": len(plan.new),
            "updated": len(plan.updated),
            "paid": plan.paid,
            "unchanged": plan.unchanged,
        }
        return 200, counts

    return idempotent(who, key, "/payments/batch", batch, work)
