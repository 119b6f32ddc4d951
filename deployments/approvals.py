"""Sponsor decisions from outside a run: record them, then resume the waiting run or continue onboarding."""

from __future__ import annotations

import uuid
from typing import Any

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import resume_flow_run
from sqlmodel import Session, col, select

from flows.onboard_partner import OnboardingRequest, onboard_partner
from models.core.db import ensure_schema, session_scope
from models.core.errors import NotFound
from models.core.principal import current_principal
from models.identity.access import require
from models.lifecycle.machine import ApprovalDecision, record_approval
from models.lifecycle.relationships import find_relationship
from models.tables import AuditEvent, Contact, Relationship


def _waiting_run(session: Session, relationship_id: int) -> str | None:
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.relationship_id == relationship_id, AuditEvent.action == "onboarding.awaiting_approval"
        )
        .order_by(col(AuditEvent.id).desc())
    )
    event = session.exec(query).first()
    return event.data.get("flow_run_id") if event else None


def _relationship_of_run(session: Session, run_id: str) -> Relationship:
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "onboarding.awaiting_approval"))
    for event in events:
        if event.data.get("flow_run_id") == run_id and event.relationship_id:
            return session.get(Relationship, event.relationship_id)  # type: ignore[return-value]
    raise NotFound(f"no onboarding run {run_id} is waiting for approval")


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
        deputy=email(rel.deputy_id),  # type: ignore[arg-type]
        sponsor=email(rel.sponsor_id),
        partner_contact=email(rel.partner_contact_id),  # type: ignore[arg-type]
        backup_contact=email(rel.backup_contact_id),
        criticality=rel.criticality,  # type: ignore[arg-type]
        dependency_ratio=rel.dependency_ratio,
        payment_term_days=rel.payment_term_days,
        key=rel.key,
        wait_for_approval=False,
    )


def decide_onboarding(ref: str, decision: ApprovalDecision) -> dict[str, Any]:
    """Record the sponsor's decision and let the onboarding go on: resume its paused run, or rerun it."""
    ensure_schema()
    with session_scope() as session:
        rel = _relationship_of_run(session, ref) if _is_uuid(ref) else find_relationship(session, ref)
        run_id = ref if _is_uuid(ref) else _waiting_run(session, rel.id)  # type: ignore[arg-type]
        me = current_principal()
        if me is not None:
            require(me, "approval.decide", rel, session=session)
        record_approval(session, rel, decision, flow_run_id=run_id)
        request = request_for(session, rel)
        rel_id = rel.id
    if run_id and _run_is_paused(run_id):
        # The run's input form is SponsorDecision, which has exactly ApprovalDecision's fields.
        resume_flow_run(uuid.UUID(run_id), run_input=decision.model_dump(mode="json"))
        return {"relationship_id": rel_id, "outcome": "resumed", "flow_run_id": run_id}
    # A rejection runs the onboarding too: it finds the decision, withdraws what was asked and says so.
    return onboard_partner(request)
