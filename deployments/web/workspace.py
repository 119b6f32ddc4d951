"""The staff workspace (`/work`): my work, partners, and decisions, with the functions the CLI calls.

Every route needs a signed-in person and checks their role with `can`, as the CLI does; a
relationship outside someone's scope is a 404 (its existence is not theirs to learn).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from deployments.web.auth import Person, check_csrf, current, sign_in_page
from deployments.web.pages import language_of, page
from deployments.web.runs import runs_of, start_flow
from deployments.web.security import ItemId
from models.core.base import id_of, utcnow
from models.core.db import session_scope
from models.core.errors import InputRejected, Problem
from models.core.principal import Principal, acting_as
from models.identity.access import can, managed_filter, require
from models.identity.actions import ACKNOWLEDGE_ESCALATION, ACTION_OF
from models.identity.sessions import LinkRefused, find_link, use_link
from models.lifecycle.machine import ApprovalDecision, approval_of, relationship_or_404
from models.partners.registry import PartnerFilter, list_partners, partner_public
from models.tables import (
    AuditEvent,
    ChecklistItem,
    Contact,
    ExitPlan,
    OneTimeLink,
    Partner,
    Relationship,
    Review,
    User,
)
from models.tables.core import Criticality, Stage, Tier

router = APIRouter()
PAGE_SIZE = 25
OPEN = ("open", "overdue")


def work_page(request: Request, template: str, context: dict[str, Any], me: Principal) -> HTMLResponse:
    live = current(request)
    # The role's actions, so a page shows no button its reader may not use (an auditor sees none).
    actions = {
        "relationship.onboard",
        "relationship.handover",
        "item.close",
        "item.waive",
        "governance.start",
    }
    with session_scope() as session:
        me_can = {a for a in actions if can(me, a, session=session)}
    full = {
        **context,
        "me": me,
        "me_can": me_can,
        "csrf": live.csrf if live else "",
        "runs": runs_of(me.who)[:5],
    }
    return page(request, template, full, lang=language_of(request))


def _my_contact_id(session: Session, me: Principal) -> int | None:
    contact = session.exec(select(Contact).where(Contact.email == me.acting_for)).first()
    return contact.id if contact else None


def waiting_approvals(session: Session, me: Principal) -> list[dict[str, Any]]:
    """Return the proposed relationships waiting for this person's decision as their sponsor."""
    mine = _my_contact_id(session, me)
    if mine is None:
        return []
    query = (
        select(Relationship, Partner.legal_name)
        .join(Partner, col(Partner.id) == Relationship.partner_id)
        .where(Relationship.sponsor_id == mine, Relationship.stage == "proposed")
    )
    return [
        {"id": rel.id, "partner": name, "tier": rel.tier_proposed}
        for rel, name in session.exec(query)
        if approval_of(session, id_of(rel)) is None
    ]


def waiting_exits(session: Session, me: Principal) -> list[dict[str, Any]]:
    """Return the exits proposed on relationships this person sponsors, waiting for their approval."""
    mine = _my_contact_id(session, me)
    if mine is None:
        return []
    query = (
        select(Relationship.id, Partner.legal_name, ExitPlan.exit_reason)
        .join(Partner, col(Partner.id) == Relationship.partner_id)
        .join(ExitPlan, col(ExitPlan.relationship_id) == Relationship.id)
        .where(
            Relationship.sponsor_id == mine,
            col(ExitPlan.exit_proposed_at).is_not(None),
            col(ExitPlan.exit_approved_at).is_(None),
            col(ExitPlan.exit_started_on).is_(None),
        )
    )
    return [{"id": rid, "partner": name, "reason": reason} for rid, name, reason in session.exec(query)]


def my_items(session: Session, me: Principal, *, limit: int = 50) -> list[ChecklistItem]:
    """Return the open items this person or their team owns, overdue (earliest due) first."""
    mine = _my_contact_id(session, me)
    owned = col(ChecklistItem.owner_contact_id) == mine if mine else col(ChecklistItem.id) == -1
    if me.teams:
        owned = owned | (
            (col(ChecklistItem.owner_side) == "ours") & col(ChecklistItem.owner_role).in_(sorted(me.teams))
        )
    query = (
        select(ChecklistItem)
        .where(owned, col(ChecklistItem.status).in_(OPEN))
        .order_by(col(ChecklistItem.due_on), col(ChecklistItem.id))
        .limit(limit)
    )
    return list(session.exec(query))


