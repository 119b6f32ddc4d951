"""The lifecycle state machine, approvals, exit plans and risks, on plain functions."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from models.core.errors import Conflict, InputRejected, TransitionRefused
from models.lifecycle.machine import (
    TRANSITIONS,
    ApprovalDecision,
    apply_approval,
    draft_exit_plan,
    record_approval,
    seed_risks,
    start_exit,
    store_proposed_tier,
    transition,
)
from models.lifecycle.relationships import RelationshipOpen, key_person_flags, open_relationship
from models.partners.registry import PartnerCreate, add_partner
from models.payments.contract import TermsUpdate, set_terms
from models.tables import AuditEvent, Relationship, Risk
from models.tables.core import Stage

ALLOWED = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
REFUSED = [(a, b) for a, b in itertools.product(Stage, Stage) if a != b and (a, b) not in ALLOWED]


def _rel(
    session: Session,
    *,
    dependency: float = 0.2,
    deputy: str | None = "dep@ours.example",
    backup: str | None = "bk@p.example",
    country: str = "DE",
    term: int = 60,
) -> Relationship:
    add_partner(
        session,
        PartnerCreate(
            legal_name="P",
            registration_id="R1",
            country=country,
            industry="other",
            employees=30,
            annual_revenue=3_000_000,
            currency="EUR",
        ),
        actor="t",
    )
    return open_relationship(
        session,
        RelationshipOpen(
            partner="R1",
            manager="rm@ours.example",
            deputy=deputy,
            sponsor="vp@ours.example",
            partner_contact="pc@p.example",
            backup_contact=backup,
            dependency_ratio=dependency,
            payment_term_days=term,
        ),
        actor="t",
    )


def test_the_allowed_path_is_exactly_the_lifecycle() -> None:
    assert ALLOWED == {
        (Stage.proposed, Stage.onboarding),
        (Stage.onboarding, Stage.governance),
        (Stage.governance, Stage.active),
        (Stage.active, Stage.exiting),
        (Stage.exiting, Stage.exited),
        (Stage.onboarding, Stage.exiting),
        (Stage.governance, Stage.exiting),
    }


@pytest.mark.parametrize(("start", "target"), REFUSED, ids=[f"{a.value}->{b.value}" for a, b in REFUSED])
def test_every_refused_transition_is_refused_clearly_and_writes_nothing(
    session: Session, start: Stage, target: Stage
) -> None:
    rel = _rel(session)
    rel.stage = start.value
    session.commit()
    before = len(session.exec(select(AuditEvent)).all())
    with pytest.raises(TransitionRefused, match=f"cannot go from {start.value} to {target.value}"):
        transition(session, rel, target, actor="t")
    assert rel.stage == start.value
    assert len(session.exec(select(AuditEvent)).all()) == before


def test_allowed_transition_records_audit_and_returns_the_event(session: Session) -> None:
    rel = _rel(session)
    change = transition(session, rel, Stage.onboarding, actor="vp@ours.example", reason="approved")
    assert change is not None and change.event == "tandem.relationship.onboarding"
    assert transition(session, rel, Stage.onboarding, actor="t") is None  # a repeat is a no-op
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "relationship.stage")).one()
    assert audit.data == {"from": "proposed", "to": "onboarding"} and audit.reason == "approved"


def test_approval_rules(session: Session) -> None:
    rel = _rel(session)
    store_proposed_tier(session, rel, actor="t")
    with pytest.raises(InputRejected) as caught:
        record_approval(
            session, rel, ApprovalDecision(decision="approve", by="rm@ours.example", tier="enhanced")
        )
    text = str(caught.value)
    assert "not the executive sponsor" in text and "needs a recorded reason" in text
    with pytest.raises(InputRejected, match="needs a reason"):
        record_approval(session, rel, ApprovalDecision(decision="reject", by="vp@ours.example"))
    approval = record_approval(
        session,
        rel,
        ApprovalDecision(decision="approve", by="VP@ours.example", tier="enhanced", comment="strategic"),
    )
    apply_approval(session, rel, approval, actor="t")
    assert (rel.tier, rel.tier_override_reason, rel.tier_proposed) == ("enhanced", "strategic", "standard")
    transition(session, rel, Stage.onboarding, actor="t")
    with pytest.raises(Conflict, match="already approved"):
        record_approval(session, rel, ApprovalDecision(decision="reject", by="vp@ours.example", comment="no"))


@pytest.mark.parametrize(
    ("dependency", "notice", "support"),
    [(0.0, 30, 15), (0.099, 30, 15), (0.1, 60, 30), (0.35, 90, 60), (0.5, 180, 90), (1.0, 180, 90)],
)
def test_exit_notice_scales_with_dependency(
    session: Session, dependency: float, notice: int, support: int
) -> None:
    plan = draft_exit_plan(session, _rel(session, dependency=dependency), actor="t")
    assert (plan.notice_days, plan.transition_support_days) == (notice, support)


def test_final_payment_follows_the_contracts_due_days_under_the_law(session: Session) -> None:
    rel = _rel(session, term=90)  # a German partner: Directive 2011/7/EU
    plan = draft_exit_plan(session, rel, actor="t")
    # An enterprise may agree 90 days (expressly, and not grossly unfair): a finding, not a cap.
    assert plan.final_payment_days == 90
    assert (plan.basis["law"], plan.basis["article"], plan.basis["term_finding"]) == (
        "eu-late-payment",
        "Art. 3(5)",
        "needs_justification",
    )
    # As a public authority we may pay within 60 days at most: the exit's final payment follows.
    set_terms(session, rel, TermsUpdate(buyer_type="public_body"), actor="t")
    rel.stage = "active"
    plan, _ = start_exit(
        session, rel, reason="ends", trigger="planned-end", by="vp@ours.example", as_of=date(2026, 12, 1)
    )
    assert plan.final_payment_days == 60 and plan.final_payment_due_on == plan.notice_ends_on + timedelta(
        days=60
    )


def test_start_exit_checks_who_and_why_and_fixes_dates(session: Session) -> None:
    rel = _rel(session, dependency=0.35)
    rel.stage = "active"
    with pytest.raises(InputRejected) as caught:
        start_exit(session, rel, reason=" ", trigger="boredom", by="pc@p.example")
    assert {p.where for p in caught.value.problems} == {"reason", "trigger", "by"}
    plan, change = start_exit(
        session,
        rel,
        reason="contract ends",
        trigger="planned-end",
        by="rm@ours.example",
        as_of=date(2026, 12, 1),
    )
    assert change is not None and rel.stage == "exiting"
    assert plan.notice_ends_on == date(2027, 3, 1) and plan.final_payment_due_on == date(2027, 4, 30)


def test_risks_are_scored_by_the_rules_and_seeded_once(session: Session) -> None:
    rel = _rel(session, dependency=0.6, deputy=None, backup=None, term=75)
    assert seed_risks(session, rel) == 4 and seed_risks(session, rel) == 0
    risks = {r.key: r for r in session.exec(select(Risk))}
    assert (risks["dependency"].likelihood, risks["dependency"].score) == (4, 20)
    assert risks["late-payment"].likelihood == 4 and risks["key-person"].likelihood == 4
    assert risks["dependency"].created_by_side == "ours"


def test_key_person_flags() -> None:
    rel = Relationship(
        key="k",
        partner_id=1,
        manager_id=1,
        deputy_id=None,
        sponsor_id=1,
        partner_contact_id=5,
        backup_contact_id=5,
        size_class="micro",
        size_scheme="EU-2003-361",
    )
    assert key_person_flags(rel) == [
        "ours: no deputy manager",
        "ours: one person holds two roles",
        "partner: primary and backup are the same person",
    ]
