"""`onboard-partner`: register (or find) the partner, open the relationship, get the sponsor's
approval of the governance tier, then generate the onboarding checklist and the exit plan."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from pydantic import Field, field_validator, model_validator

from models.core.validation import normalize_email
from models.identity.acting import ActingAs
from models.lifecycle.machine import ApprovalDecision
from models.lifecycle.relationships import Objectives, RelationshipTerms
from models.partners.registry import PartnerCreate
from models.tables.core import Tier
from tasks.acting import acting_for_run
from tasks.lifecycle import (
    finish_onboarding,
    open_or_reuse_relationship,
    prepare_partner,
    propose_tier,
    record_decision,
    recorded_decision,
    request_approval,
    tell_manager_approval_timed_out,
    wind_down_rejected,
)

APPROVAL_KEY = "sponsor-approval"


class SponsorDecision(RunInput, ApprovalDecision):
    """The executive sponsor's answer, as the Prefect UI form and `tandem approve` send it.

    Its fields are ApprovalDecision's (declared once, in models); RunInput makes it a pause's input form.
    """


class OnboardingRequest(RelationshipTerms):
    """Everything onboarding needs; the Prefect UI renders it as a form.

    The relationship's people and terms come from RelationshipTerms; only onboarding's own fields are here.
    """

    partner_ref: str | None = Field(
        default=None, description="An existing partner: id, registration id or CC:ID."
    )
    new_partner: PartnerCreate | None = Field(default=None, description="Or the fields of a new partner.")
    objectives: Objectives = Field(default_factory=Objectives)
    approve_as: str | None = Field(default=None, description="Sponsor email to record the approval up front.")
    approval_tier: Tier | None = Field(default=None, description="With approve_as: override the tier.")
    approval_comment: str | None = Field(default=None, description="With approve_as: the reason.")
    wait_for_approval: bool = Field(default=True, description="Pause (or suspend) until the sponsor decides.")
    approval_timeout_hours: float = Field(default=72, gt=0, description="Then the manager is told.")
    approval_poll_seconds: int = Field(default=10, ge=1, le=300)
    as_of: date | None = Field(default=None, description="Stage start date (default: today).")

    @field_validator("approve_as")
    @classmethod
    def _sponsor_email(cls, value: str | None) -> str | None:
        return None if value in (None, "") else normalize_email(value)

    @model_validator(mode="after")
    def _one_partner(self) -> OnboardingRequest:
        if (self.partner_ref is None) == (self.new_partner is None):
            raise ValueError("give exactly one of partner_ref and new_partner")
        return self

    def relationship_fields(self) -> dict[str, Any]:
        """Return the fields `relationship open` takes."""
        data = self.model_dump(mode="json", include=set(RelationshipTerms.model_fields))
        data["objectives"] = self.objectives.model_dump()
        return data


def _flow_run() -> tuple[str | None, bool]:
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None, False
    return str(context.flow_run.id), context.flow_run.deployment_id is not None


def wait_for_sponsor(timeout_hours: float, poll_seconds: int, *, under_deployment: bool) -> SponsorDecision:
    """Wait for the sponsor: suspend under a deployment (no process waits), else pause in place."""
    timeout = int(timeout_hours * 3600)
    if under_deployment:
        # The run exits now and starts again from the top on resume; every step before is idempotent.
        return suspend_flow_run(wait_for_input=SponsorDecision, timeout=timeout, key=APPROVAL_KEY)
    return pause_flow_run(
        wait_for_input=SponsorDecision, timeout=timeout, poll_interval=poll_seconds, key=APPROVAL_KEY
    )


@flow(name="onboard-partner", log_prints=False)
def onboard_partner(request: OnboardingRequest, acting_as: ActingAs | None = None) -> dict[str, Any]:
    """Onboard one partner, with the executive sponsor's approval of its governance tier."""
    with acting_for_run(acting_as):  # a run started from the web acts for its signed-in person
        return _onboard(request)


def _onboard(request: OnboardingRequest) -> dict[str, Any]:
    """Run the onboarding's steps (inside the flow run, as its acting person)."""
    logger = get_run_logger()
    run_id, under_deployment = _flow_run()
    new = request.new_partner.model_dump(mode="json") if request.new_partner else None
    partner_id = prepare_partner(request.partner_ref, new)
    rel_id = open_or_reuse_relationship(partner_id, request.relationship_fields())
    tier = propose_tier(rel_id)
    logger.info("relationship %s: proposed tier %s (%s)", rel_id, tier.tier, tier.rule_id)
    approval = recorded_decision(rel_id)
    if approval is None and request.approve_as:
        up_front = ApprovalDecision(
            decision="approve",
            by=request.approve_as,
            tier=request.approval_tier,
            comment=request.approval_comment,
        )
        approval = record_decision(rel_id, up_front, run_id)
    if approval is None:
        request_approval(rel_id, run_id)
        if not request.wait_for_approval:
            logger.info("relationship %s awaits the sponsor's approval", rel_id)
            return {"relationship_id": rel_id, "outcome": "awaiting-approval", "proposed_tier": tier.tier}
        try:
            answer = wait_for_sponsor(
                request.approval_timeout_hours,
                request.approval_poll_seconds,
                under_deployment=under_deployment,
            )
        except FlowPauseTimeout:
            tell_manager_approval_timed_out(rel_id, request.approval_timeout_hours)
            raise
        # The plain domain model: the RunInput subclass carries Prefect's own run-input metadata.
        approval = record_decision(rel_id, ApprovalDecision(**answer.model_dump()), run_id)
    if approval.decision == "reject":
        logger.info("relationship %s rejected by %s: %s", rel_id, approval.decided_by, approval.comment)
        # Nothing stays asked of the partner and nothing unsent goes out; the counts say so.
        cancelled = wind_down_rejected(rel_id, approval.comment or "rejected")
        return {
            "relationship_id": rel_id,
            "outcome": "rejected",
            "reason": approval.comment,
            "stage": "proposed",
            **cancelled.model_dump(),
        }
    summary = finish_onboarding(rel_id, request.as_of)
    logger.info("relationship %s onboarding on the %s tier", rel_id, summary.tier)
    return {"outcome": "onboarding", **summary.model_dump()}


if __name__ == "__main__":
    onboard_partner(
        OnboardingRequest(
            partner_ref="1",
            manager="rm@example.com",
            sponsor="vp@example.com",
            partner_contact="owner@partner.example",
            approve_as="vp@example.com",
        )
    )
