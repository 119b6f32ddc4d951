"""Lifecycle tasks: thin Prefect wrappers over the plain functions in models and notifications.

Each task opens its own session and takes ids and plain data, so a rerun repeats nothing that
already happened (database keys and upserts make every step idempotent).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import task

from models.checklists.generation import checklist_view, open_required
from models.checklists.proportionality import TierDecision
from models.core.base import id_of
from models.core.db import ensure_schema, session_scope
from models.core.errors import NotFound
from models.lifecycle.machine import (
    ApprovalDecision,
    RecordedDecision,
    approval_of,
    record_approval,
    relationship_or_404,
    store_proposed_tier,
)
from models.lifecycle.relationships import (
    RelationshipOpen,
    RelationshipState,
    find_relationship,
    open_or_reuse,
)
from models.partners.registry import PartnerCreate, add_partner_once, find_partner
from models.tables import Partner
from models.tables.core import Stage
from notifications import lifecycle
from notifications.documents import render_document
from notifications.lifecycle import (
    ActivationSummary,
    ExitCloseSummary,
    ExitSummary,
    GovernanceSummary,
    OnboardingSummary,
    WindDownSummary,
)
from tasks.events import emit_relationship_event, emit_stage_change, publish_markdown
from tasks.retries import LIFECYCLE_RETRIES

ACTOR = "flow"


@task(**LIFECYCLE_RETRIES)
def prepare_partner(partner_ref: str | None, new_partner: dict[str, Any] | None) -> int:
    """Return the partner's id, registering the new partner once (a rerun finds it)."""
    ensure_schema()
    with session_scope() as session:
        if new_partner is None:
            return id_of(find_partner(session, partner_ref or ""))
        return id_of(add_partner_once(session, PartnerCreate.model_validate(new_partner), actor=ACTOR))


@task(**LIFECYCLE_RETRIES)
def open_or_reuse_relationship(partner_id: int, request: dict[str, Any]) -> int:
    """Open the relationship, or return the one a previous run of the same request opened."""
    data = RelationshipOpen.model_validate({**request, "partner": str(partner_id)})
    with session_scope() as session:
        partner = session.get(Partner, partner_id)
        if partner is None:
            raise NotFound(f"no partner {partner_id}")
        return id_of(open_or_reuse(session, data, partner, actor=ACTOR))


@task
def propose_tier(relationship_id: int) -> TierDecision:
    """Propose and store the governance tier with its reason."""
    with session_scope() as session:
        return store_proposed_tier(session, relationship_or_404(session, relationship_id), actor=ACTOR)


@task
def recorded_decision(relationship_id: int) -> RecordedDecision | None:
    """Return the sponsor's recorded decision on this onboarding, if there is one."""
    with session_scope() as session:
        approval = approval_of(session, relationship_id)
        return RecordedDecision.of(approval) if approval else None


@task
def record_decision(
    relationship_id: int, decision: ApprovalDecision, flow_run_id: str | None
) -> RecordedDecision:
    """Record the sponsor's decision (validated: only the sponsor decides)."""
    with session_scope() as session:
        rel = relationship_or_404(session, relationship_id)
        return RecordedDecision.of(record_approval(session, rel, decision, flow_run_id=flow_run_id))


@task
def request_approval(relationship_id: int, flow_run_id: str | None) -> None:
    """Ask the sponsor to approve (one message per relationship), and note which run waits."""
    with session_scope() as session:
        lifecycle.ask_sponsor(session, relationship_id, flow_run_id=flow_run_id, actor=ACTOR)


@task
def tell_manager_approval_timed_out(relationship_id: int, hours: float) -> None:
    """Tell the manager that the sponsor has not decided within the timeout."""
    with session_scope() as session:
        lifecycle.tell_manager_approval_timed_out(session, relationship_id, hours)


