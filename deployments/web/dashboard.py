"""Staff dashboard routes: the portfolio, one relationship, its review packs, and the outbox.

Access: a signed-in session (docs/IDENTITY.md); for machines and SSO proxies, read-only, a bearer token
(`TANDEM_DASHBOARD_TOKEN`) or a header a trusted reverse proxy sets (`TANDEM_DASHBOARD_TRUSTED_HEADER`).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from deployments.web.auth import NotSignedIn, current, sign_in_page
from deployments.web.pages import language_of, page
from deployments.web.security import ItemId, client_key, from_trusted_proxy
from models.checklists.generation import items_of
from models.core.audit import events_for
from models.core.base import attribute, id_of
from models.core.db import session_scope
from models.core.errors import InputRejected, NotFound
from models.core.principal import Principal
from models.core.settings import LANGUAGES, get_settings
from models.core.vocabulary import STAGES, TIERS, Stage
from models.identity.access import can, managed_filter
from models.lifecycle.machine import relationship_or_404, risks_of
from models.lifecycle.relationships import relationship_public
from models.portal.links import current_period
from models.reviews.portfolio import portfolio
from models.reviews.scorecards import compare, scores_of
from models.tables import (
    Contact,
    Document,
    MessageStatus,
    OutboxDelivery,
    OutboxMessage,
    Relationship,
    Review,
    ReviewStatus,
    ScorecardEntry,
)
from notifications.outbox import list_messages, message_public
from notifications.review_publishing import PACK_FORMATS, review_pack

router = APIRouter(prefix="/dashboard")
SORT_KEYS = ("partner", "tier", "stage", "health", "trend", "overdue_items", "days_to_pay_avg")
TIER_ORDER: dict[str, int] = {tier: i for i, tier in enumerate(TIERS)}
# The portfolio shows every stage but exited.
STAGE_ORDER: dict[str, int] = {stage: i for i, stage in enumerate(STAGES) if stage != Stage.exited}
OUTBOX_STATUSES = tuple(status.value for status in MessageStatus)
PERIOD = r"^\d{4}Q[1-4]$"  # a review period such as 2026Q4


def staff(request: Request) -> Principal:
    """Return who is looking: a signed-in session, else a trusted proxy's header or the bearer token.

    The proxy header and the bearer token are for machines and single sign-on proxies: they read
    (as an auditor would), they never write.
    """
    live = current(request)
    if live is not None:
        return live.principal
    settings = get_settings()
    header = settings.dashboard_trusted_header
    # Believed only from the proxy itself: anyone else could send the header too.
    if header and request.headers.get(header, "").strip() and from_trusted_proxy(request):
        return Principal(f"proxy:{request.headers[header].strip()}", "sso", roles=READ_ONLY)
    auth = request.headers.get("authorization", "")
    if settings.dashboard_token is None or not auth.lower().startswith("bearer "):
        raise NotSignedIn()
    token = settings.dashboard_token.get_secret_value()
    limiter, client = request.app.state.limiter, client_key(request)
    offered = auth[7:].strip()
    if limiter.blocked(client, offered):
        raise HTTPException(status_code=429, detail="too many failed attempts")
    if hmac.compare_digest(offered.encode(), token.encode()):
        return Principal("dashboard:token", "web", roles=READ_ONLY)
    limiter.fail(client, offered)
    raise NotSignedIn()


Staff = Annotated[Principal, Depends(staff)]
READ_ONLY = frozenset({"auditor"})


def login_page(request: Request, *, status: int = 200) -> HTMLResponse:
    """Render the sign-in page (kept under this name for the app's 401 handler)."""
    return sign_in_page(request, status=status)


def dash_page(request: Request, template: str, context: dict[str, Any], who: Principal) -> HTMLResponse:
    """Render a dashboard page with the sign-out form's CSRF token (the session's)."""
    live = current(request)
    full = {**context, "who": who.who, "csrf": live.csrf if live else ""}
    return page(request, template, full, lang=language_of(request))


@router.get("/login")
def login_form() -> RedirectResponse:
    """Send the old sign-in address to the sign-in page."""
    return RedirectResponse("/signin?next=/dashboard", status_code=303)


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
        scope = managed_filter(who)
        if scope is not None:  # a manager, sponsor or team member sees their own relationships only
            readable = set(session.exec(select(Relationship.id).where(scope)))
            data["relationships"] = [r for r in data["relationships"] if r["id"] in readable]
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
        select(Document)
        .where(Document.relationship_id == relationship_id)
        .order_by(col(Document.kind), col(Document.language), col(Document.fmt))
        .options(defer(attribute(Document.content)))  # the listing never shows the text
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
        "documents": [
            {"id": d.id, "kind": d.kind, "period": d.period, "language": d.language, "fmt": d.fmt}
            for d in documents
        ],
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
        # Outside the person's scope the relationship does not exist for them (404, not 403).
        if not can(who, "relationship.read", relationship_or_404(session, relationship_id), session=session):
            raise HTTPException(status_code=404, detail="no such relationship")
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


def _recipient(emails: dict[int, str], message: OutboxMessage) -> str | None:
    """Return who a message goes to: the contact's email, else its team."""
    found = emails.get(message.recipient_id) if message.recipient_id is not None else None
    return found or message.team


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, who: Staff, status: str = "") -> HTMLResponse:
    """Show the latest outbox messages and where each delivery stands."""
    with session_scope() as session:
        messages = list_messages(session, status=status if status in OUTBOX_STATUSES else None)
        ids = {m.recipient_id for m in messages if m.recipient_id is not None}
        emails = {id_of(c): c.email for c in session.exec(select(Contact).where(col(Contact.id).in_(ids)))}
        deliveries: dict[int, list[OutboxDelivery]] = {}
        for d in session.exec(
            select(OutboxDelivery).where(col(OutboxDelivery.message_id).in_([m.id for m in messages]))
        ):
            deliveries.setdefault(d.message_id, []).append(d)
        rows = [
            {**message_public(m, deliveries.get(id_of(m), [])), "recipient": _recipient(emails, m)}
            for m in messages
        ]
    context = {"messages": rows, "status": status, "statuses": OUTBOX_STATUSES}
    return dash_page(request, "dashboard_outbox.html.j2", context, who)
