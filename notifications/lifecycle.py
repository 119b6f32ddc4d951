"""Lifecycle steps that tell people, as plain functions: onboarding, governance, exit and rejection.

The lifecycle tasks wrap these for Prefect (they add events and artifacts); the partner-burden
benchmark calls them directly, so what it measures is what the flows do. Each takes a session and
commits nothing itself; `now` is the instant messages are planned at (default: now).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from models.checklists.generation import (
    cancel_partner_items,
    generate_checklist,
    item_public,
    open_required,
    tier_of,
)
from models.checklists.library import load_library
from models.core.base import id_of, utcnow
from models.core.calendar import today_local
from models.core.errors import NotFound, TransitionRefused
from models.core.settings import get_settings
from models.core.vocabulary import LANGUAGES
from models.lifecycle.exits import require_approved_exit
from models.lifecycle.machine import (
    StageChange,
    activate,
    apply_approval,
    approval_of,
    charter_context,
    draft_exit_plan,
    relationship_or_404,
    seed_risks,
    start_exit,
    transition,
)
from models.payments.contract import contract_for
from models.portal.links import portal_url_for
from models.tables import ChecklistItem, Contact, Document, ExitPlan, ItemStatus, Partner, Relationship
from models.tables.core import Side, Stage
from notifications.documents import legal_basis_words, render_document
from notifications.outbox import cancel_reminders, cancel_unsent, queue, queue_message, recipient_language


@dataclass
class Step:
    """What one lifecycle step did: a summary for people, the stage change for the event bus."""

    summary: dict[str, Any]
    change: StageChange | None = None
    documents: dict[tuple[str, str], str] = field(default_factory=dict)


def people_of(session: Session, rel: Relationship) -> dict[str, Contact | None]:
    """Return the relationship's named people by role (None where a role is empty)."""
    ids = {
        "manager": rel.manager_id,
        "deputy": rel.deputy_id,
        "sponsor": rel.sponsor_id,
        "partner_contact": rel.partner_contact_id,
        "backup_contact": rel.backup_contact_id,
    }
    return {role: session.get(Contact, cid) if cid else None for role, cid in ids.items()}


def message_context(
    session: Session, rel: Relationship, recipient: Contact, **extra: Any
) -> dict[str, Any]:
    """Return what every lifecycle message says: both parties, the reader, our manager, the portal link."""
    partner = session.get(Partner, rel.partner_id)
    manager = session.get(Contact, rel.manager_id)
    assert partner is not None and manager is not None  # foreign keys
    # The partner answers through its personal portal link; our staff use the dashboard.
    is_partner = recipient.side == Side.partner.value
    return {
        "side": "partner" if is_partner else "ours",
        "partner_name": partner.legal_name,
        "relationship_id": rel.id,
        "recipient_name": recipient.name or recipient.email,
        "manager_name": manager.name or manager.email,
        "manager_email": manager.email,
        "tier": rel.tier or rel.tier_proposed,
        "portal_url": portal_url_for(session, recipient, rel) if is_partner else None,
        **extra,
    }


def partner_asks(session: Session, rel: Relationship, stage: str, lang: str) -> list[dict[str, Any]]:
    """Return the open items of a stage that take the partner's time, in its voice and language."""
    library = load_library()
    query = (
        select(ChecklistItem)
        .where(
            ChecklistItem.relationship_id == rel.id,
            ChecklistItem.stage == stage,
            ChecklistItem.status == ItemStatus.open.value,
            col(ChecklistItem.owner_side).in_(("partner", "joint")),
        )
        .order_by(col(ChecklistItem.due_on), col(ChecklistItem.id))
    )
    asks = []
    for item in session.exec(query):
        if item.owner_side == "joint" and not item.effort_minutes:
            continue  # part of a meeting counted elsewhere: nothing for the partner to do on its own
        shown = item_public(item, library, lang)
        asks.append({key: shown[key] for key in ("ask", "send", "due_on", "effort_minutes")})
    return asks


