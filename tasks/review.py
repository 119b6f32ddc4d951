"""Review sweep tasks (one per batch of relationships) and the plain functions for packs and messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from models.base import utcnow
from models.db import ensure_schema, session_scope
from models.reviews import (
    Prepared,
    SweepScope,
    due_relationship_ids,
    mark_ready,
    resolve_scope,
    review_batch,
)
from models.settings import LANGUAGES, get_settings
from models.tables import Contact, Document
from notifications.outbox import Attachment, MessageSpec, make_ics, queue_many
from notifications.render import render

PACK_KIND = "review_pack"
PACK_FORMATS = ("html", "md")
MEETING_HOUR = 10  # local time of the review meeting in the organization's timezone
MEETING_MINUTES = 60
CHUNK = 200


@dataclass
class BatchReport:
    """What one batch did, as plain data for the flow."""

    reviewed: int = 0
    escalated: int = 0
    messages: int = 0
    worst: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "reviewed": self.reviewed,
            "escalated": self.escalated,
            "messages": self.messages,
            "worst": self.worst,
        }


def render_pack(context: dict[str, Any], *, language: str, fmt: str) -> str:
    """Render one review pack in one language as HTML (with inline SVG charts) or Markdown."""
    return render(f"documents/review_pack.{language}.{fmt}.j2", {**context, "lang": language})


def pack_languages(p: Prepared) -> list[str]:
    """Return the languages a pack's readers use: the partner's, the manager's, the sponsor's if escalated."""
    roles = ("partner_contact", "manager", "sponsor") if p.escalated else ("partner_contact", "manager")
    wanted = {p.recipients[role]["language"] for role in roles} | {get_settings().default_language}
    return [language for language in LANGUAGES if language in wanted]


def store_packs(session: Session, prepared: Sequence[Prepared]) -> int:
    """Render every pack in its readers' languages, as HTML and Markdown, and upsert them as documents."""
    now = utcnow()
    rows = [
        {
            "relationship_id": p.relationship_id,
            "kind": PACK_KIND,
            "period": p.context["period"],
            "language": language,
            "fmt": fmt,
            "content": render_pack(p.context, language=language, fmt=fmt),
            "created_at": now,
        }
        for p in prepared
        for language in pack_languages(p)
        for fmt in PACK_FORMATS
    ]
    _upsert_documents(session, rows)
    return len(rows)


def _upsert_documents(session: Session, rows: list[dict[str, Any]]) -> None:
    # A rerun recomputes the review, so the pack it stores must replace the earlier one.
    statement = _upsert_statement(session.get_bind().dialect.name)
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, rows[start : start + CHUNK])


@lru_cache(maxsize=4)
def _upsert_statement(dialect: str) -> Any:
    # Built once, values bound at execution: SQLAlchemy compiles it once and runs it as executemany
    # (a statement with the rows in `.values()` is compiled anew for every call).
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Document)
    return statement.on_conflict_do_update(
        index_elements=["relationship_id", "kind", "period", "language", "fmt"],
        set_={"content": statement.excluded.content, "created_at": statement.excluded.created_at},
    )


def meeting_times(day: date) -> tuple[datetime, datetime]:
    """Return the review meeting's start and end on a day, in the organization's timezone."""
    start = datetime.combine(day, time(MEETING_HOUR), tzinfo=get_settings().tz)
    return start, start + timedelta(minutes=MEETING_MINUTES)


def queue_review_messages(session: Session, prepared: Sequence[Prepared]) -> int:
    """Invite each partner (.ics), tell managers their packs are ready, and sponsors on escalation."""
    contacts = _contacts(session, prepared)
    specs = [spec for p in prepared for spec in review_message_specs(p, contacts)]
    return sum(1 for message, _ in queue_many(session, specs) if message is not None)


def review_message_specs(p: Prepared, contacts: dict[int, Contact]) -> list[MessageSpec]:
    """Return the messages of one review: the partner's invitation, the manager's and sponsor's notices."""
    ctx = p.context
    manager = ctx["contacts"]["manager"]
    start, end = meeting_times(date.fromisoformat(ctx["meeting_on"]))
    base = {
        "period": ctx["period"],
        "relationship_id": p.relationship_id,
        "partner_name": ctx["relationship"]["partner_name"],
        "manager_name": manager["name"],
        "manager_email": manager["email"],
        "health": ctx["health"],
        "trend": ctx["trend"],
        "actions": [a["title"] for a in ctx["actions"]],
    }
    roles = ["partner_contact", "manager"] + (["sponsor"] if p.escalated else [])
    specs = []
    for role in roles:
        recipient = contacts.get(p.recipients[role]["id"] or 0)
        if recipient is None:
            continue
        context = {**base, "recipient_name": recipient.name or recipient.email}
        attachments: list[Attachment] = []
        if role == "partner_contact":
            context["meeting_start"] = start
            attachments.append(_invitation(p, start, end))
        specs.append(
            MessageSpec(
                kind="review_invitation" if role == "partner_contact" else "review_pack_ready",
                context=context,
                recipient=recipient,
                relationship_id=p.relationship_id,
                period=ctx["period"],
                attachments=attachments,
            )
        )
    return specs


