"""The partner portal: signed, expiring, revocable personal links, and what a partner does through one.

A link is `/portal/<token>`, token = `<token id>.<contact id>.<relationship id>.<expiry>.<signature>`:
HMAC-SHA256 with a key derived from the installation's secret key. The token id names a `PortalLink`
row, so a link can be revoked, and the row must agree with everything the token says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from models.checklists.generation import mark_done
from models.core import audit
from models.core.base import id_of, utcnow
from models.core.calendar import today_local
from models.core.errors import Conflict, InputRejected, NotFound, Problem, TandemError
from models.core.files import create_private
from models.core.periods import Period, last_complete_period, parse_period
from models.core.secrets import secret_key
from models.core.settings import get_settings
from models.payments.clock import invoice_clock
from models.payments.contract import contracts
from models.payments.ledger import from_minor, payments_of
from models.reviews.health import health_weights
from models.reviews.scorecards import PRINCIPLES, Score, compare, record_scores, scores_of
from models.tables import (
    ChecklistItem,
    Contact,
    ItemStatus,
    Partner,
    PortalLink,
    Relationship,
    Review,
    ReviewStatus,
)
from models.tables.core import Side

# The partner answers its own items; joint items it sees, but our manager arranges and closes them.
PARTNER_SIDES = ("partner", "joint")
RATING_ITEM = "tandem.5.11.partner-rates-us"  # the to-do that the scoring form answers
SHOWN_PAYMENT_FIGURES = ("invoices", "late", "days_to_pay_avg", "days_to_pay_worst", "due_days")
REUSE_MIN_DAYS = 7  # a link reused in a new message must still hold for at least this long
SYSTEM_ACTOR = "system:portal"
TEXT_MAX = 2000  # a note or a link
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not text (tab and newlines are)
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{16})\.(\d{1,12})\.(\d{1,12})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")
# Accepted evidence files, recognized by their first bytes, never by the name or declared type.
UPLOAD_TYPES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "pdf", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
)


class LinkRefused(TandemError):
    """A portal link is malformed, tampered with, expired, revoked or no longer fits its contact."""


@dataclass(frozen=True)
class PortalAccess:
    """A verified link with the records it opens."""

    link: PortalLink
    contact: Contact
    relationship: Relationship
    partner: Partner


def _key() -> bytes:
    # A key of its own: a leaked link signature says nothing about the channel-encryption key.
    return hmac.new(secret_key().encode(), b"tandem portal link v1", hashlib.sha256).digest()


def _signature(message: str) -> str:
    digest = hmac.new(_key(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_scope(scope: str) -> str:
    """Return an HMAC of a scope string with the portal key (for CSRF tokens and session cookies)."""
    return _signature(f"scope:{scope}")


def scope_ok(scope: str, value: str | None) -> bool:
    """Say whether a value is the signature of a scope (constant-time)."""
    return bool(value) and hmac.compare_digest(sign_scope(scope).encode(), (value or "").encode())


def token_of(link: PortalLink) -> str:
    """Return the signed token of a stored link (deterministic, so a link can be shown again)."""
    expires = int(link.expires_at.timestamp())
    body = f"{link.token_id}.{link.contact_id}.{link.relationship_id}.{expires}"
    return f"{body}.{_signature(body)}"


def link_url(token: str) -> str:
    """Return the full portal URL of a token."""
    return f"{get_settings().portal_base_url.rstrip('/')}/portal/{token}"


def _partner_contact(session: Session, rel: Relationship, contact: Contact) -> None:
    if contact.removed_at is not None:
        raise InputRejected([Problem("contact", f"{contact.email} has been removed")], summary="link refused")
    if contact.side != Side.partner.value or contact.partner_id != rel.partner_id:
        raise InputRejected(
            [Problem("contact", f"{contact.email} is not a contact of this relationship's partner")],
            summary="link refused",
        )


def _token_id() -> str:
    """A random public id of 16 URL-safe characters that never starts with "-"."""
    # `tandem portal revoke -AbC...` would be read as an option: draw again (1 time in 64).
    while (token_id := secrets.token_urlsafe(12)).startswith("-"):
        pass
    return token_id


def issue_link(
    session: Session, rel: Relationship, contact: Contact, *, actor: str, now: datetime | None = None
) -> tuple[PortalLink, str]:
    """Store a new link for a partner contact and a relationship; return it with its token."""
    _partner_contact(session, rel, contact)
    now = now or utcnow()
    # Whole seconds: the expiry in the token and the one stored must be the same instant.
    expires = (now + timedelta(days=get_settings().portal_link_days)).replace(microsecond=0)
    link = PortalLink(
        token_id=_token_id(),
        contact_id=id_of(contact),
        relationship_id=id_of(rel),
        issued_by=actor,
        created_at=now,
        expires_at=expires,
    )
    session.add(link)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="portal.link.issued",
        entity="portal_link",
        entity_id=link.id,
        relationship_id=rel.id,
        data={"token_id": link.token_id, "contact": contact.email, "expires_at": expires.isoformat()},
    )
    return link, token_of(link)


def portal_url_for(
    session: Session, contact: Contact, relationship: Relationship, *, actor: str = SYSTEM_ACTOR
) -> str:
    """Return the contact's portal URL for a relationship, reusing a link valid for a while yet."""
    keep_until = utcnow() + timedelta(days=REUSE_MIN_DAYS)
    query = (
        select(PortalLink)
        .where(
            PortalLink.contact_id == contact.id,
            PortalLink.relationship_id == relationship.id,
            col(PortalLink.revoked_at).is_(None),
            col(PortalLink.expires_at) > keep_until,
        )
        .order_by(col(PortalLink.expires_at).desc())
    )
    link = session.exec(query).first()
    token = token_of(link) if link is not None else issue_link(session, relationship, contact, actor=actor)[1]
    return link_url(token)