def my_relationships(session: Session, me: Principal, *, limit: int = 100) -> list[dict[str, Any]]:
    """Return the relationships this person may read, with stage, tier and health."""
    query = select(Relationship, Partner.legal_name).join(Partner, col(Partner.id) == Relationship.partner_id)
    scope = managed_filter(me)
    if scope is not None:
        query = query.where(scope)
    query = query.order_by(col(Relationship.id)).limit(limit)
    rows: list[dict[str, Any]] = [
        {"id": rel.id, "partner": name, "stage": rel.stage, "tier": rel.tier}
        for rel, name in session.exec(query)
    ]
    health: dict[int, tuple[str, int | None]] = {}
    ids = [r["id"] for r in rows]
    for rid, period, value in session.exec(
        select(Review.relationship_id, Review.period, Review.health).where(
            col(Review.relationship_id).in_(ids)
        )
    ):
        if rid not in health or period > health[rid][0]:
            health[rid] = (period, value)
    return [{**r, "health": health.get(r["id"], ("", None))[1]} for r in rows]


def last_visit(session: Session, me: Principal) -> datetime:
    """Return when this person last saw My work (a week ago on a first visit), and mark this visit."""
    now = utcnow()
    user = session.get(User, me.user_id) if me.user_id else None
    if user is None:  # a machine's read-only access: no person to remember
        return now - timedelta(days=7)
    since = user.work_seen_at or now - timedelta(days=7)
    user.work_seen_at = now
    session.add(user)
    return since


def recent_changes(session: Session, ids: list[int], *, since: datetime) -> list[AuditEvent]:
    """Return what changed on these relationships since a moment (newest first)."""
    if not ids:
        return []
    query = (
        select(AuditEvent)
        .where(col(AuditEvent.relationship_id).in_(ids), col(AuditEvent.at) >= since)
        .order_by(col(AuditEvent.id).desc())
        .limit(20)
    )
    return list(session.exec(query))


@router.get("/work", response_class=HTMLResponse)
def my_work(request: Request, me: Person) -> HTMLResponse:
    """Show my work: approvals waiting for me, items I or my team own, my relationships, what changed."""
    with session_scope() as session:
        relationships = my_relationships(session, me)
        since = last_visit(session, me)
        context = {
            "approvals": waiting_approvals(session, me),
            "exits": waiting_exits(session, me),
            "items": my_items(session, me),
            "relationships": relationships,
            "changes": recent_changes(session, [r["id"] for r in relationships], since=since),
            "since": since,
            "today": utcnow().date(),
        }
    return work_page(request, "work_home.html.j2", context, me)


