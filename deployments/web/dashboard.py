"""Staff dashboard routes: the portfolio, one relationship, its review packs, and the outbox.

Access: a bearer token (`TANDEM_DASHBOARD_TOKEN`), the HttpOnly cookie the login form sets from that
token, or a header a trusted reverse proxy sets (`TANDEM_DASHBOARD_TRUSTED_HEADER`). See docs/WEB.md.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from deployments.web.pages import language_of, page
from deployments.web.security import (
    CSRF_COOKIE,
    ItemId,
    browser_id,
    client_key,
    csrf_for,
    csrf_valid,
    from_trusted_proxy,
    require,
)
from models.checklists.generation import items_of
from models.core.audit import events_for
from models.core.db import session_scope
from models.core.errors import InputRejected, NotFound
from models.core.settings import LANGUAGES, get_settings
from models.lifecycle.machine import relationship_or_404, risks_of
from models.lifecycle.relationships import relationship_public
from models.portal.links import current_period, sign_scope
from models.reviews.portfolio import portfolio
from models.reviews.scorecards import compare, scores_of
from models.tables import Contact, Document, OutboxDelivery, Review, ReviewStatus, ScorecardEntry
from notifications.outbox import list_messages, message_public
from tasks.review import PACK_FORMATS, review_pack

router = APIRouter(prefix="/dashboard")
SESSION_COOKIE = "tandem_dashboard"
SORT_KEYS = ("partner", "tier", "stage", "health", "trend", "overdue_items", "days_to_pay_avg")
TIER_ORDER = {"light": 0, "standard": 1, "enhanced": 2}
STAGE_ORDER = {s: i for i, s in enumerate(("proposed", "onboarding", "governance", "active", "exiting"))}
OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "dead", "cancelled")
PERIOD = r"^\d{4}Q[1-4]$"  # a review period such as 2026Q4


class NotSignedIn(Exception):
    """The request carries no valid dashboard credential."""


def _session_value(token: str) -> str:
    # Derived from the token: rotating TANDEM_DASHBOARD_TOKEN signs every browser out.
    return sign_scope("dashboard-session:" + hashlib.sha256(token.encode()).hexdigest())


def staff(request: Request) -> str:
    """Return who is looking (trusted header, bearer token or login cookie), or refuse with 401."""
    settings = get_settings()
    header = settings.dashboard_trusted_header
    # Believed only from the proxy itself: anyone else could send the header too.
    if header and request.headers.get(header, "").strip() and from_trusted_proxy(request):
        return f"proxy:{request.headers[header].strip()}"
    if settings.dashboard_token is None:
        raise NotSignedIn()
    token = settings.dashboard_token.get_secret_value()
    limiter, client = request.app.state.limiter, client_key(request)
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        offered = auth[7:].strip()
        if limiter.blocked(client, offered):
            raise HTTPException(status_code=429, detail="too many failed attempts")
        if hmac.compare_digest(offered.encode(), token.encode()):
            return "dashboard:token"
        limiter.fail(client, offered)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if cookie and hmac.compare_digest(cookie.encode(), _session_value(token).encode()):
        return "dashboard:token"
    raise NotSignedIn()


Staff = Annotated[str, Depends(staff)]


def login_page(request: Request, *, status: int = 200, failed: bool = False) -> HTMLResponse:
    """Render the sign-in form, with the browser's CSRF cookie."""
    browser = browser_id(request)
    context = {
        "csrf": csrf_for(f"dash:{browser}"),
        "failed": failed,
        "configured": get_settings().dashboard_token is not None,
    }
    response = page(request, "dashboard_login.html.j2", context, lang=language_of(request), status=status)
    _set_browser_cookie(request, response, browser)
    return response


