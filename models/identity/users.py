"""Staff users and their personal CLI tokens: add, list, disable, set roles, issue and check tokens."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlmodel import Session, col, func, select

from models.core.audit import record
from models.core.base import id_of, utcnow
from models.core.errors import Conflict, InputRejected, NotAllowed, NotFound, Problem
from models.core.principal import Method, Principal
from models.identity.roles import roles
from models.tables import PersonalToken, User, WebSession

TOKEN_PREFIX = "tdm_"


def digest(raw: str) -> str:
    """Return the stored form of a secret value: its SHA-256, hex."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def normalize_email(email: str) -> str:
    """Return an email as stored: trimmed and lower case (uniqueness is case-insensitive)."""
    return email.strip().lower()


def split_tags(text: str | list[str] | None) -> list[str]:
    """Return comma-separated tags as a clean, ordered, de-duplicated list."""
    items = text if isinstance(text, list) else (text or "").split(",")
    return list(dict.fromkeys(t.strip().lower() for t in items if t.strip()))


def _checked(email: str, role_list: list[str]) -> list[Problem]:
    problems = []
    if "@" not in email or " " in email or len(email) > 254:
        problems.append(Problem("email", f"{email!r} is not an email address"))
    unknown = [r for r in role_list if r not in roles()]
    if unknown:
        problems.append(Problem("role", f"unknown role(s) {', '.join(unknown)}; use {', '.join(roles())}"))
    if not role_list:
        problems.append(Problem("role", f"give at least one role: {', '.join(roles())}"))
    return problems


def add_user(session: Session, *, email: str, name: str, role: str | list[str], teams: str = "") -> User:
    """Add a user with roles; refuse a duplicate email (whatever its case)."""
    email, role_list, team_list = normalize_email(email), split_tags(role), split_tags(teams)
    if "team" in role_list and not team_list:
        role_problems = [Problem("teams", "the team role needs at least one team tag, e.g. finance")]
    else:
        role_problems = []
    problems = _checked(email, role_list) + role_problems
    if problems:
        raise InputRejected(problems, summary="user rejected")
    if session.exec(select(User).where(User.email == email)).first():
        raise Conflict(f"a user with email {email} exists already")
    user = User(email=email, name=name.strip(), roles=",".join(role_list), teams=",".join(team_list))
    session.add(user)
    session.flush()
    record(session, action="user.added", entity="user", entity_id=user.id, data=public(user))
    return user


def find_user(session: Session, email: str) -> User:
    """Return the user with this email (any case), or raise NotFound."""
    user = session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None:
        raise NotFound(f"no user with email {normalize_email(email)}")
    return user


def list_users(session: Session) -> list[User]:
    """Return every user, by email."""
    return list(session.exec(select(User).order_by(col(User.email))))


def count_enabled(session: Session) -> int:
    """Return how many users may sign in."""
    return session.exec(select(func.count()).select_from(User).where(col(User.disabled).is_(False))).one()


def public(user: User) -> dict[str, Any]:
    """Return a user as plain data (no secrets: users have none stored in the clear)."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "roles": split_tags(user.roles),
        "teams": split_tags(user.teams),
        "disabled": user.disabled,
        "last_seen_at": user.last_seen_at,
    }


def end_sessions_of(session: Session, user_id: int, *, why: str) -> int:
    """End every open web session of a user at once; return how many ended."""
    open_ = session.exec(
        select(WebSession).where(WebSession.user_id == user_id, col(WebSession.ended_at).is_(None))
    ).all()
    now = utcnow()
    for row in open_:
        row.ended_at, row.ended_why = now, why
        session.add(row)
    return len(open_)


def set_role(session: Session, email: str, *, role: str | list[str], teams: str | None = None) -> User:
    """Change a user's roles (and teams); their sessions end so the change applies at once."""
    user = find_user(session, email)
    role_list = split_tags(role)
    problems = _checked(user.email, role_list)
    if problems:
        raise InputRejected(problems, summary="role change rejected")
    before = public(user)
    user.roles = ",".join(role_list)
    if teams is not None:
        user.teams = ",".join(split_tags(teams))
    session.add(user)
    ended = end_sessions_of(session, id_of(user), why="role-changed")
    record(
        session,
        action="user.role_changed",
        entity="user",
        entity_id=user.id,
        data={
            "before": before["roles"],
            "after": split_tags(user.roles),
            "teams": split_tags(user.teams),
            "sessions_ended": ended,
        },
    )
    return user


def disable_user(session: Session, email: str, *, reason: str | None = None) -> User:
    """Disable a user: their sessions end and their tokens stop working at once."""
    user = find_user(session, email)
    user.disabled = True
    session.add(user)
    ended = end_sessions_of(session, id_of(user), why="disabled")
    record(
        session,
        action="user.disabled",
        entity="user",
        entity_id=user.id,
        reason=reason,
        data={"sessions_ended": ended},
    )
    return user


def issue_token(session: Session, email: str, *, label: str = "") -> tuple[PersonalToken, str]:
    """Issue a personal CLI token; the raw value is returned once and only its hash is kept."""
    user = find_user(session, email)
    if user.disabled:
        raise Conflict(f"user {user.email} is disabled")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = PersonalToken(user_id=id_of(user), label=label.strip()[:80], token_hash=digest(raw))
    session.add(row)
    session.flush()
    record(
        session,
        action="user.token_issued",
        entity="personal_token",
        entity_id=row.id,
        data={"user": user.email, "label": row.label},
    )
    return row, raw


def principal_of(user: User, method: Method) -> Principal:
    """Return the principal a signed-in user acts as."""
    return Principal(
        who=user.email,
        method=method,
        roles=frozenset(split_tags(user.roles)),
        teams=frozenset(split_tags(user.teams)),
        user_id=user.id,
        name=user.name,
    )


def principal_for_token(session: Session, raw: str) -> Principal:
    """Return the principal of a personal token, or refuse an unknown, revoked or disabled one."""
    row = session.exec(select(PersonalToken).where(PersonalToken.token_hash == digest(raw.strip()))).first()
    user = session.get(User, row.user_id) if row else None
    if row is None or row.revoked_at is not None or user is None:
        raise NotAllowed("TANDEM_TOKEN is not a valid personal token (ask an administrator for one)")
    if user.disabled:
        raise NotAllowed(f"user {user.email} is disabled")
    row.last_used_at = user.last_seen_at = utcnow()
    session.add_all([row, user])
    return principal_of(user, "cli-token")
