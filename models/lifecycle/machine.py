"""The relationship lifecycle: one state machine, sponsor approvals, the exit plan and the standard risks.

proposed -> onboarding -> governance -> active -> exiting -> exited
                \\______________\\____________/^
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from models.checklists.generation import raise_event_items, tier_of
from models.checklists.library import load_library
from models.checklists.proportionality import TierDecision, propose_tier
from models.core import audit
from models.core.base import id_of, utcnow
from models.core.calendar import add_months, today_local
from models.core.data import load_data
from models.core.db import insert_ignore
from models.core.errors import Conflict, InputRejected, NotFound, Problem, TransitionRefused
from models.core.principal import current_principal
from models.core.validation import normalize_email
from models.core.vocabulary import OwnerSide, RelationshipRole
from models.identity.access import require
from models.lifecycle.relationships import key_person_flags, wrong_side
from models.payments.contract import contract_for
from models.payments.law import rules_applied
from models.portal.links import revoke_links_of
from models.tables import Approval, Contact, ExitPlan, Partner, Relationship, Risk
from models.tables.core import Stage, Tier
from models.webhooks.events import emit_approval, emit_stage_change

# Every allowed change, and the flow or command that makes it.
TRANSITIONS: dict[Stage, dict[Stage, str]] = {
    Stage.proposed: {Stage.onboarding: "onboard-partner (after the sponsor's approval)"},
    Stage.onboarding: {Stage.governance: "setup-governance", Stage.exiting: "exit-relationship"},
    Stage.governance: {Stage.active: "setup-governance", Stage.exiting: "exit-relationship"},
    Stage.active: {Stage.exiting: "exit-relationship"},
    Stage.exiting: {Stage.exited: "exit-relationship (when the exit checklist is closed)"},
    Stage.exited: {},
}
PAST_TENSE = {"approve": "approved", "reject": "rejected"}
ExitTrigger = Literal["planned-end", "performance", "partner-request", "breach", "strategy-change"]
EXIT_TRIGGERS: tuple[str, ...] = get_args(ExitTrigger)


@dataclass(frozen=True)
class StageChange:
    """A stage change that happened, for the event the caller emits."""

    relationship_id: int
    from_stage: str
    to_stage: str

    @property
    def event(self) -> str:
        """Return the Prefect event name for this change."""
        return f"tandem.relationship.{self.to_stage}"


def transition(
    session: Session, rel: Relationship, to: Stage, *, actor: str, reason: str | None = None
) -> StageChange | None:
    """Move a relationship to a new stage if the state machine allows it; a repeat is a no-op."""
    current = Stage(rel.stage)
    if current == to:
        return None
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(f"{s.value} (via {how})" for s, how in TRANSITIONS[current].items()) or "none"
        raise TransitionRefused(
            f"relationship {rel.id} cannot go from {current.value} to {to.value}; allowed from "
            f"{current.value}: {allowed}"
        )
    rel.stage, rel.stage_changed_at = to.value, utcnow()
    session.add(rel)
    audit.record(
        session,
        actor=actor,
        action="relationship.stage",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        reason=reason,
        data={"from": current.value, "to": to.value},
    )
    # In this transaction: a change rolled back sends nothing, one committed is never lost.
    emit_stage_change(session, rel, from_stage=current.value, actor=actor, reason=reason)
    return StageChange(id_of(rel), current.value, to.value)


def store_proposed_tier(session: Session, rel: Relationship, *, actor: str) -> TierDecision:
    """Propose the governance tier by the rule table and keep it, with its reason, on the relationship."""
    from models.checklists.generation import profile_of

    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    decision = propose_tier(profile_of(rel, partner))
    if rel.tier_proposed != decision.tier or not rel.tier_explanation:
        rel.tier_proposed, rel.tier_explanation = decision.tier, decision.to_dict()
        session.add(rel)
        audit.record(
            session,
            actor=actor,
            action="tier.proposed",
            entity="relationship",
            entity_id=rel.id,
            relationship_id=rel.id,
            reason=decision.reason["en"],
            data=decision.to_dict(),
        )
    return decision


class ApprovalDecision(BaseModel):
    """A sponsor's decision as given at a boundary (CLI, Prefect form, flow parameter)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["approve", "reject"] = Field(description="Approve the onboarding or reject it.")
    by: str = Field(description="The sponsor's email address.")
    tier: Tier | None = Field(default=None, description="Override the proposed tier (needs a comment).")
    comment: str | None = Field(default=None, description="Why; required to override or reject.")


