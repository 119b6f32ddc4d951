"""Partner portal routes: open items, marking one done, scoring the principles, payment status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from deployments.web.pages import language_of, page
from deployments.web.security import BodyTooLarge, ItemId, client_key, csrf_for, csrf_valid, require
from models.checklists.budget import partner_year_view
from models.checklists.generation import item_public, tier_of
from models.checklists.library import load_library
from models.core.base import id_of
from models.core.calendar import today_local
from models.core.db import session_scope
from models.core.errors import InputRejected, NotFound, Problem
from models.portal.links import (
    TEXT_MAX,
    LinkRefused,
    PortalAccess,
    complete_item,
    open_items,
    partner_item,
    partner_review,
    payment_status,
    scoring_period,
    submit_scores,
    verify_link,
)
from models.portal.payments import open_statement_count
from models.reviews.scorecards import PRINCIPLES, scores_of
from models.tables import Contact, ItemStatus
from tasks.lifecycle import announce_if_onboarding_complete

router = APIRouter(prefix="/portal")
SCORES = ("1", "2", "3", "4", "5")  # exactly these: not " 3", "03", "3.0" or "²" (a digit to isdigit())
CSRF_MAX = 100


def open_link(request: Request, session: Session, token: str) -> PortalAccess:
    """Verify a portal link, counting a failure against the client and refusing clients over the limit."""
    limiter, client = request.app.state.limiter, client_key(request)
    if limiter.blocked(client, token):
        raise HTTPException(status_code=429, detail="too many failed links")
    try:
        return verify_link(session, token)
    except LinkRefused:
        limiter.fail(client, token)
        raise


def _csrf_scope(access: PortalAccess) -> str:
    return f"portal:{access.link.token_id}"


def _home_context(
    session: Session, access: PortalAccess, *, token: str, lang: str, done: int | None
) -> dict[str, Any]:
    today, library = today_local(), load_library()
    rel = access.relationship
    items = [
        {**item_public(i, library, lang), "is_overdue": i.due_on < today, "is_today": i.due_on == today}
        for i in open_items(session, access)
    ]
    period = scoring_period(session, rel, today)
    tier = tier_of(rel, access.partner)
    done_title = None
    if done is not None:
        try:
            item = partner_item(session, access, done)
        except NotFound:
            item = None
        if item is not None and item.status == ItemStatus.done.value:
            done_title = item.title.get(lang) or item.title.get("en", "")
    return {
        "token": token,
        "contact": access.contact,
        "partner": access.partner,
        "manager": session.get(Contact, access.relationship.manager_id),
        # Ours to answer: the partner's own items; joint ones our manager arranges with it.
        "items": [i for i in items if i["owner_side"] == "partner"],
        "together": [i for i in items if i["owner_side"] == "joint"],
        "tier": tier,
        "year": partner_year_view(session, rel, tier, library, today),
        "has_review": partner_review(session, rel) is not None,
        "period": period.name,
        "scored": len(scores_of(session, id_of(access.relationship), period.name)["partner"]),
        "payments": payment_status(session, access.relationship, access.partner, as_of=today),
        "statements_waiting": open_statement_count(session, access),
        "expires_on": access.link.expires_at.date().isoformat(),
        "csrf": csrf_for(_csrf_scope(access)),
        "done_title": done_title,
    }


@router.get("/{token}", response_class=HTMLResponse)
def home(
    request: Request,
    token: str,
    done: Annotated[ItemId | None, Query()] = None,
    saved: Annotated[int | None, Query(ge=0, le=len(PRINCIPLES))] = None,
) -> HTMLResponse:
    """Show the partner its open items, the scores to give and its payments."""
    with session_scope() as session:
        access = open_link(request, session, token)
        lang = language_of(request, access.contact.language)
        context = _home_context(session, access, token=token, lang=lang, done=done)
    context["max_size"] = _size(request.app.state.max_upload)
    context["saved"] = saved
    return page(request, "portal_home.html.j2", context, lang=lang)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


def _read_upload(file: UploadFile | None, limit: int) -> bytes | None:
    if file is None or not file.filename:
        return None  # the form's file field left empty
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise BodyTooLarge()
    return data  # an empty file is refused by the domain, not taken for no file


@router.post("/{token}/items/{item_id}/done")
def item_done(
    request: Request,
    token: str,
    item_id: ItemId,
    csrf: Annotated[str, Form(max_length=CSRF_MAX)] = "",
    note: Annotated[str, Form(max_length=TEXT_MAX)] = "",
    link: Annotated[str, Form(max_length=TEXT_MAX)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> RedirectResponse:
    """Mark one of the partner's items done, with a note, an evidence link or a checked file."""
    with session_scope() as session:
        access = open_link(request, session, token)
        require(csrf_valid(_csrf_scope(access), csrf), detail="missing or bad CSRF token")
        data = _read_upload(file, request.app.state.max_upload)
        complete_item(session, access, item_id, note=note, link=link, upload=data)
        relationship_id = id_of(access.relationship)
    # The partner's answer may complete onboarding: tell Prefect so the governance automation starts.
    announce_if_onboarding_complete(relationship_id)
    return RedirectResponse(f"/portal/{token}?done={item_id}#done", status_code=303)


@router.get("/{token}/scores", response_class=HTMLResponse)
def scores_form(request: Request, token: str) -> HTMLResponse:
    """Show the twelve principles to score for the current period, with any scores already given."""
    with session_scope() as session:
        access = open_link(request, session, token)
        lang = language_of(request, access.contact.language)
        period = scoring_period(session, access.relationship)
        given = scores_of(session, id_of(access.relationship), period.name)["partner"]
    context = {
        "token": token,
        "period": period.name,
        "principles": PRINCIPLES,
        "given": given,
        "csrf": csrf_for(_csrf_scope(access)),
    }
    return page(request, "portal_scores.html.j2", context, lang=lang)


def _parse_scores(form: dict[str, str]) -> dict[str, int]:
    scores: dict[str, int] = {}
    problems: list[Problem] = []
    for principle in PRINCIPLES:
        value = form.get(f"score-{principle}", "")
        if not value:
            continue  # skipped: the partner cannot judge this principle
        if value not in SCORES:
            problems.append(Problem(principle, "score must be 1 to 5"))
            continue
        scores[principle] = int(value)
    if problems:
        raise InputRejected(problems)
    return scores


def _save_scores(request: Request, token: str, form: dict[str, str]) -> int:
    with session_scope() as session:
        access = open_link(request, session, token)
        require(csrf_valid(_csrf_scope(access), form.get("csrf")), detail="missing or bad CSRF token")
        return submit_scores(session, access, _parse_scores(form))


@router.get("/{token}/review", response_class=HTMLResponse)
def review_view(request: Request, token: str) -> HTMLResponse:
    """Show the partner its latest review: its scores of us, ours, and how fast we paid it."""
    with session_scope() as session:
        access = open_link(request, session, token)
        lang = language_of(request, access.contact.language)
        review = partner_review(session, access.relationship)
    return page(request, "portal_review.html.j2", {"token": token, "review": review}, lang=lang)


@router.post("/{token}/scores")
async def scores_submit(request: Request, token: str) -> RedirectResponse:
    """Store the partner's scores for the current period (replacing its earlier ones for it)."""
    async with request.form(max_files=0, max_fields=40) as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    stored = await run_in_threadpool(_save_scores, request, token, fields)
    return RedirectResponse(f"/portal/{token}?saved={stored}#scores", status_code=303)