def _tell(
    session: Session,
    rel: Relationship,
    person: Contact,
    *,
    kind: str,
    dedupe: str,
    now: datetime | None,
    words: Callable[[str], dict[str, Any]] | None = None,
    **extra: Any,
) -> bool:
    """Queue one lifecycle message to one person in its language; `words(lang)` adds text in it."""
    lang = recipient_language(session, person, get_settings())
    context = message_context(session, rel, person, **extra, **(words(lang) if words else {}))
    message, created = queue(
        session,
        kind=kind,
        context=context,
        recipient=person,
        relationship_id=rel.id,
        dedupe=dedupe,
        language=lang,
        now=now,
    )
    return message is not None and created


def welcome(session: Session, rel: Relationship, *, now: datetime | None = None) -> int:
    """Welcome our manager and the partner: the partner learns who we are, its tier and what we ask."""
    library = load_library()
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    tier = tier_of(rel, partner)
    budget = {
        "year_minutes": library.year_budget(tier, 0),
        "messages_per_month": library.messages_per_month[tier],
    }

    def asks(lang: str) -> dict[str, Any]:
        return {"asks": partner_asks(session, rel, "onboarding", lang)}

    people = people_of(session, rel)
    queued = 0
    for role, words in (("manager", None), ("partner_contact", asks)):
        person = people[role]
        if person is not None:
            queued += _tell(
                session, rel, person, kind="welcome", dedupe="onboarding", now=now, words=words, **budget
            )
    return queued


class StageSummary(BaseModel):
    """Where a relationship stands after a lifecycle step: the start of every step's report."""

    model_config = ConfigDict(extra="forbid")

    relationship_id: int
    stage: str


class OnboardingSummary(StageSummary):
    """What finishing an onboarding did, as the flow reports it."""

    tier: str | None
    checklist_items: int
    partner_minutes: int
    budget_minutes: int
    notice_days: int


class WindDownSummary(BaseModel):
    """What withdrawing a relationship's asks cancelled, as the flows report it."""

    model_config = ConfigDict(extra="forbid")

    items_cancelled: int
    reminders_cancelled: int
    messages_cancelled: int


class GovernanceSummary(StageSummary):
    """What starting governance did, as the flow reports it."""

    risks_seeded: int
    governance_items: int


class ActivationSummary(StageSummary):
    """Where a relationship stands after the check for a closed governance checklist."""

    open_governance_items: int
    next_review_on: str | None  # ISO date


class ExitSummary(StageSummary):
    """What starting an exit did, as the flow reports it."""

    notice_days: int
    notice_ends_on: str | None  # ISO date
    final_payment_due_on: str | None  # ISO date
    exit_items: int
    items_cancelled: int
    reminders_cancelled: int
    messages_cancelled: int


class ExitCloseSummary(StageSummary):
    """Where an exit stands after the check for a closed exit checklist."""

    open_exit_items: int


def finish_onboarding(
    session: Session, relationship_id: int, *, as_of: date | None, actor: str, now: datetime | None = None
) -> Step:
    """Apply the approval, generate the checklist, draft the exit plan, welcome both sides, move on."""
    rel = relationship_or_404(session, relationship_id)
    approval = approval_of(session, relationship_id)
    if approval is None or approval.decision != "approve":
        raise NotFound(f"relationship {relationship_id} has no approval to apply")
    apply_approval(session, rel, approval, actor=actor, on=as_of)
    result = generate_checklist(session, relationship_id, "onboarding", actor=actor, start_on=as_of)
    plan = draft_exit_plan(session, rel, actor=actor)
    welcome(session, rel, now=now)
    by = approval.decided_by
    change = transition(session, rel, Stage.onboarding, actor=by, reason=f"approved by {by}")
    summary = {
        "relationship_id": relationship_id,
        "stage": rel.stage,
        "tier": rel.tier,
        "checklist_items": result.total,
        "partner_minutes": result.used_minutes,
        "budget_minutes": result.budget_minutes,
        "notice_days": plan.notice_days,
    }
    return Step(summary, change)