class RecordedDecision(BaseModel):
    """A stored sponsor decision, as plain data for a flow."""

    decision: Literal["approve", "reject"]
    decided_by: str
    tier: str | None = None
    comment: str | None = None

    @classmethod
    def of(cls, approval: Approval) -> RecordedDecision:
        """Return the plain data of a stored approval."""
        return cls.model_validate(approval, from_attributes=True)


def record_approval(
    session: Session,
    rel: Relationship,
    decision: ApprovalDecision,
    *,
    kind: str = "onboarding",
    flow_run_id: str | None = None,
) -> Approval:
    """Record the sponsor's decision once; the same decision again returns the stored one."""
    problems = _approval_problems(session, rel, decision)
    if problems:
        raise InputRejected(problems, summary="approval rejected")
    existing = session.exec(
        select(Approval).where(Approval.relationship_id == rel.id, Approval.kind == kind)
    ).first()
    tier = decision.tier.value if decision.tier else None
    if existing is not None:
        if (existing.decision, existing.tier) == (decision.decision, tier):
            return existing
        if rel.stage != Stage.proposed.value:
            raise Conflict(
                f"relationship {rel.id} was already {PAST_TENSE[existing.decision]} by {existing.decided_by}"
            )
    assert rel.id is not None  # a stored relationship
    approval = existing or Approval(
        relationship_id=rel.id,
        kind=kind,
        decision=decision.decision,
        decided_by=decision.by,
    )
    approval.decision, approval.decided_by, approval.tier = (
        decision.decision,
        normalize_email(decision.by),
        tier,
    )
    approval.comment, approval.flow_run_id, approval.decided_at = decision.comment, flow_run_id, utcnow()
    session.add(approval)
    if kind == "onboarding" and rel.awaiting_run_id is not None:
        rel.awaiting_run_id = None  # decided: no run waits any more
        session.add(rel)
    audit.record(
        session,
        actor=approval.decided_by,
        action=f"{kind}.{PAST_TENSE[decision.decision]}",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        reason=decision.comment,
        data={"tier": tier, "proposed": rel.tier_proposed, "flow_run_id": flow_run_id},
    )
    emit_approval(session, rel, approval)
    return approval


def _approval_problems(session: Session, rel: Relationship, decision: ApprovalDecision) -> list[Problem]:
    problems: list[Problem] = []
    try:
        email = normalize_email(decision.by)
    except ValueError as exc:
        return [Problem("by", str(exc))]
    sponsor = session.get(Contact, rel.sponsor_id)
    if sponsor is None or sponsor.email != email:
        problems.append(Problem("by", f"{email} is not the executive sponsor of relationship {rel.id}"))
    if decision.decision == "reject" and not decision.comment:
        problems.append(Problem("reason", "a rejection needs a reason"))
    if decision.tier is not None and decision.tier.value != rel.tier_proposed and not decision.comment:
        problems.append(Problem("comment", "overriding the proposed tier needs a recorded reason"))
    return problems


def approval_of(session: Session, relationship_id: int, kind: str = "onboarding") -> Approval | None:
    """Return the recorded decision, if any."""
    return session.exec(
        select(Approval).where(Approval.relationship_id == relationship_id, Approval.kind == kind)
    ).first()


