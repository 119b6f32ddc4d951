"""Publishing reviews: the batch run (compute, render, write), invitations, summaries, packs, the portfolio.

Plain functions with no Prefect: `tasks/review.py` wraps them for the `quarterly-review` and
`portfolio-report` flows, and the CLI and the web call them here.
"""

from __future__ import annotations

import hashlib
import resource
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from models.core.db import ensure_schema, session_scope
from models.core.errors import InputRejected, NotFound, Problem
from models.core.settings import LANGUAGES, get_settings
from models.reviews.sweep import (
    BatchPlan,
    Prepared,
    SweepScope,
    action_titles,
    mark_announced,
    prepare_batch,
    review_public,
    unannounced,
    write_batch,
)
from models.tables import Contact
from notifications.documents import invitation_words, render_pack
from notifications.outbox import (
    Attachment,
    MessageSpec,
    RenderedBatch,
    make_ics,
    queue_many,
    render_many,
    store_rendered,
)
from notifications.render import render

PACK_FORMATS = ("html", "md")
MEETING_HOUR = 10  # local time of the review meeting in the organization's timezone
MEETING_MINUTES = 60


class BatchReport(BaseModel):
    """What one batch did, as plain data for the flow."""

    reviewed: int = 0
    escalated: int = 0
    messages: int = 0
    worst: list[dict[str, Any]] = Field(default_factory=list)
    peak_rss_mb: float = 0.0

    def measured(self) -> BatchReport:
        """Return the report with the peak memory of the process that ran it."""
        peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return self.model_copy(update={"peak_rss_mb": peak})


def review_pack(session: Session, ref: str, period: str | None, *, language: str, fmt: str) -> str:
    """Render a relationship's review pack from its stored review.

    Packs are rendered when read, not stored by the sweep: the review row keeps every figure the
    pack shows, so a pack read later is the same pack, and the sweep does not render 30,000 pages
    nobody may open (rendering was a third of the sweep's time).
    """
    if language not in LANGUAGES or fmt not in PACK_FORMATS:
        raise InputRejected(
            [Problem("pack", f"language must be one of {', '.join(LANGUAGES)} and format html or md")]
        )
    return render_pack(review_public(session, ref, period), language=language, fmt=fmt)


def meeting_times(day: date) -> tuple[datetime, datetime]:
    """Return the review meeting's start and end on a day, in the organization's timezone."""
    start = datetime.combine(day, time(MEETING_HOUR), tzinfo=get_settings().tz)
    return start, start + timedelta(minutes=MEETING_MINUTES)


def render_review_messages(
    session: Session, plan: BatchPlan, *, now: datetime | None = None
) -> RenderedBatch:
    """Render each partner's invitation to its review meeting, with an .ics invitation (no writes)."""
    specs = [spec for p in plan.prepared for spec in review_message_specs(p, plan.contacts)]
    return render_many(session, specs, now=now)


def review_message_specs(p: Prepared, contacts: dict[int, Contact]) -> list[MessageSpec]:
    """Return the partner's invitation to one review meeting (staff get one summary per sweep instead)."""
    ctx = p.context
    recipient = contacts.get(p.recipients["partner_contact"]["id"] or 0)
    if recipient is None:
        return []
    manager = ctx["contacts"]["manager"]
    start, end = meeting_times(date.fromisoformat(ctx["meeting_on"]))
    lang = recipient.language if recipient.language in LANGUAGES else get_settings().default_language
    context = {
        "period": ctx["period"],
        "relationship_id": p.relationship_id,
        "partner_name": ctx["relationship"]["partner_name"],
        "manager_name": manager["name"],
        "manager_email": manager["email"],
        "recipient_name": recipient.name or recipient.email,
        "meeting_start": start,
        "pack_url": "",
    }
    return [
        MessageSpec(
            kind="review_invitation",
            context=context,
            recipient=recipient,
            relationship_id=p.relationship_id,
            period=ctx["period"],
            language=lang,
            attachments=[_invitation(p, start, end, lang)],
        )
    ]


def _invitation(p: Prepared, start: datetime, end: datetime, lang: str) -> Attachment:
    ctx = p.context
    manager, partner = ctx["contacts"]["manager"], ctx["contacts"]["partner_contact"]
    summary, description = invitation_words(lang)  # the partner's language; names us, the buyer
    words = {"org": get_settings().organization_name, "period": ctx["period"], "id": p.relationship_id}
    return make_ics(
        uid=f"tandem-review-{p.relationship_id}-{ctx['period']}@tandem",
        summary=summary.format(**words),
        description=description.format(**words),
        start=start,
        end=end,
        organizer=manager["email"],
        attendees=[partner["email"], manager["email"]],
    )


def publish(session: Session, plan: BatchPlan, messages: RenderedBatch) -> BatchReport:
    """Write a computed batch: claim its reviews, then its checklists, actions and invitations."""
    prepared = write_batch(session, plan)
    won = {p.relationship_id for p in prepared}
    keys = {key for key, row in messages.rows.items() if row["relationship_id"] in won}
    report = BatchReport(reviewed=len(prepared), escalated=sum(1 for p in prepared if p.escalated))
    report.messages = len(store_rendered(session, messages, keys=keys))
    report.worst = [
        {
            "relationship_id": p.relationship_id,
            "partner": p.context["relationship"]["partner_name"],
            "health": p.context["health"],
            "trend": p.context["trend"],
            "actions": len(p.context["actions"]),
        }
        for p in sorted(prepared, key=lambda p: (p.context["health"] is None, p.context["health"] or 0))[:25]
    ]
    return report