@task(**LIFECYCLE_RETRIES)
def finish_onboarding(relationship_id: int, as_of: date | None) -> OnboardingSummary:
    """Apply the approval, generate the checklist, draft the exit plan, welcome both sides, move on."""
    with session_scope() as session:
        step = lifecycle.finish_onboarding(session, relationship_id, as_of=as_of, actor=ACTOR)
        view = checklist_view(session, relationship_id, stage="onboarding")
    emit_stage_change(step.change, tier=step.summary["tier"])
    publish_markdown(
        render_document("checklist", "en", "md", view),
        key=f"onboarding-checklist-{relationship_id}",
        description=f"Onboarding checklist for relationship {relationship_id}",
    )
    return OnboardingSummary.model_validate(step.summary)


@task
def wind_down_rejected(relationship_id: int, reason: str) -> WindDownSummary:
    """Withdraw what a rejected relationship asked and cancel its unsent messages; say how many."""
    with session_scope() as session:
        cancelled = lifecycle.reject(session, relationship_id, reason=reason, actor=ACTOR)
    return WindDownSummary.model_validate(cancelled)


def announce_if_onboarding_complete(relationship_id: int, *, flush: bool = False) -> bool:
    """Emit `tandem.relationship.onboarding-complete` once every required onboarding item is closed.

    Called whenever an item closes (CLI, portal) so the automation `tandem deploy` creates can start
    `setup-governance`; a repeat before governance starts is harmless (that flow is idempotent).
    """
    with session_scope() as session:
        rel = relationship_or_404(session, relationship_id)
        complete = rel.stage == Stage.onboarding.value and not open_required(
            session, relationship_id, "onboarding"
        )
    if complete:
        emit_relationship_event("tandem.relationship.onboarding-complete", relationship_id, flush=flush)
    return complete


@task
def onboarding_complete(relationship_id: int) -> bool:
    """Return whether every required onboarding item is closed; emit the event automations start on."""
    return announce_if_onboarding_complete(relationship_id)


@task(**LIFECYCLE_RETRIES)
def start_governance(relationship_id: int, as_of: date | None) -> GovernanceSummary:
    """Move to governance; write the charter in both languages; seed risks; generate its checklist."""
    with session_scope() as session:
        step = lifecycle.start_governance(session, relationship_id, as_of=as_of, actor=ACTOR)
    emit_stage_change(step.change)
    publish_markdown(
        step.documents["en", "md"],
        key=f"charter-{relationship_id}",
        description=f"Joint governance charter, relationship {relationship_id}",
    )
    return GovernanceSummary.model_validate(step.summary)


@task
def activate_if_governed(relationship_id: int, as_of: date | None) -> ActivationSummary:
    """Move to active with the first review date once the governance checklist is closed."""
    with session_scope() as session:
        step = lifecycle.activate_if_governed(session, relationship_id, as_of=as_of, actor=ACTOR)
    emit_stage_change(step.change)
    return ActivationSummary.model_validate(step.summary)


@task(**LIFECYCLE_RETRIES)
def begin_exit(
    relationship_id: int, reason: str, trigger: str, by: str, as_of: date | None
) -> ExitSummary:
    """Start the exit: notice from the plan, what was asked withdrawn, exit checklist, everyone told."""
    with session_scope() as session:
        step = lifecycle.begin_exit(
            session, relationship_id, reason=reason, trigger=trigger, by=by, as_of=as_of
        )
        view = checklist_view(session, relationship_id, stage="exit")
    emit_stage_change(step.change, reason=reason, trigger=trigger)
    publish_markdown(
        render_document("checklist", "en", "md", view),
        key=f"exit-checklist-{relationship_id}",
        description=f"Exit checklist for relationship {relationship_id}",
    )
    return ExitSummary.model_validate(step.summary)


@task
def close_exit_if_done(relationship_id: int) -> ExitCloseSummary:
    """Move an exiting relationship to exited once every required exit item is closed."""
    with session_scope() as session:
        step = lifecycle.close_exit_if_done(session, relationship_id, actor=ACTOR)
    emit_stage_change(step.change)
    return ExitCloseSummary.model_validate(step.summary)


@task
def relationship_state(ref: str) -> RelationshipState:
    """Resolve a relationship reference (id or key) to its id and current stage."""
    ensure_schema()
    with session_scope() as session:
        rel = find_relationship(session, ref)
        return RelationshipState(id=id_of(rel), stage=rel.stage, tier=rel.tier)