def apply_approval(
    session: Session, rel: Relationship, approval: Approval, *, actor: str, on: date | None = None
) -> None:
    """Set the approved tier (with any override reason) and the signing date (default: today)."""
    tier = approval.tier or rel.tier_proposed
    if rel.tier == tier and rel.signed_on is not None:
        return
    rel.tier = tier
    rel.tier_override_reason = (
        approval.comment if approval.tier and approval.tier != rel.tier_proposed else None
    )
    rel.signed_on = rel.signed_on or on or today_local()
    session.add(rel)
    audit.record(
        session,
        actor=actor,
        action="tier.approved",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        reason=rel.tier_override_reason,
        data={"tier": tier, "proposed": rel.tier_proposed, "by": approval.decided_by},
    )


class _Band(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dependency_below: float
    notice_days: int = Field(ge=0)
    transition_support_days: int = Field(ge=0)


class _ExitRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    notice_bands: list[_Band] = Field(min_length=1)


@lru_cache(maxsize=1)
def exit_rules() -> _ExitRules:
    """Load the exit-planning rules."""
    return load_data("exit_rules.yaml", _ExitRules)


def draft_exit_plan(session: Session, rel: Relationship, *, actor: str) -> ExitPlan:
    """Draft the exit plan at onboarding: dependency-scaled notice, final payment by the contract's due days.

    The due days are the contract term, capped where the payment law caps it (public bodies).
    """
    existing = session.exec(select(ExitPlan).where(ExitPlan.relationship_id == rel.id)).first()
    if existing is not None:
        return existing
    band = next(b for b in exit_rules().notice_bands if rel.dependency_ratio < b.dependency_below)
    contract = contract_for(session, rel)
    basis = {
        "dependency_ratio": rel.dependency_ratio,
        "band_below": band.dependency_below,
        "payment_term_days": rel.payment_term_days,
        "law": contract.check.law_id,
        "article": contract.check.article,
        "term_finding": contract.check.finding,
    }
    insert_ignore(
        session,
        ExitPlan,
        [
            {
                "relationship_id": rel.id,
                "notice_days": band.notice_days,
                "transition_support_days": band.transition_support_days,
                "final_payment_days": contract.check.due_days,
                "basis": basis,
                "drafted_at": utcnow(),
            }
        ],
        unique=["relationship_id"],
    )
    plan = session.exec(select(ExitPlan).where(ExitPlan.relationship_id == rel.id)).one()
    audit.record(
        session,
        actor=actor,
        action="exit_plan.drafted",
        entity="exit_plan",
        entity_id=plan.id,
        relationship_id=rel.id,
        data={"notice_days": plan.notice_days, "final_payment_days": plan.final_payment_days},
    )
    return plan


def start_exit(
    session: Session, rel: Relationship, *, reason: str, trigger: str, by: str, as_of: date | None = None
) -> tuple[ExitPlan, StageChange | None]:
    """Start the exit: check who asks, fix the notice end and the final payment date, move to exiting."""
    problems = []
    if trigger not in EXIT_TRIGGERS:
        problems.append(Problem("trigger", f"unknown trigger {trigger!r}; use {', '.join(EXIT_TRIGGERS)}"))
    if not reason.strip():
        problems.append(Problem("reason", "an exit needs a reason"))
    person = session.exec(select(Contact).where(Contact.email == by.strip().lower())).first()
    if person is None or person.id not in (rel.manager_id, rel.deputy_id, rel.sponsor_id):
        problems.append(Problem("by", f"{by} is not this relationship's manager, deputy or sponsor"))
    if problems or person is None:
        raise InputRejected(problems, summary="exit rejected")
    plan = draft_exit_plan(session, rel, actor=person.email)
    if plan.exit_started_on is None:
        start = as_of or today_local()
        plan.exit_reason, plan.exit_trigger, plan.exit_started_on = reason.strip(), trigger, start
        plan.notice_ends_on = start + timedelta(days=plan.notice_days)
        # The terms may have changed since the plan was drafted: the final payment follows today's.
        plan.final_payment_days = contract_for(session, rel).check.due_days
        plan.final_payment_due_on = plan.notice_ends_on + timedelta(days=plan.final_payment_days)
        session.add(plan)
    change = transition(session, rel, Stage.exiting, actor=person.email, reason=reason)
    return plan, change


def activate(
    session: Session, rel: Relationship, *, actor: str, as_of: date | None = None
) -> StageChange | None:
    """Move a governed relationship to active and set its first review by the tier's cadence."""
    change = transition(session, rel, Stage.active, actor=actor, reason="governance checklist complete")
    if change is not None:
        partner = session.get(Partner, rel.partner_id)
        assert partner is not None  # foreign key
        months = load_library().review_cadence_months[tier_of(rel, partner)]
        rel.next_review_on = add_months(as_of or today_local(), months)
        session.add(rel)
    return change


_RISK_WHEN = re.compile(r"^(\w+)\s*(>=|>|<=|<)\s*([0-9.]+)$")


class _RiskBand(BaseModel):
    model_config = ConfigDict(extra="forbid")
    when: str
    value: int = Field(ge=1, le=5)


class _RiskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    created_by: OwnerSide
    owner_role: str
    impact: int = Field(ge=1, le=5)
    likelihood: list[_RiskBand] = Field(min_length=1)
    title: dict[str, str]
    mitigation: dict[str, str]


class _RiskTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    risks: list[_RiskSpec]


@lru_cache(maxsize=1)
def standard_risks() -> _RiskTable:
    """Load the standard risk table."""
    return load_data("standard_risks.yaml", _RiskTable)


def _holds(when: str, facts: dict[str, float]) -> bool:
    if when == "always":
        return True
    match = _RISK_WHEN.match(when)
    if match is None:
        raise ValueError(f"bad risk condition {when!r}")
    name, op, raw = match.groups()
    value, limit = facts[name], float(raw)
    return {">=": value >= limit, ">": value > limit, "<=": value <= limit, "<": value < limit}[op]


def seed_risks(session: Session, rel: Relationship) -> int:
    """Seed the joint risk register with the standard risks scored for this partner (once)."""
    facts = {
        "dependency_ratio": rel.dependency_ratio,
        "payment_term_days": float(rel.payment_term_days),
        "key_person_flags": float(len(rel.key_person_flags)),
    }
    rows = []
    for spec in standard_risks().risks:
        likelihood = next(band.value for band in spec.likelihood if _holds(band.when, facts))
        rows.append(
            {
                "relationship_id": rel.id,
                "key": spec.key,
                "created_by_side": spec.created_by,
                "title": spec.title,
                "mitigation": spec.mitigation,
                "likelihood": likelihood,
                "impact": spec.impact,
                "score": likelihood * spec.impact,
                "owner_role": spec.owner_role,
                "status": "open",
                "source": "standard",
                "created_at": utcnow(),
            }
        )
    return insert_ignore(session, Risk, rows, unique=["relationship_id", "key"])


def risks_of(session: Session, relationship_id: int) -> list[Risk]:
    """Return the relationship's risk register, highest score first."""
    risks = session.exec(select(Risk).where(Risk.relationship_id == relationship_id))
    return sorted(risks, key=lambda r: (-r.score, r.key))


# A handover names a role as people write it (`partner-contact`); the charter's people use the same keys.
ROLE_FIELDS = {role.value.replace("_", "-"): role.column for role in RelationshipRole}


def change_contact(
    session: Session,
    rel: Relationship,
    *,
    role: str,
    contact: Contact | None,
    actor: str,
    reason: str | None = None,
) -> tuple[list[str], list[str]]:
    """Hand a role over to another person (or clear an optional one) and re-run the key-person check.

    Returns the key-person flags and the checklist items the handover asked for now.
    """
    if role not in ROLE_FIELDS:
        raise InputRejected([Problem("role", f"unknown role {role!r}; use {', '.join(ROLE_FIELDS)}")])
    if contact is None and role in ("manager", "sponsor", "partner-contact"):
        raise InputRejected([Problem("email", f"the {role} cannot be left empty")])
    side = "partner" if role.endswith("contact") else "ours"
    if contact is not None and contact.side != side:
        raise InputRejected([Problem("email", wrong_side(contact.email, needs=side))])
    if contact is not None and side == "partner" and contact.partner_id != rel.partner_id:
        raise InputRejected([Problem("email", f"{contact.email} is a contact of another partner")])
    if contact is not None and contact.removed_at is not None:
        raise InputRejected([Problem("email", f"{contact.email} has been removed")])
    before = getattr(rel, ROLE_FIELDS[role])
    setattr(rel, ROLE_FIELDS[role], contact.id if contact else None)
    if side == "partner" and before not in (None, rel.partner_contact_id, rel.backup_contact_id):
        # The person no longer speaks for the partner here: the links they were sent stop working now.
        why = reason or f"no longer {role}"
        revoke_links_of(session, before, relationship_id=rel.id, actor=actor, reason=why)
    rel.key_person_flags = key_person_flags(rel)
    session.add(rel)
    asked: list[str] = []
    if role in ("manager", "deputy") and before is not None and contact is not None and contact.id != before:
        # A named person of ours moves on: ask for the written handover and the successor's training
        # now, not at every review.
        asked = raise_event_items(session, rel, "key_person_change", actor=actor)
    audit.record(
        session,
        actor=actor,
        action="relationship.contact_changed",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        reason=reason,
        data={
            "role": role,
            "from": before,
            "to": contact.id if contact else None,
            "key_person_flags": rel.key_person_flags,
        },
    )
    return rel.key_person_flags, asked


def hand_over_all(
    session: Session, *, predecessor: Contact, successor: Contact, actor: str, reason: str
) -> list[int]:
    """Hand every live relationship a person manages (or deputises) to a successor; return their ids."""
    if not reason.strip():
        raise InputRejected([Problem("--reason", "say why the relationships are handed over")])
    me = current_principal()
    moved: list[int] = []
    for field_name, role in (("manager_id", "manager"), ("deputy_id", "deputy")):
        query = select(Relationship).where(
            getattr(Relationship, field_name) == predecessor.id, Relationship.stage != Stage.exited.value
        )
        for rel in session.exec(query).all():
            if me is not None:  # each relationship must be the acting person's to hand over
                require(me, "relationship.handover", rel, session=session)
            change_contact(session, rel, role=role, contact=successor, actor=actor, reason=reason)
            moved.append(id_of(rel))
    return sorted(set(moved))


def relationship_or_404(session: Session, relationship_id: int) -> Relationship:
    """Return the relationship or raise NotFound."""
    rel = session.get(Relationship, relationship_id)
    if rel is None:
        raise NotFound(f"no relationship {relationship_id}")
    return rel


def charter_context(session: Session, rel: Relationship) -> dict[str, Any]:
    """Gather what the governance charter shows: parties, people, ladder, cadence, payment, exit plan."""
    from models.partners.registry import contact_public

    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    people = {
        role: contact_public(c)
        if (c := session.get(Contact, getattr(rel, f)) if getattr(rel, f) else None)
        else None
        for role, f in ROLE_FIELDS.items()
    }
    plan = session.exec(select(ExitPlan).where(ExitPlan.relationship_id == rel.id)).first()
    tier = tier_of(rel, partner)
    contract = contract_for(session, rel)
    from models.core.settings import get_settings

    return {
        "organization": get_settings().organization_name,
        "partner": partner.model_dump(mode="json"),
        "relationship": rel.model_dump(mode="json"),
        "people": people,
        "tier": tier,
        "cadence_months": load_library().review_cadence_months[tier],
        "payment": {
            **contract.check.as_dict(),
            "justification": contract.terms.justification,
            "acceptance_days": contract.terms.acceptance_days,
            "rules": rules_applied(
                contract.check.law_id, buyer_type=contract.terms.buyer_type, basis=contract.terms.basis
            ),
        },
        "exit_plan": plan.model_dump(mode="json") if plan else None,
        "risks": [r.model_dump(mode="json") for r in risks_of(session, id_of(rel))],
    }