def verify_link(session: Session, token: str, *, now: datetime | None = None) -> PortalAccess:
    """Check a token's form, signature, expiry, revocation and scope; return what it opens."""
    match = _TOKEN.match(token or "")
    if match is None:
        raise LinkRefused("malformed link")
    token_id, contact_id, rel_id, expires = match.group(1), *map(int, match.group(2, 3, 4))
    body = token.rsplit(".", 1)[0]
    if not hmac.compare_digest(_signature(body), match.group(5)):
        raise LinkRefused("bad signature")
    if (now or utcnow()) >= datetime.fromtimestamp(expires, UTC):
        raise LinkRefused("expired link")
    link = session.exec(select(PortalLink).where(PortalLink.token_id == token_id)).first()
    if link is None or (link.contact_id, link.relationship_id) != (contact_id, rel_id):
        raise LinkRefused("unknown link")
    if int(link.expires_at.timestamp()) != expires:
        raise LinkRefused("unknown link")
    if link.revoked_at is not None:
        raise LinkRefused("revoked link")
    return _access(session, link)


def _access(session: Session, link: PortalLink) -> PortalAccess:
    contact = session.get(Contact, link.contact_id)
    rel = session.get(Relationship, link.relationship_id)
    if contact is None or rel is None or contact.partner_id != rel.partner_id:
        raise LinkRefused("the contact no longer belongs to this partner")
    if contact.removed_at is not None:
        raise LinkRefused("the contact has been removed")
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    return PortalAccess(link, contact, rel, partner)


def find_link(session: Session, ref: str) -> PortalLink:
    """Find a link by its full token, its token id or its row id."""
    text = ref.strip().rstrip("/").rsplit("/", 1)[-1]
    token_id = text.split(".", 1)[0]
    link = session.exec(select(PortalLink).where(PortalLink.token_id == token_id)).first()
    if link is None and text.isdigit():
        link = session.get(PortalLink, int(text))
    if link is None:
        raise NotFound(f"no portal link {ref!r}")
    return link


def revoke_link(session: Session, ref: str, *, actor: str) -> PortalLink:
    """Revoke a link now (a repeat keeps the first revocation)."""
    link = find_link(session, ref)
    if link.revoked_at is None:
        _revoke(session, link, actor=actor)
    return link


def revoke_links_of(
    session: Session, contact_id: int, *, actor: str, reason: str, relationship_id: int | None = None
) -> list[PortalLink]:
    """Revoke every live link of a person, to one relationship or to all; return the links revoked."""
    live = col(PortalLink.revoked_at).is_(None)
    query = select(PortalLink).where(PortalLink.contact_id == contact_id, live)
    if relationship_id is not None:
        query = query.where(PortalLink.relationship_id == relationship_id)
    links = list(session.exec(query))
    for link in links:
        _revoke(session, link, actor=actor, reason=reason)
    return links


def _revoke(session: Session, link: PortalLink, *, actor: str, reason: str | None = None) -> None:
    link.revoked_at, link.revoked_by = utcnow(), actor
    session.add(link)
    audit.record(
        session,
        actor=actor,
        action="portal.link.revoked",
        entity="portal_link",
        entity_id=link.id,
        relationship_id=link.relationship_id,
        reason=reason,
        data={"token_id": link.token_id},
    )