def start_governance(session: Session, relationship_id: int, *, as_of: date | None, actor: str) -> Step:
    """Move to governance; write the charter in both languages; seed risks; generate its checklist."""
    rel = relationship_or_404(session, relationship_id)
    missing = open_required(session, relationship_id, "onboarding") if rel.stage == "onboarding" else []
    if missing:
        raise TransitionRefused(
            f"onboarding is not complete: {len(missing)} required item(s) open",
            reasons=[f"#{i.id} {i.title.get('en', i.item_key)}" for i in missing],
        )
    change = transition(session, rel, Stage.governance, actor=actor, reason="onboarding checklist complete")
    seeded = seed_risks(session, rel)
    context = charter_context(session, rel)
    renders: dict[tuple[str, str], str] = {
        (lang, fmt): render_document("charter", lang, fmt, context)
        for lang in LANGUAGES
        for fmt in ("md", "html")
    }
    _store_documents(session, relationship_id, "charter", renders)
    result = generate_checklist(session, relationship_id, "governance", actor=actor, start_on=as_of)
    summary = {
        "relationship_id": relationship_id,
        "stage": "governance",
        "risks_seeded": seeded,
        "governance_items": result.total,
    }
    return Step(summary, change, renders)


def _store_documents(session: Session, rel_id: int, kind: str, renders: dict[tuple[str, str], str]) -> None:
    """Store a relationship's document in every language and format, replacing the earlier version."""
    for (lang, fmt), content in renders.items():
        doc = session.exec(
            select(Document).where(
                Document.relationship_id == rel_id,
                Document.kind == kind,
                Document.period == "",
                Document.language == lang,
                Document.fmt == fmt,
            )
        ).first()
        doc = doc or Document(relationship_id=rel_id, kind=kind, language=lang, fmt=fmt, content="")
        doc.content, doc.created_at = content, utcnow()
        session.add(doc)


def activate_if_governed(session: Session, relationship_id: int, *, as_of: date | None, actor: str) -> Step:
    """Move to active with the first review date once the governance checklist is closed."""
    rel = relationship_or_404(session, relationship_id)
    open_items = open_required(session, relationship_id, "governance")
    change = None
    if rel.stage == Stage.governance.value and not open_items:
        change = activate(session, rel, actor=actor, as_of=as_of)
    review = rel.next_review_on
    summary = {
        "relationship_id": relationship_id,
        "stage": rel.stage,
        "open_governance_items": len(open_items),
        "next_review_on": review.isoformat() if review else None,
    }
    return Step(summary, change)


def wind_down(
    session: Session, rel: Relationship, *, reason: str, actor: str, keep_stage: str | None = None
) -> dict[str, int]:
    """Withdraw what a relationship still asks of its partner and every message not yet sent; say how many.

    Open partner and joint items are cancelled (the exit keeps its own), queued reminders lose this
    relationship (a digest about other relationships keeps those), and every other unsent message of
    the relationship is cancelled.
    """
    items = cancel_partner_items(session, rel, reason=reason, actor=actor, keep_stage=keep_stage)
    reminders = cancel_reminders(session, relationship_id=id_of(rel), reason=reason)
    messages = cancel_unsent(session, relationship_id=id_of(rel), reason=reason)
    return {"items_cancelled": items, "reminders_cancelled": reminders, "messages_cancelled": messages}


def legal_basis(session: Session, rel: Relationship, plan: ExitPlan, lang: str) -> str:
    """Return the legal basis of the final payment date, in the reader's language."""
    contract = contract_for(session, rel)
    agreed, by_law = legal_basis_words(lang)
    days = plan.final_payment_days
    if contract.law is None:
        return agreed.format(days=days)
    name = contract.law.name.get(lang) or contract.law.name["en"]
    article = f" {contract.check.article}" if contract.check.article else ""
    return by_law.format(name=name, article=article, days=days)


def begin_exit(
    session: Session,
    relationship_id: int,
    *,
    reason: str,
    trigger: str,
    by: str,
    as_of: date | None,
    now: datetime | None = None,
) -> Step:
    """Start the exit: notice from the plan, earlier asks withdrawn, exit checklist, everyone told."""
    rel = relationship_or_404(session, relationship_id)
    require_approved_exit(session, rel, reason=reason, trigger=trigger, by=by)
    plan, change = start_exit(session, rel, reason=reason, trigger=trigger, by=by, as_of=as_of)
    cancelled = wind_down(session, rel, reason=f"exit: {reason}", actor=by, keep_stage="exit")
    result = generate_checklist(session, relationship_id, "exit", actor=by, start_on=plan.exit_started_on)
    facts = {
        "notice_days": plan.notice_days,
        "notice_ends_on": plan.notice_ends_on.isoformat() if plan.notice_ends_on else "",
        "final_payment_due_on": plan.final_payment_due_on.isoformat() if plan.final_payment_due_on else "",
        "final_payment_days": plan.final_payment_days,
        "exit_reason": reason,
        "cancelled": {k.removesuffix("_cancelled"): v for k, v in cancelled.items()},
    }

    def words(lang: str) -> dict[str, Any]:
        basis = legal_basis(session, rel, plan, lang)
        return {"legal_basis": basis, "asks": partner_asks(session, rel, "exit", lang)}

    for person in people_of(session, rel).values():
        if person is not None:
            _tell(session, rel, person, kind="exit_notice", dedupe="exit", now=now, words=words, **facts)
    summary = {
        "relationship_id": relationship_id,
        "stage": rel.stage,
        "notice_days": plan.notice_days,
        "notice_ends_on": facts["notice_ends_on"] or None,
        "final_payment_due_on": facts["final_payment_due_on"] or None,
        "exit_items": result.total,
        **cancelled,
    }
    return Step(summary, change)