SUMMARY_ROWS = 50  # relationships listed in one summary message; the dashboard has the rest


def announce(session: Session, period: str) -> int:
    """Send each manager one summary of the period's new reviews, and each sponsor its escalations.

    Names only reviews no summary named before, and marks them in the same transaction, so a rerun
    or a later sweep of the same period announces what is new, once.
    """
    rows = unannounced(session, period)
    if not rows:
        return 0
    staff: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for row in rows:
        if row.manager_id:
            staff[("manager", row.manager_id)].append(row)
        if row.escalated and row.sponsor_id:
            staff[("sponsor", row.sponsor_id)].append(row)
    # Only the listed reviews' actions are read: a sweep of 100,000 raises about 500,000 actions.
    titles = action_titles(
        session, sorted({row.id for group in staff.values() for row in group[:SUMMARY_ROWS]})
    )
    wanted = {contact_id for _, contact_id in staff}
    contacts = {c.id: c for c in session.exec(select(Contact).where(col(Contact.id).in_(wanted)))}
    specs = [
        _summary_spec(
            period,
            role,
            contacts[contact_id],
            group,
            titles,
            _links(session, role, contacts[contact_id], group),
        )
        for (role, contact_id), group in sorted(staff.items())
        if contact_id in contacts
    ]
    queued = sum(1 for message, _ in queue_many(session, specs) if message is not None)
    mark_announced(session, [row.id for row in rows])
    return queued


def _links(session: Session, role: str, sponsor: Contact, group: list[Any]) -> dict[int, str]:
    """Return a signed, single-use link for the sponsor to acknowledge each listed escalation."""
    from models.identity.actions import ACKNOWLEDGE_ESCALATION, action_link

    if role != "sponsor":
        return {}
    return {
        row.relationship_id: action_link(
            session, purpose=ACKNOWLEDGE_ESCALATION, email=sponsor.email, relationship_id=row.relationship_id
        )
        for row in group[:SUMMARY_ROWS]
        if row.escalated
    }


def _summary_spec(
    period: str,
    role: str,
    recipient: Contact,
    group: list[Any],
    titles: dict[int, list[dict[str, str]]],
    links: dict[int, str],
) -> MessageSpec:
    language = recipient.language if recipient.language in LANGUAGES else get_settings().default_language
    base = get_settings().portal_base_url.rstrip("/")
    digest = hashlib.sha256(",".join(str(row.id) for row in sorted(group, key=lambda r: r.id)).encode())
    context = {
        "period": period,
        "role": role,
        "recipient_name": recipient.name or recipient.email,
        "reviewed": len(group),
        "escalated": sum(1 for row in group if row.escalated),
        "rows": [
            {
                "relationship_id": row.relationship_id,
                "partner_name": row.legal_name,
                "health": row.health,
                "trend": row.trend,
                "escalated": row.escalated,
                "actions": [t.get(language) or t.get("en", "") for t in titles.get(row.id, [])],
                "url": f"{base}/dashboard/relationships/{row.relationship_id}",
                "act_url": links.get(row.relationship_id, ""),
            }
            for row in group[:SUMMARY_ROWS]
        ],
        "more": max(0, len(group) - SUMMARY_ROWS),
        "dashboard_url": f"{base}/dashboard",
    }
    return MessageSpec(
        kind="review_summary",
        context=context,
        recipient=recipient,
        period=period,
        language=language,
        dedupe=f"{role}:{digest.hexdigest()[:16]}",
    )


def run_batch(
    relationship_ids: Sequence[int], scope: SweepScope, *, now: datetime | None = None
) -> BatchReport:
    """Review one batch: compute and render from reads, then write it all in one short transaction.

    All of a batch is written, or none (a rerun redoes it). Only the write holds SQLite's single
    write lock, so batches in several processes overlap their computing.
    """
    with session_scope() as session:
        plan = prepare_batch(session, relationship_ids, scope)
        messages = render_review_messages(session, plan, now=now)
    with session_scope() as session:
        return publish(session, plan, messages)


def pack_markdown(relationship_id: int, period: str, language: str) -> str | None:
    """Return a relationship's review pack of a period in Markdown, if it was reviewed."""
    with session_scope() as session:
        try:
            return review_pack(session, str(relationship_id), period, language=language, fmt="md")
        except NotFound:
            return None


def render_portfolio(data: dict[str, Any], *, language: str) -> str:
    """Render the portfolio report as one HTML page with inline SVG charts."""
    return render(f"documents/portfolio.{language}.html.j2", {**data, "lang": language})


def write_portfolio(out: str | None, *, as_of: date | None, language: str) -> dict[str, Any]:
    """Compute the portfolio and, if `out` is given, write its HTML report there."""
    from pathlib import Path

    from models.reviews.portfolio import portfolio

    ensure_schema()
    with session_scope() as session:
        data = portfolio(session, as_of=as_of)
    if out:
        Path(out).expanduser().write_text(render_portfolio(data, language=language), encoding="utf-8")
    return data