def open_items(session: Session, access: PortalAccess) -> list[ChecklistItem]:
    """Return the open items that involve the partner in this relationship (its own and joint ones)."""
    query = (
        select(ChecklistItem)
        .where(
            ChecklistItem.relationship_id == access.relationship.id,
            col(ChecklistItem.owner_side).in_(PARTNER_SIDES),
            ChecklistItem.status == ItemStatus.open.value,
        )
        .order_by(col(ChecklistItem.due_on), col(ChecklistItem.id))
    )
    return list(session.exec(query))


def partner_item(session: Session, access: PortalAccess, item_id: int) -> ChecklistItem:
    """Return one item the partner answers in this relationship, or raise NotFound."""
    item = session.get(ChecklistItem, item_id)
    # Only the partner's own items are its to close: a joint item is closed by our manager.
    theirs = item is not None and item.relationship_id == access.relationship.id
    if item is None or not theirs or item.owner_side != Side.partner.value:
        raise NotFound(f"no item {item_id} for this link")
    return item


def sniff_upload(data: bytes) -> tuple[str, str] | None:
    """Return (extension, content type) of an accepted evidence file by its magic bytes, else None."""
    for magic, ext, content_type in UPLOAD_TYPES:
        if data.startswith(magic):
            return ext, content_type
    return None


def save_upload(data: bytes, name: str) -> None:
    """Store an evidence file under TANDEM_HOME/uploads, readable by the owner only."""
    fd = create_private(get_settings().home / "uploads" / name)
    assert fd is not None  # a fresh random name
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def evidence_problems(note: str, link: str, upload: bytes | None) -> list[Problem]:
    """Check what a partner sends to close an item: something at all, an https link, a real file."""
    problems: list[Problem] = []
    if not (note or link or upload is not None):
        problems.append(Problem("evidence", "give a note, a link or a file"))
    if len(note) > TEXT_MAX or _CONTROL.search(note):
        problems.append(Problem("note", f"at most {TEXT_MAX} characters of text"))
    if link and not _https_url(link):
        problems.append(Problem("link", "a web address starting with https://"))
    if upload is not None and (not upload or sniff_upload(upload) is None):
        problems.append(Problem("file", "a PDF, PNG or JPEG file that is not empty"))
    return problems


def _https_url(text: str) -> bool:
    if len(text) > TEXT_MAX or _CONTROL.search(text) or any(c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text)
        return parts.scheme == "https" and bool(parts.hostname)
    except ValueError:  # such as an unclosed IPv6 bracket
        return False


def complete_item(
    session: Session,
    access: PortalAccess,
    item_id: int,
    *,
    note: str | None,
    link: str | None,
    upload: bytes | None = None,
) -> ChecklistItem:
    """Mark a partner's item done in the contact's name, with a note, an https link and/or a checked file."""
    item = partner_item(session, access, item_id)
    if item.status != ItemStatus.open.value:
        raise Conflict(f"item {item_id} is already {item.status}")
    note, link = (note or "").strip(), (link or "").strip()
    problems = evidence_problems(note, link, upload)
    if problems:
        raise InputRejected(problems, summary="evidence rejected")
    kind = sniff_upload(upload) if upload else None
    stored = f"{secrets.token_hex(16)}.{kind[0]}" if kind else None
    evidence = "\n".join(x for x in (note, f"file: uploads/{stored}" if stored else "") if x)
    done = mark_done(
        session, id_of(item), by=access.contact.email, evidence=evidence or None, link=link or None
    )
    if stored and kind and upload:
        # Only the request that closed the item gets here (a racing one got Conflict): it alone stores.
        audit.record(
            session,
            actor=access.contact.email,
            action="portal.upload",
            entity="checklist_item",
            entity_id=item.id,
            relationship_id=item.relationship_id,
            data={
                "stored_as": stored,
                "content_type": kind[1],
                "bytes": len(upload),
                "sha256": hashlib.sha256(upload).hexdigest(),
            },
        )
        session.flush()  # any database refusal comes now, before the file is written
        save_upload(upload, stored)
    return done


def current_period(as_of: date | None = None) -> Period:
    """Return the last complete quarter: the one the sweep reviews (and a partner scores by default)."""
    return last_complete_period(as_of or today_local())


