"""One relationship in the workspace: its people (set one contact) and its exit (propose, approve, run).

Each form calls the CLI's function (`tandem relationship set-contact`, `tandem exit`'s flow) and is
checked with `can`, as the CLI is: outside a person's scope the relationship is a 404; a forbidden
action a 403. A step the lifecycle refuses shows every reason on the page, and writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from deployments.web.auth import Person, check_csrf
from deployments.web.runs import start_flow
from deployments.web.security import ItemId
from deployments.web.workspace import work_page
from models.core.db import session_scope
from models.core.errors import InputRejected, Problem, TransitionRefused
from models.core.principal import Principal, acting_as
from models.identity.access import can, require
from models.lifecycle.exits import approve_exit, exit_blockers, plan_of, propose_exit, refuse_blocked
from models.lifecycle.machine import EXIT_TRIGGERS, ROLE_FIELDS, change_contact, relationship_or_404
from models.tables import Contact, Partner, Relationship

router = APIRouter()
ACTIONS = ("relationship.handover", "exit.propose", "exit.approve", "exit.run", "governance.start")


def readable(session: Session, me: Principal, relationship_id: int) -> Relationship:
    """Return the relationship if this person may read it; otherwise 404 (its existence is not theirs)."""
    rel = relationship_or_404(session, relationship_id)
    if not can(me, "relationship.read", rel, session=session):
        raise HTTPException(status_code=404, detail="no such relationship")
    return rel


def _view(session: Session, me: Principal, rel: Relationship) -> dict[str, Any]:
    """Return what the relationship page shows: people, flags, the exit and the buttons allowed."""
    partner = session.get(Partner, rel.partner_id)
    people = {}
    for role, field in ROLE_FIELDS.items():
        contact = session.get(Contact, getattr(rel, field)) if getattr(rel, field) else None
        people[role] = contact.email if contact else ""
    plan = plan_of(session, rel)
    allowed = {a for a in ACTIONS if can(me, a, rel, session=session)}
    steps = {
        s
        for s in ("propose", "approve", "run")
        if f"exit.{s}" in allowed and not exit_blockers(session, rel, s)
    }
    return {
        "rel": {
            "id": rel.id,
            "partner": partner.legal_name if partner else "",
            "stage": rel.stage,
            "tier": rel.tier,
        },
        "people": people,
        "flags": list(rel.key_person_flags),
        "plan": plan.model_dump() if plan else None,
        "allowed": allowed,
        "steps": steps,
        "triggers": EXIT_TRIGGERS,
        "refused": [],
        "changed": None,
        "warnings": [],
    }


def _show(
    request: Request, me: Principal, relationship_id: int, status: int = 200, **extra: Any
) -> HTMLResponse:
    with session_scope() as session:
        context = _view(session, me, readable(session, me, relationship_id))
    response = work_page(request, "work_relationship.html.j2", {**context, **extra}, me)
    response.status_code = status
    return response


@router.get("/work/relationships/{relationship_id}", response_class=HTMLResponse)
def relationship_page(request: Request, relationship_id: ItemId, me: Person) -> HTMLResponse:
    """Show one relationship's people and exit, with the forms this person may use."""
    return _show(request, me, relationship_id)


@router.post("/work/relationships/{relationship_id}/contact", response_class=HTMLResponse)
def set_contact(
    request: Request,
    relationship_id: ItemId,
    me: Person,
    role: Annotated[str, Form(max_length=20)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    """Hand one role to another person: `tandem relationship set-contact`'s function; warn of key persons."""
    from models.partners.registry import find_contact

    check_csrf(request, csrf)
    with acting_as(me), session_scope() as session:
        rel = readable(session, me, relationship_id)
        require(me, "relationship.handover", rel, session=session)
        contact = find_contact(session, email) if email.strip() else None
        if email.strip() and contact is None:
            raise InputRejected([Problem("email", f"{email} is not a known contact")])
        flags, asked = change_contact(
            session, rel, role=role, contact=contact, actor=me.who, reason=reason.strip() or None
        )
    return _show(
        request, me, relationship_id, changed={"role": role, "email": email, "asked": asked}, warnings=flags
    )


@router.post("/work/relationships/{relationship_id}/exit", response_model=None)
def exit_step(
    request: Request,
    relationship_id: ItemId,
    me: Person,
    step: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    trigger: Annotated[str, Form(max_length=30)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Propose (manager), approve (sponsor) or run (manager) the exit; a refusal lists every reason."""
    check_csrf(request, csrf)
    if step not in ("propose", "approve", "run"):
        raise InputRejected([Problem("step", "choose propose, approve or run")])
    try:
        with acting_as(me), session_scope() as session:
            rel = readable(session, me, relationship_id)
            require(me, f"exit.{step}", rel, session=session)
            if step == "propose":
                propose_exit(session, rel, reason=reason, trigger=trigger, by=me.acting_for)
            elif step == "approve":
                approve_exit(session, rel, by=me.acting_for)
            else:
                refuse_blocked(session, rel, "run")
                plan = plan_of(session, rel)
                assert plan is not None  # refuse_blocked refuses a run with no exit proposed
                args = (str(rel.id), plan.exit_reason, plan.exit_trigger, me.acting_for, None)
    except TransitionRefused as exc:
        return _show(request, me, relationship_id, status=409, refused=exc.codes or exc.reasons)
    if step == "run":
        from flows.exit_relationship import exit_relationship

        with acting_as(me):
            start_flow(f"exit-relationship #{relationship_id}", me.who, exit_relationship, *args)
    return RedirectResponse(f"/work/relationships/{relationship_id}", status_code=303)
