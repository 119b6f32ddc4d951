"""Sponsor decisions from outside a run: record them, then resume the waiting run or continue onboarding."""

from __future__ import annotations

import uuid
from typing import Any

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import resume_flow_run
from sqlmodel import Session, select

from flows.onboard_partner import OnboardingRequest, onboard_partner
from models.core.base import id_of
from models.core.db import ensure_schema, session_scope
from models.core.errors import NotFound, Refused
from models.core.principal import current_principal
from models.identity.access import require
from models.lifecycle.machine import ApprovalDecision, approval_of, record_approval
from models.lifecycle.relationships import find_relationship
from models.tables import Contact, Relationship


def _relationship_of_run(session: Session, run_id: str) -> Relationship:
    rel = session.exec(select(Relationship).where(Relationship.awaiting_run_id == run_id)).first()
    if rel is None:
        raise NotFound(f"no onboarding run {run_id} is waiting for approval")
    return rel


def _waiting(session: Session, ref: str) -> tuple[Relationship, str | None]:
    """Return the relationship a decision is for and the run waiting for it; refuse if nothing waits."""
    if _is_uuid(ref):
        return _relationship_of_run(session, ref), ref
    rel = find_relationship(session, ref)
    # A recorded decision goes on to record_approval: the same again is a no-op, another a Conflict.
    if rel.awaiting_run_id is None and approval_of(session, id_of(rel)) is None:
        raise Refused(
            f"relationship {rel.id} is not waiting for a sponsor's decision "
            f"(stage {rel.stage}); start its onboarding first: tandem onboard"
        )
    return rel, rel.awaiting_run_id


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _run_is_paused(run_id: str) -> bool:
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(uuid.UUID(run_id))
        except ObjectNotFound:
            return False
    return bool(run.state and run.state.is_paused())


def request_for(session: Session, rel: Relationship) -> OnboardingRequest:
    """Rebuild the onboarding request of an existing relationship, to continue it idempotently."""

    def email(contact_id: int | None) -> str | None:
        contact = session.get(Contact, contact_id) if contact_id else None
        return contact.email if contact else None

    return OnboardingRequest(
        partner_ref=str(rel.partner_id),
        manager=email(rel.manager_id),
        deputy=email(rel.deputy_id),
        sponsor=email(rel.sponsor_id),
        partner_contact=email(rel.partner_contact_id),
        backup_contact=email(rel.backup_contact_id),
        criticality=rel.criticality,
        dependency_ratio=rel.dependency_ratio,
        payment_term_days=rel.payment_term_days,
        key=rel.key,
        wait_for_approval=False,
    )


def decide_onboarding(ref: str, decision: ApprovalDecision) -> dict[str, Any]:
    """Record the sponsor's decision and let the onboarding go on: resume its paused run, or rerun it."""
    ensure_schema()
    with session_scope() as session:
        rel, run_id = _waiting(session, ref)
        me = current_principal()
        if me is not None:
            require(me, "approval.decide", rel, session=session)
        record_approval(session, rel, decision, flow_run_id=run_id)
        request = request_for(session, rel)
        rel_id = rel.id
    if run_id and _run_is_paused(run_id):
        # The run's input form is SponsorDecision, which derives from ApprovalDecision.
        resume_flow_run(uuid.UUID(run_id), run_input=decision.model_dump(mode="json"))
        return {"relationship_id": rel_id, "outcome": "resumed", "flow_run_id": run_id}
    # A rejection runs the onboarding too: it finds the decision, withdraws what was asked and says so.
    return onboard_partner(request)
