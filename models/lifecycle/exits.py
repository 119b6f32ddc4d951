"""An exit proposed by the manager, approved by the sponsor, then run (`exit-relationship`).

The proposal and the approval live on the exit plan; what stands in the way of each step is named
by a stable code (shown in the reader's language), every one at once, and nothing is written.
"""

from __future__ import annotations

from typing import Literal

from sqlmodel import Session, select

from models.core import audit
from models.core.base import utcnow
from models.core.errors import InputRejected, Problem, TransitionRefused
from models.core.principal import current_principal
from models.lifecycle.machine import EXIT_TRIGGERS, TRANSITIONS, draft_exit_plan
from models.tables import Contact, ExitPlan, Relationship
from models.tables.core import Stage

Step = Literal["propose", "approve", "run"]
# The stages an exit may start from, read off the state machine (not a second list).
EXIT_FROM = frozenset(s.value for s, nxt in TRANSITIONS.items() if Stage.exiting in nxt)


def plan_of(session: Session, rel: Relationship) -> ExitPlan | None:
    """Return the relationship's exit plan, if drafted."""
    return session.exec(select(ExitPlan).where(ExitPlan.relationship_id == rel.id)).first()


def exit_blockers(session: Session, rel: Relationship, step: Step) -> list[str]:
    """Return the code of everything that stands in the way of this exit step (empty: go ahead)."""
    plan = plan_of(session, rel)
    proposed = plan is not None and plan.exit_proposed_at is not None
    approved = plan is not None and plan.exit_approved_at is not None
    started = plan is not None and plan.exit_started_on is not None
    reasons = []
    # "run" also continues an exit already under way (it closes once the exit checklist is done).
    if rel.stage not in EXIT_FROM and not (step == "run" and rel.stage == Stage.exiting.value):
        reasons.append(f"stage:{rel.stage}")
    if step == "propose" and proposed:
        reasons.append("already-proposed")
    if step in ("approve", "run") and not proposed and not started:
        reasons.append("not-proposed")
    if step == "approve" and approved:
        reasons.append("already-approved")
    if step == "run" and not approved and not started:
        reasons.append("not-approved")
    return reasons


# What each blocker code means, for the command line (the web says it in the reader's language).
BLOCKERS = {
    "stage": "the relationship is {stage}: an exit starts from onboarding, governance or active",
    "already-proposed": "an exit has already been proposed",
    "not-proposed": "no exit has been proposed yet (tandem exit-propose)",
    "already-approved": "the executive sponsor has already approved the exit",
    "not-approved": "the executive sponsor has not approved the exit yet (tandem exit-approve)",
}


def describe_blocker(code: str) -> str:
    """Return a blocker code as a sentence ("stage:proposed" names the stage)."""
    key, _, stage = code.partition(":")
    return BLOCKERS[key].format(stage=stage)


def refuse_blocked(session: Session, rel: Relationship, step: Step) -> None:
    """Raise TransitionRefused listing every reason this exit step cannot be taken now."""
    codes = exit_blockers(session, rel, step)
    if codes:
        raise refusal(rel, step, codes)


def refusal(rel: Relationship, step: Step, codes: list[str]) -> TransitionRefused:
    """Return the refusal of an exit step, with every blocker as a sentence and as its code."""
    return TransitionRefused(
        f"relationship {rel.id}: cannot {step} the exit", [describe_blocker(c) for c in codes], codes
    )


def propose_exit(session: Session, rel: Relationship, *, reason: str, trigger: str, by: str) -> ExitPlan:
    """Propose the exit with its reason and trigger; the sponsor approves it before it runs."""
    problems = []
    if trigger not in EXIT_TRIGGERS:
        problems.append(Problem("trigger", f"use one of {', '.join(EXIT_TRIGGERS)}"))
    if not reason.strip():
        problems.append(Problem("reason", "an exit needs a reason"))
    if problems:
        raise InputRejected(problems, summary="exit rejected")
    refuse_blocked(session, rel, "propose")
    plan = draft_exit_plan(session, rel, actor=by)
    plan.exit_reason, plan.exit_trigger = reason.strip(), trigger
    plan.exit_proposed_by, plan.exit_proposed_at = by, utcnow()
    session.add(plan)
    audit.record(
        session,
        actor=by,
        action="exit.proposed",
        entity="exit_plan",
        entity_id=plan.id,
        relationship_id=rel.id,
        reason=plan.exit_reason,
        data={"trigger": trigger},
    )
    return plan


def approve_exit(session: Session, rel: Relationship, *, by: str) -> ExitPlan:
    """Record the sponsor's approval of the proposed exit."""
    refuse_blocked(session, rel, "approve")
    plan = plan_of(session, rel)
    assert plan is not None  # a proposal drafted it
    plan.exit_approved_by, plan.exit_approved_at = by, utcnow()
    session.add(plan)
    audit.record(
        session,
        actor=by,
        action="exit.approved",
        entity="exit_plan",
        entity_id=plan.id,
        relationship_id=rel.id,
        reason=plan.exit_reason,
    )
    return plan


def refuse_run(session: Session, rel: Relationship, by: str) -> list[str]:
    """Refuse unless `by` may run the exit now; return the approval that running it gives.

    A sponsor may run an exit nobody proposed or approved: running it is their approval, and the
    codes returned ("not-proposed", "not-approved") say what the caller records on their behalf.
    """
    codes = exit_blockers(session, rel, "run")
    pending_approval = set(codes) <= {"not-proposed", "not-approved"}
    if codes and not (pending_approval and _is_sponsor(session, rel, by) and _speaks_for(by)):
        raise refusal(rel, "run", codes)
    return codes


def require_approved_exit(session: Session, rel: Relationship, *, reason: str, trigger: str, by: str) -> None:
    """Refuse to run an exit the sponsor has not approved; the sponsor running it approves it there.

    One rule for every path (CLI, web, API, a served run): a manager proposes, the sponsor approves,
    then the exit runs. The sponsor who runs an exit themselves proposes and approves it in the same
    step, each recorded in the audit trail.
    """
    by = by.strip().lower()
    pending = refuse_run(session, rel, by)
    if "not-proposed" in pending:
        propose_exit(session, rel, reason=reason, trigger=trigger, by=by)
    if pending:
        approve_exit(session, rel, by=by)


def _speaks_for(email: str) -> bool:
    """Return whether the acting principal may give `email`'s approval: that person, not a token.

    Without a principal the caller is Tandem's own code in this process (a test, the demo).
    """
    me = current_principal()
    return me is None or (me.method != "api" and me.acting_for == email.strip().lower())


def _is_sponsor(session: Session, rel: Relationship, email: str) -> bool:
    sponsor = session.get(Contact, rel.sponsor_id) if rel.sponsor_id is not None else None
    return sponsor is not None and sponsor.email == email.strip().lower()