def _set_browser_cookie(request: Request, response: Response, browser: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != browser:
        response.set_cookie(
            CSRF_COOKIE, browser, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )


def dash_page(request: Request, template: str, context: dict[str, Any], who: str) -> HTMLResponse:
    """Render a dashboard page with the sign-out form's CSRF token."""
    browser = browser_id(request)
    full = {**context, "who": who, "csrf": csrf_for(f"dash:{browser}")}
    response = page(request, template, full, lang=language_of(request))
    _set_browser_cookie(request, response, browser)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    """Show the sign-in form."""
    return login_page(request)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Exchange the dashboard token for an HttpOnly session cookie."""
    limiter, client = request.app.state.limiter, client_key(request)
    if limiter.blocked(client, token):
        raise HTTPException(status_code=429, detail="too many failed attempts")
    browser = request.cookies.get(CSRF_COOKIE, "")
    require(bool(browser) and csrf_valid(f"dash:{browser}", csrf), detail="missing or bad CSRF token")
    configured = get_settings().dashboard_token
    if configured is None or not hmac.compare_digest(token.encode(), configured.get_secret_value().encode()):
        limiter.fail(client, token)
        return login_page(request, status=401, failed=True)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        _session_value(configured.get_secret_value()),
        max_age=12 * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> RedirectResponse:
    """Drop the session cookie."""
    browser = request.cookies.get(CSRF_COOKIE, "")
    require(bool(browser) and csrf_valid(f"dash:{browser}", csrf), detail="missing or bad CSRF token")
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response


def _sort_value(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if key == "tier":
        value = TIER_ORDER.get(value or "")
    elif key == "stage":
        value = STAGE_ORDER.get(value or "")
    elif key == "partner":
        value = (value or "").casefold()
    return value


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Sort portfolio rows by a column; rows without a value go last either way."""
    known = [r for r in rows if _sort_value(r, key) is not None]
    unknown = [r for r in rows if _sort_value(r, key) is None]
    return sorted(known, key=lambda r: _sort_value(r, key), reverse=descending) + unknown


def filter_rows(
    rows: list[dict[str, Any]], *, q: str, tier: str, stage: str, flagged: bool
) -> list[dict[str, Any]]:
    """Keep the rows matching every given filter."""
    needle = q.strip().casefold()
    return [
        r
        for r in rows
        if (not needle or needle in r["partner"].casefold())
        and (not tier or r["tier"] == tier)
        and (not stage or r["stage"] == stage)
        and (not flagged or r["key_person_flags"])
    ]


@router.get("", response_class=HTMLResponse)
def portfolio_page(
    request: Request,
    who: Staff,
    q: str = "",
    tier: str = "",
    stage: str = "",
    flagged: bool = False,
    sort: str = "health",
    order: str = "asc",
) -> HTMLResponse:
    """Show the portfolio (the data of `tandem report portfolio`), filtered and sorted by query."""
    sort = sort if sort in SORT_KEYS else "health"
    with session_scope() as session:
        data = portfolio(session)
    rows = filter_rows(data["relationships"], q=q, tier=tier, stage=stage, flagged=flagged)
    context = {
        "data": data,
        "rows": sort_rows(rows, sort, order == "desc"),
        "filters": {"q": q, "tier": tier, "stage": stage, "flagged": flagged},
        "sort": sort,
        "order": "desc" if order == "desc" else "asc",
        "sort_keys": SORT_KEYS,
        "tiers": list(TIER_ORDER),
        "stages": list(STAGE_ORDER),
    }
    return dash_page(request, "dashboard_portfolio.html.j2", context, who)


def _scorecard_period(session: Session, relationship_id: int, wanted: str | None) -> str:
    if wanted:
        return wanted
    latest = session.exec(
        select(ScorecardEntry.period)
        .where(ScorecardEntry.relationship_id == relationship_id)
        .order_by(col(ScorecardEntry.period).desc())
    ).first()
    return latest or current_period().name


def _relationship_context(session: Session, relationship_id: int, period: str | None) -> dict[str, Any]:
    rel = relationship_or_404(session, relationship_id)
    shown = _scorecard_period(session, relationship_id, period)
    scores = scores_of(session, relationship_id, shown)
    documents = session.exec(
        select(Document.id, Document.kind, Document.period, Document.language, Document.fmt)
        .where(Document.relationship_id == relationship_id)
        .order_by(col(Document.kind), col(Document.language), col(Document.fmt))
    )
    reviews = list(
        session.exec(
            select(Review.period, Review.health, Review.trend, Review.status).where(
                Review.relationship_id == relationship_id
            )
        )
    )
    return {
        "rel": relationship_public(session, rel),
        "events": list(reversed(events_for(session, relationship_id=relationship_id))),
        "items": items_of(session, relationship_id),
        "risks": risks_of(session, relationship_id),
        "period": shown,
        "scorecard": compare(scores["ours"], scores["partner"]),
        "packs": [
            {"period": p, "health": h, "trend": t, "links": _pack_links(relationship_id, p)}
            for p, h, t, status in sorted(reviews, reverse=True)
            if status != ReviewStatus.open.value
        ],
        "documents": [dict(d._mapping) for d in documents],
        "health": [{"label": p, "value": h} for p, h, _, _ in sorted(reviews)],
    }


@router.get("/relationships/{relationship_id}", response_class=HTMLResponse)
def relationship_page(
    request: Request,
    relationship_id: ItemId,
    who: Staff,
    period: Annotated[str | None, Query(pattern=PERIOD)] = None,
) -> HTMLResponse:
    """Show one relationship: timeline, checklists, risks, both scorecards side by side, review packs."""
    with session_scope() as session:
        context = _relationship_context(session, relationship_id, period)
    return dash_page(request, "dashboard_relationship.html.j2", context, who)


# Packs and charters carry their own <style>: allow inline style for them alone, and still no script at all.
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


def _pack_links(relationship_id: int, period: str) -> list[dict[str, str]]:
    return [
        {
            "label": f"{language} · {fmt}",
            "href": f"/dashboard/relationships/{relationship_id}/packs/{period}/{language}.{fmt}",
        }
        for language in LANGUAGES
        for fmt in PACK_FORMATS
    ]


@router.get("/relationships/{relationship_id}/packs/{period}/{name}")
def review_pack_page(
    relationship_id: ItemId, period: Annotated[str, Path(pattern=PERIOD)], name: str, who: Staff
) -> Response:
    """Show one review pack rendered from the stored review; name is language.format (zh-CN.html)."""
    language, _, fmt = name.rpartition(".")
    if language not in LANGUAGES or fmt not in PACK_FORMATS:
        raise HTTPException(status_code=404, detail="no such pack format")
    with session_scope() as session:
        relationship_or_404(session, relationship_id)
        try:
            content = review_pack(session, str(relationship_id), period, language=language, fmt=fmt)
        except (NotFound, InputRejected) as exc:
            raise HTTPException(status_code=404, detail="no review for this period") from exc
    return _document_response(content, fmt)


def _document_response(content: str, fmt: str) -> Response:
    if fmt == "html":
        return HTMLResponse(content, headers={"Content-Security-Policy": DOCUMENT_CSP})
    return PlainTextResponse(content, media_type="text/markdown; charset=utf-8")


@router.get("/documents/{document_id}")
def document(document_id: ItemId, who: Staff) -> Response:
    """Show one stored document (a charter, HTML or Markdown)."""
    with session_scope() as session:
        doc = session.get(Document, document_id)
    if doc is None:
        raise HTTPException(status_code=404, detail="no such document")
    return _document_response(doc.content, doc.fmt)


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, who: Staff, status: str = "") -> HTMLResponse:
    """Show the latest outbox messages and where each delivery stands."""
    with session_scope() as session:
        messages = list_messages(session, status=status if status in OUTBOX_STATUSES else None)
        ids = {m.recipient_id for m in messages if m.recipient_id is not None}
        emails = {c.id: c.email for c in session.exec(select(Contact).where(col(Contact.id).in_(ids)))}
        deliveries: dict[int, list[OutboxDelivery]] = {}
        for d in session.exec(
            select(OutboxDelivery).where(col(OutboxDelivery.message_id).in_([m.id for m in messages]))
        ):
            deliveries.setdefault(d.message_id, []).append(d)
        rows = [
            {**message_public(m, deliveries.get(m.id, [])), "recipient": emails.get(m.recipient_id) or m.team}  # type: ignore[arg-type]
            for m in messages
        ]
    context = {"messages": rows, "status": status, "statuses": OUTBOX_STATUSES}
    return dash_page(request, "dashboard_outbox.html.j2", context, who)