def scoring_period(session: Session, rel: Relationship, as_of: date | None = None) -> Period:
    """Return the period the partner is asked to score: its open rating to-do's, else its latest one's.

    The scoring form and the to-do then ask about the same period; with no to-do yet, it is the
    last complete quarter.
    """
    query = (
        select(ChecklistItem.period)
        .where(
            ChecklistItem.relationship_id == rel.id,
            ChecklistItem.item_key == RATING_ITEM,
            ChecklistItem.period != "",
        )
        .order_by(col(ChecklistItem.status) != ItemStatus.open.value, col(ChecklistItem.period).desc())
    )
    found = session.exec(query).first()
    return parse_period(found) if found else current_period(as_of)


def submit_scores(
    session: Session, access: PortalAccess, scores: dict[str, int], *, period: Period | None = None
) -> int:
    """Store the partner's scores for the period it is asked about; its rating to-do is then done."""
    unknown = sorted(set(scores) - set(PRINCIPLES))
    bad = sorted(p for p, s in scores.items() if not 1 <= s <= 5)
    if unknown or bad or not scores:
        problems = [Problem(p, "unknown principle") for p in unknown]
        problems += [Problem(p, "score must be 1 to 5") for p in bad]
        raise InputRejected(problems or [Problem("scores", "give at least one score")])
    ordered = [Score(p, scores[p]) for p in PRINCIPLES if p in scores]
    name = (period or scoring_period(session, access.relationship)).name
    stored = record_scores(
        session, access.relationship, period=name, side="partner", scores=ordered, actor=access.contact.email
    )
    rating = session.exec(
        select(ChecklistItem).where(
            ChecklistItem.relationship_id == access.relationship.id,
            ChecklistItem.item_key == RATING_ITEM,
            ChecklistItem.period == name,
            ChecklistItem.status == ItemStatus.open.value,
        )
    ).first()
    if rating is not None:  # ask once: the scores are the answer, no second click to mark it done
        note = f"{stored} score(s) given in the portal"
        mark_done(session, id_of(rating), by=access.contact.email, evidence=note)
    return stored


def partner_review(session: Session, rel: Relationship) -> dict[str, Any] | None:
    """Return the partner's view of its latest review: both scorecards and our days-to-pay, nothing internal.

    Only these figures leave the building: the review's actions (an escalation to our sponsor, a
    risk raised) and its health score stay with our staff.
    """
    review = session.exec(
        select(Review)
        .where(Review.relationship_id == rel.id, Review.status != ReviewStatus.open.value)
        .order_by(col(Review.period).desc())
    ).first()
    if review is None:
        return None
    scores = scores_of(session, id_of(rel), review.period)
    cards = compare(scores["ours"], scores["partner"], gap_points=health_weights().scorecard_gap_points)
    pay = review.kpis.get("payments", {})
    burden = review.kpis.get("checklist", {})
    return {
        "period": review.period,
        "as_of": review.as_of,
        "rows": [{k: row[k] for k in ("principle", "ours", "partner", "gap")} for row in cards["rows"]],
        "ours_avg": cards["ours_avg"],
        "partner_avg": cards["partner_avg"],
        "payments": {key: pay.get(key) for key in SHOWN_PAYMENT_FIGURES},
        "late_invoices": [
            {"invoice_id": i["invoice_id"], "days_late": i["days_late"]} for i in pay.get("late_invoices", [])
        ],
        "burden_minutes": burden.get("burden_minutes"),
        "burden_budget_minutes": burden.get("burden_budget_minutes"),
    }


def payment_status(
    session: Session, rel: Relationship, partner: Partner, *, as_of: date
) -> list[dict[str, Any]]:
    """Return the relationship's invoices, newest first, each with its clock: start, due date, state."""
    contract = contracts(session, [(rel, partner)])[id_of(rel)]
    rows = []
    for p in sorted(payments_of(session, id_of(rel)), key=lambda x: x.delivered_on, reverse=True):
        clock = invoice_clock(p, contract.terms, contract.law, as_of=as_of, check=contract.check)
        rows.append(
            {
                "id": p.id,
                "invoice_id": p.invoice_id,
                "amount": from_minor(p.amount_minor, p.currency),
                "disputed": from_minor(p.disputed_minor, p.currency) if p.disputed_minor else None,
                "undisputed": from_minor(clock.due_minor, p.currency),
                "currency": p.currency,
                "delivered_on": p.delivered_on,
                "started_by": clock.started_by,
                "started_on": clock.started_on,
                "due_on": clock.due_on,
                "paid_on": p.paid_on,
                "method": p.payment_method,
                "matures_on": p.matures_on,
                "stretch_days": clock.stretch_days,
                "e_invoice_no": p.e_invoice_no,
                "state": clock.state,
                "days_late": clock.days_late,
            }
        )
    return rows