def close_exit_if_done(session: Session, relationship_id: int, *, actor: str) -> Step:
    """Move an exiting relationship to exited once every required exit item is closed."""
    rel = relationship_or_404(session, relationship_id)
    open_items = open_required(session, relationship_id, "exit")
    change = None
    if rel.stage == Stage.exiting.value and not open_items:
        change = transition(session, rel, Stage.exited, actor=actor, reason="exit checklist closed")
    summary = {"relationship_id": relationship_id, "stage": rel.stage, "open_exit_items": len(open_items)}
    return Step(summary, change)


def reject(session: Session, relationship_id: int, *, reason: str, actor: str) -> dict[str, int]:
    """Wind down a rejected relationship: nothing stays asked of the partner, nothing unsent goes out."""
    rel = relationship_or_404(session, relationship_id)
    return wind_down(session, rel, reason=f"rejected: {reason}", actor=actor)


def ask_sponsor(session: Session, relationship_id: int, *, flow_run_id: str | None, actor: str) -> None:
    """Ask the sponsor to approve (one message per relationship), and note which run waits for them."""
    from models.core import audit
    from models.identity.actions import APPROVE_ONBOARDING, action_link

    rel = relationship_or_404(session, relationship_id)
    sponsor = session.get(Contact, rel.sponsor_id)
    assert sponsor is not None  # a foreign key: every relationship has a sponsor
    reasons = rel.tier_explanation["reason"]
    lang = recipient_language(session, sponsor, get_settings())
    context = message_context(
        session,
        rel,
        sponsor,
        tier=rel.tier_proposed,
        tier_reason=reasons.get(lang) or reasons["en"],
        # A signed, single-use link to a confirmation page: sponsors do not open a shell.
        action_url=action_link(
            session, purpose=APPROVE_ONBOARDING, email=sponsor.email, relationship_id=relationship_id
        ),
    )
    queue_message(
        session,
        kind="approval_request",
        context=context,
        recipient=sponsor,
        relationship_id=rel.id,
        dedupe="onboarding",
    )
    rel.awaiting_run_id = flow_run_id
    session.add(rel)
    audit.record(
        session,
        actor=actor,
        action="onboarding.awaiting_approval",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        data={"flow_run_id": flow_run_id},
    )


def tell_manager_approval_timed_out(session: Session, relationship_id: int, hours: float) -> None:
    """Tell the manager that the sponsor has not decided within the timeout (one escalation)."""
    rel = relationship_or_404(session, relationship_id)
    manager = session.get(Contact, rel.manager_id)
    sponsor = session.get(Contact, rel.sponsor_id)
    partner = session.get(Partner, rel.partner_id)
    assert manager is not None and sponsor is not None and partner is not None  # foreign keys
    waiting = {  # one escalated entry, in the shape reminder digests use
        "title": f"Sponsor approval by {sponsor.email} (waited {hours:g} h)",
        "state": "escalated",
        "days": max(1, round(hours / 24)),
        "due_on": today_local().isoformat(),
        "owner_name": sponsor.name or sponsor.email,
    }
    groups = [{"relationship_id": rel.id, "partner_name": partner.legal_name, "entries": [waiting]}]
    context = message_context(session, rel, manager, groups=groups)
    queue_message(
        session,
        kind="escalation",
        context=context,
        recipient=manager,
        relationship_id=rel.id,
        dedupe="approval-timeout",
    )