@router.get("/work/partners", response_class=HTMLResponse)
def partners(
    request: Request,
    me: Person,
    q: Annotated[str, Query(max_length=200)] = "",
    country: Annotated[str, Query(max_length=2)] = "",
    size: Annotated[str, Query(max_length=20)] = "",
    tier: Annotated[Tier | Literal[""], Query()] = "",
    stage: Annotated[Stage | Literal[""], Query()] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    """Search partners a page at a time (the listing of `tandem partner list`)."""
    with session_scope() as session:
        require(me, "partner.read", session=session)
        where = PartnerFilter(
            search=q or None,
            size_class=size or None,
            country=country.upper() or None,
            tier=tier or None,
            stage=stage or None,
        )
        total, rows = list_partners(session, where, limit=PAGE_SIZE, offset=offset)
        found = [partner_public(p) for p in rows]
    filters = {"q": q, "country": country, "size": size, "tier": tier, "stage": stage}
    context = {
        "partners": found,
        "total": total,
        "offset": offset,
        "size": PAGE_SIZE,
        "filters": filters,
        "query": urlencode(filters),
        "tiers": [t.value for t in Tier],
        "stages": [s.value for s in Stage],
    }
    return work_page(request, "work_partners.html.j2", context, me)


def checked_decision(me: Principal, decision: str, comment: str) -> ApprovalDecision:
    """Return the sponsor's decision from a form, or refuse it naming each problem."""
    problems = []
    if decision not in ("approve", "reject"):
        problems.append(Problem("decision", "choose approve or reject"))
    if decision == "reject" and not comment.strip():
        problems.append(Problem("comment", "say why you reject"))
    if problems:
        raise InputRejected(problems, summary="decision rejected")
    return ApprovalDecision(decision=decision, by=me.acting_for, comment=comment.strip() or None)


def decide(me: Principal, relationship_id: int, data: ApprovalDecision) -> str:
    """Record a sponsor's decision with the CLI's function, in the background; return what runs."""
    from deployments.approvals import decide_onboarding

    decision = data.decision
    run = start_flow(
        f"onboarding #{relationship_id}: {decision}", me.who, decide_onboarding, str(relationship_id), data
    )
    return run.label


@router.post("/work/relationships/{relationship_id}/decision")
def decision_form(
    request: Request,
    relationship_id: ItemId,
    me: Person,
    decision: Annotated[str, Form(max_length=10)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Approve or reject an onboarding from My work (sponsors only)."""
    check_csrf(request, csrf)
    with session_scope() as session:
        rel = relationship_or_404(session, relationship_id)
        require(me, "approval.decide", rel, session=session)
    data = checked_decision(me, decision, comment)
    with acting_as(me):
        decide(me, relationship_id, data)
    return RedirectResponse("/work", status_code=303)


def _link_for(session: Session, token: str, me: Principal) -> tuple[OneTimeLink, Relationship]:
    """Return the action link and its relationship, or refuse: wrong person, role, or link."""
    link = find_link(session, token)
    if link.purpose not in ACTION_OF:  # a sign-in link is no action link
        raise LinkRefused("this link is not valid")
    action = ACTION_OF[link.purpose]
    if link.relationship_id is None:  # every action link names its relationship
        raise LinkRefused("this link is not valid")
    rel = relationship_or_404(session, link.relationship_id)
    if link.email != me.acting_for.lower():
        require(Principal(me.who, me.method, frozenset()), action, rel, session=session)
    require(me, action, rel, session=session)
    return link, rel


@router.get("/act/{token}", response_class=HTMLResponse)
def action_page(request: Request, token: str) -> HTMLResponse:
    """Show what an action link would do, and the form that does it (a GET changes nothing)."""
    live = current(request)
    if live is None:
        return sign_in_page(request, status=401, next_url=f"/act/{token}")
    me = live.principal
    with session_scope() as session:
        try:
            link, rel = _link_for(session, token, me)
        except LinkRefused as exc:
            raise HTTPException(status_code=410, detail=str(exc)) from exc
        partner = session.get(Partner, rel.partner_id)
        if link.purpose == ACKNOWLEDGE_ESCALATION:
            ack = {"token": token, "rel": {"id": rel.id, "partner": partner.legal_name if partner else ""}}
            return work_page(request, "work_ack.html.j2", ack, me)
        context = {
            "token": token,
            "rel": {
                "id": rel.id,
                "partner": partner.legal_name if partner else "",
                "tier": rel.tier_proposed,
                "reason": (rel.tier_explanation or {}).get("reason", {}).get(language_of(request), ""),
            },
            "expires_at": link.expires_at,
        }
    return work_page(request, "work_act.html.j2", context, me)


@router.post("/act/{token}", response_class=HTMLResponse)
def act(
    request: Request,
    token: str,
    me: Person,
    decision: Annotated[str, Form(max_length=10)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Use an action link once: record the sponsor's decision (as `action-link`) and go on."""
    check_csrf(request, csrf)
    if acknowledged := acknowledge(me, token):
        return acknowledged
    data = checked_decision(me, decision, comment)
    with session_scope() as session:
        try:
            link, rel = _link_for(session, token, me)
        except LinkRefused as exc:
            raise HTTPException(status_code=410, detail=str(exc)) from exc
        use_link(session, link)
        relationship_id = id_of(rel)
    via_link = Principal(me.who, "action-link", me.roles, me.teams, me.user_id, me.name)
    with acting_as(via_link):
        label = decide(via_link, relationship_id, data)
    return work_page(request, "work_done.html.j2", {"label": label}, me)


def acknowledge(me: Principal, token: str) -> Response | None:
    """Use an escalation's link once: the sponsor acknowledges it (audited) and opens the relationship."""
    from models.core import audit

    via_link = Principal(me.who, "action-link", me.roles, me.teams, me.user_id, me.name)
    with acting_as(via_link), session_scope() as session:
        try:
            link, rel = _link_for(session, token, me)
        except LinkRefused as exc:
            raise HTTPException(status_code=410, detail=str(exc)) from exc
        if link.purpose != ACKNOWLEDGE_ESCALATION:
            return None
        use_link(session, link)
        audit.record(
            session,
            action="review.escalation_acknowledged",
            entity="relationship",
            entity_id=rel.id,
            relationship_id=rel.id,
        )
    return RedirectResponse(f"/work/relationships/{rel.id}", status_code=303)


ONBOARD_FIELDS = (
    "partner_ref",
    "manager",
    "deputy",
    "sponsor",
    "partner_contact",
    "criticality",
    "dependency_ratio",
)


@router.get("/work/onboard", response_class=HTMLResponse)
def onboard_form(request: Request, me: Person) -> HTMLResponse:
    """Show the onboarding form: the fields of the flow's parameter model (OnboardingRequest)."""
    with session_scope() as session:
        require(me, "relationship.onboard", session=session)
    return work_page(
        request, "work_onboard.html.j2", {"criticalities": [c.value for c in Criticality]}, me
    )


@router.post("/work/onboard")
def onboard(
    request: Request,
    me: Person,
    partner_ref: Annotated[str, Form(max_length=100)] = "",
    manager: Annotated[str, Form(max_length=254)] = "",
    deputy: Annotated[str, Form(max_length=254)] = "",
    sponsor: Annotated[str, Form(max_length=254)] = "",
    partner_contact: Annotated[str, Form(max_length=254)] = "",
    criticality: Annotated[str, Form(max_length=20)] = "medium",
    dependency_ratio: Annotated[str, Form(max_length=10)] = "0",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Start `onboard-partner` from the form, in the background; the sponsor is asked by message."""
    from pydantic import ValidationError

    from flows.onboard_partner import OnboardingRequest, onboard_partner
    from models.core.validation import problems_from
    from models.identity.access import require_onboard

    check_csrf(request, csrf)
    fields = {
        "partner_ref": partner_ref,
        "manager": manager or me.acting_for,
        "deputy": deputy or None,
        "sponsor": sponsor,
        "partner_contact": partner_contact,
        "criticality": criticality,
        "dependency_ratio": dependency_ratio or "0",
        "wait_for_approval": False,
    }
    try:
        data = OnboardingRequest.model_validate(fields)
    except ValidationError as exc:
        raise InputRejected(problems_from(exc), summary="onboarding rejected") from exc
    with session_scope() as session:
        require_onboard(me, manager=data.manager, deputy=data.deputy, session=session)
    with acting_as(me):
        start_flow(f"onboard-partner {data.partner_ref}", me.who, onboard_partner, data)
    return RedirectResponse("/work", status_code=303)


@router.get("/work/handover", response_class=HTMLResponse)
def handover_form(request: Request, me: Person) -> HTMLResponse:
    """Show the form that hands all of a manager's relationships to a successor."""
    with session_scope() as session:
        require(me, "relationship.handover", session=session)
    return work_page(request, "work_handover.html.j2", {}, me)


@router.post("/work/handover")
def handover(
    request: Request,
    me: Person,
    predecessor: Annotated[str, Form(max_length=254)] = "",
    successor: Annotated[str, Form(max_length=254)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Hand over every live relationship of a manager (or deputy): `tandem relationship handover`."""
    from models.lifecycle.machine import hand_over_all
    from models.partners.registry import find_contact

    check_csrf(request, csrf)
    with acting_as(me), session_scope() as session:
        require(me, "relationship.handover", session=session)
        old, new = find_contact(session, predecessor), find_contact(session, successor)
        missing = [
            Problem(name, "not a known contact")
            for name, c in (("predecessor", old), ("successor", new))
            if c is None
        ]
        if missing or old is None or new is None:
            raise InputRejected(missing, summary="handover rejected")
        hand_over_all(session, predecessor=old, successor=new, actor=me.who, reason=reason)
    return RedirectResponse("/work", status_code=303)


@router.post("/work/items/{item_id}")
def close_item(
    request: Request,
    item_id: ItemId,
    me: Person,
    outcome: Annotated[str, Form(max_length=10)] = "done",
    evidence: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Mark an item done with evidence, or waive it with a reason: `tandem checklist done|waive`."""
    from models.checklists.generation import mark_done, waive

    check_csrf(request, csrf)
    if outcome not in ("done", "waive"):
        raise InputRejected([Problem("outcome", "choose done or waive")])
    with acting_as(me), session_scope() as session:
        item = session.get(ChecklistItem, item_id)
        if (
            item is None
            or not can(me, "relationship.read", item, session=session)
            and not can(me, "item.close", item, session=session)
        ):
            raise HTTPException(status_code=404, detail="no such item")
        require(me, "item.close" if outcome == "done" else "item.waive", item, session=session)
        if outcome == "done":
            mark_done(session, item_id, by=me.acting_for, evidence=evidence or None)
        else:
            waive(session, item_id, by=me.acting_for, reason=evidence)
    return RedirectResponse("/work", status_code=303)


@router.post("/work/relationships/{relationship_id}/governance")
def start_governance(
    request: Request, relationship_id: ItemId, me: Person, csrf: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    """Run `setup-governance` for a relationship in the background: `tandem governance`."""
    from flows.setup_governance import setup_governance

    check_csrf(request, csrf)
    with session_scope() as session:
        rel = relationship_or_404(session, relationship_id)
        if not can(me, "relationship.read", rel, session=session):
            raise HTTPException(status_code=404, detail="no such relationship")
        require(me, "governance.start", rel, session=session)
    with acting_as(me):
        start_flow(
            f"setup-governance #{relationship_id}", me.who, setup_governance, str(relationship_id), None
        )
    return RedirectResponse("/work", status_code=303)
