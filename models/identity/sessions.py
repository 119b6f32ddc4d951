"""Server-side web sessions and single-use links (emailed sign-in, action links).

The browser holds only random values; the database holds their SHA-256. A session ends on logout,
after `session_idle_minutes` without a request, `session_max_hours` after sign-in, or at once when
the user's roles change or the user is disabled.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlmodel import Session, select

from models.core.audit import record
from models.core.base import id_of, utcnow
from models.core.errors import TandemError
from models.core.principal import Method, Principal
from models.core.settings import get_settings
from models.identity.users import digest, normalize_email, principal_of
from models.tables import OneTimeLink, User, WebSession

SIGN_IN = "sign-in"


class LinkRefused(TandemError):
    """A one-time link is unknown, expired, used, for someone else, or opened in another browser."""


@dataclass(frozen=True)
class SignedIn:
    """A live session: who, and the session's CSRF token."""

    principal: Principal
    csrf: str
    session_id: int


def start_session(session: Session, user: User, *, method: Method) -> str:
    """Open a session for a user; return the random id the browser keeps (in a cookie)."""
    raw = secrets.token_urlsafe(32)
    row = WebSession(id_hash=digest(raw), user_id=id_of(user), method=method, csrf=secrets.token_urlsafe(24))
    user.last_seen_at = utcnow()
    session.add_all([row, user])
    session.flush()
    record(
        session, actor=principal_of(user, method), action="user.signed_in", entity="user", entity_id=user.id
    )
    return raw


def _expired(row: WebSession, now: datetime) -> str | None:
    settings = get_settings()
    if now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        return "idle"
    if now - row.created_at > timedelta(hours=settings.session_max_hours):
        return "expired"
    return None


def signed_in(session: Session, raw: str | None, *, now: datetime | None = None) -> SignedIn | None:
    """Return the live session for a browser's id, or None (ended, expired, unknown, user disabled)."""
    if not raw:
        return None
    now = now or utcnow()
    row = session.exec(select(WebSession).where(WebSession.id_hash == digest(raw))).first()
    if row is None or row.ended_at is not None:
        return None
    user = session.get(User, row.user_id)
    why = "disabled" if user is None or user.disabled else _expired(row, now)
    if why or user is None:
        row.ended_at, row.ended_why = now, why
        session.add(row)
        return None
    row.last_seen_at = now
    session.add(row)
    return SignedIn(principal_of(user, cast(Method, row.method)), row.csrf, id_of(row))


def end_session(session: Session, raw: str | None) -> bool:
    """End a browser's session (logout); say whether one was open."""
    row = session.exec(select(WebSession).where(WebSession.id_hash == digest(raw or ""))).first()
    if row is None or row.ended_at is not None:
        return False
    row.ended_at, row.ended_why = utcnow(), "logout"
    session.add(row)
    user = session.get(User, row.user_id)
    if user is not None:
        record(
            session,
            actor=principal_of(user, cast(Method, row.method)),
            action="user.signed_out",
            entity="user",
            entity_id=user.id,
        )
    return True


def issue_link(
    session: Session,
    *,
    purpose: str,
    email: str,
    lifetime: timedelta,
    relationship_id: int | None = None,
    browser_nonce: str | None = None,
    next_url: str | None = None,
) -> str:
    """Store a single-use link for one person and one purpose; return its random token."""
    raw = secrets.token_urlsafe(32)
    row = OneTimeLink(
        token_hash=digest(raw),
        purpose=purpose,
        email=normalize_email(email),
        relationship_id=relationship_id,
        browser_hash=digest(browser_nonce) if browser_nonce else None,
        next_url=next_url,
        expires_at=utcnow() + lifetime,
    )
    session.add(row)
    session.flush()
    return raw


def sign_in_link(
    session: Session, email: str, *, browser_nonce: str, next_url: str | None = None
) -> str | None:
    """Issue an emailed sign-in link bound to the asking browser; None for an unknown or disabled user."""
    user = session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None or user.disabled:
        return None
    minutes = get_settings().sign_in_link_minutes
    return issue_link(
        session,
        purpose=SIGN_IN,
        email=user.email,
        lifetime=timedelta(minutes=minutes),
        browser_nonce=browser_nonce,
        next_url=next_url,
    )


def handed_sign_in_link(session: Session, email: str, *, minutes: int) -> str:
    """Issue a sign-in link an administrator hands over (`tandem user link`, the demo): any one browser."""
    user = session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None or user.disabled:
        raise LinkRefused(f"no enabled user {normalize_email(email)}")
    token = issue_link(session, purpose=SIGN_IN, email=user.email, lifetime=timedelta(minutes=minutes))
    return f"{get_settings().portal_base_url}/signin/link?token={token}"


def find_link(
    session: Session, raw: str, *, purpose: str | None = None, now: datetime | None = None
) -> OneTimeLink:
    """Return a usable link, or refuse: unknown, for another purpose, expired or used already."""
    row = session.exec(select(OneTimeLink).where(OneTimeLink.token_hash == digest(raw or ""))).first()
    if row is None or (purpose is not None and row.purpose != purpose):
        raise LinkRefused("this link is not valid")
    if row.used_at is not None:
        raise LinkRefused("this link has been used already")
    if (now or utcnow()) >= row.expires_at:
        raise LinkRefused("this link has expired")
    return row


def redeem_sign_in(session: Session, raw: str, *, browser_nonce: str | None) -> tuple[User, str, str | None]:
    """Use a sign-in link in the browser that asked for it; return the user, a new session id, where next."""
    row = find_link(session, raw, purpose=SIGN_IN)
    # An emailed link is bound to the browser that asked; a handed one (browser_hash None) is not.
    if row.browser_hash is not None and (not browser_nonce or row.browser_hash != digest(browser_nonce)):
        raise LinkRefused("open the sign-in link in the browser where you asked for it")
    user = session.exec(select(User).where(User.email == row.email)).first()
    if user is None or user.disabled:
        raise LinkRefused("this account cannot sign in")
    row.used_at = utcnow()
    session.add(row)
    return user, start_session(session, user, method="web"), row.next_url


def use_link(session: Session, row: OneTimeLink) -> None:
    """Mark a link used (in the transaction of what it did), so a second use is refused."""
    row.used_at = utcnow()
    session.add(row)