def _invitation(p: Prepared, start: datetime, end: datetime) -> Attachment:
    ctx = p.context
    manager, partner = ctx["contacts"]["manager"], ctx["contacts"]["partner_contact"]
    return make_ics(
        uid=f"tandem-review-{p.relationship_id}-{ctx['period']}@tandem",
        summary=f"{ctx['period']} review: {ctx['relationship']['partner_name']}",
        description=f"Joint review of relationship #{p.relationship_id} ({ctx['period']}).",
        start=start,
        end=end,
        organizer=manager["email"],
        attendees=[partner["email"], manager["email"]],
    )


def _contacts(session: Session, prepared: Sequence[Prepared]) -> dict[int, Contact]:
    ids = {person["id"] for p in prepared for person in p.recipients.values() if person["id"]}
    return {c.id: c for c in session.exec(select(Contact).where(col(Contact.id).in_(ids)))}  # type: ignore[misc]


def publish(session: Session, prepared: Sequence[Prepared]) -> BatchReport:
    """Store the packs, queue the messages and mark the reviews ready, in the caller's transaction."""
    report = BatchReport(reviewed=len(prepared), escalated=sum(1 for p in prepared if p.escalated))
    store_packs(session, prepared)
    report.messages = queue_review_messages(session, prepared)
    mark_ready(session, [p.review_id for p in prepared])
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


def run_batch(relationship_ids: Sequence[int], scope: SweepScope) -> BatchReport:
    """Review one batch in one transaction: all of it is written, or none (a rerun redoes it)."""
    with session_scope() as session:
        return publish(session, review_batch(session, relationship_ids, scope))


@task(name="find-due-reviews", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def find_due(period: str | None, as_of: date | None) -> tuple[str, date, list[int]]:
    """Return the period, the as-of date and the relationships whose review is due."""
    ensure_schema()
    scope = resolve_scope(period, as_of)
    with session_scope() as session:
        ids = due_relationship_ids(session, scope)
    return scope.period.name, scope.as_of, ids


# Idempotent (keys and upserts), so a retry after a lock timeout or deadlock is safe; NO_CACHE: every
# call must run, since a batch's result depends on the database, not on its inputs.
@task(name="review-batch", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def review_batch_task(relationship_ids: list[int], period: str, as_of: date) -> dict[str, Any]:
    """Review one batch of relationships for a period and return what it did."""
    report = run_batch(relationship_ids, resolve_scope(period, as_of))
    get_run_logger().info(
        "reviewed %s relationship(s), %s escalated, %s message(s)",
        report.reviewed,
        report.escalated,
        report.messages,
    )
    return report.as_dict()


def pack_markdown(relationship_id: int, period: str, language: str) -> str | None:
    """Return a stored review pack in Markdown, if there is one."""
    with session_scope() as session:
        return session.exec(
            select(Document.content).where(
                Document.relationship_id == relationship_id,
                Document.kind == PACK_KIND,
                Document.period == period,
                Document.language == language,
                Document.fmt == "md",
            )
        ).first()


def render_portfolio(data: dict[str, Any], *, language: str) -> str:
    """Render the portfolio report as one HTML page with inline SVG charts."""
    return render(f"documents/portfolio.{language}.html.j2", {**data, "lang": language})


def write_portfolio(out: str | None, *, as_of: date | None, language: str) -> dict[str, Any]:
    """Compute the portfolio and, if `out` is given, write its HTML report there."""
    from pathlib import Path

    from models.portfolio import portfolio

    ensure_schema()
    with session_scope() as session:
        data = portfolio(session, as_of=as_of)
    if out:
        Path(out).expanduser().write_text(render_portfolio(data, language=language), encoding="utf-8")
    return data


@task(name="portfolio-report", retries=1, retry_delay_seconds=[5], cache_policy=NO_CACHE)
def portfolio_task(out: str | None, as_of: date | None, language: str) -> dict[str, Any]:
    """Compute the portfolio report (and write its HTML file if asked)."""
    return write_portfolio(out, as_of=as_of, language=language)
