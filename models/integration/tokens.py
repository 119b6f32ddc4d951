"""Integration tokens: created with scopes, shown once, stored as a SHA-256, revocable.

A token reads `tdm_<public id>_<secret>`: the public id (8 hex digits) finds the row and is safe to
show in lists and logs; the secret is 256 random bits. Only the SHA-256 of the whole token is
stored: a token is a random value, not a password, so a slow hash would add nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.core import audit
from models.core.base import utcnow
from models.core.errors import Conflict, InputRejected, NotFound, Problem
from models.tables.integration import ApiToken

SCOPES = ("read", "partners:write", "payments:write", "flows:write")
PREFIX = "tdm_"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,59}")
_TOKEN = re.compile(r"tdm_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
LAST_USED_RESOLUTION = timedelta(minutes=1)  # a busy integration writes its last-used time once a minute


def actor_for(name: str) -> str:
    """Return the audit actor of an integration's writes (`api:NAME`)."""
    return f"api:{name}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _problems(name: str, scopes: list[str]) -> list[Problem]:
    problems = []
    if not _NAME.fullmatch(name):
        problems.append(Problem("NAME", "use 1-60 lower-case letters, digits, dots, dashes or underscores"))
    if not scopes:
        problems.append(Problem("--scope", f"give at least one of {', '.join(SCOPES)}"))
    problems += [
        Problem("--scope", f"unknown scope {s!r}: use {', '.join(SCOPES)}") for s in scopes if s not in SCOPES
    ]
    return problems


def create_token(session: Session, name: str, scopes: list[str], *, actor: str) -> tuple[ApiToken, str]:
    """Store a new token for an integration; return the row and the token, which is never shown again."""
    if problems := _problems(name, scopes):
        raise InputRejected(problems, summary="token refused")
    public_id = secrets.token_hex(4)
    token = f"{PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        name=name,
        public_id=public_id,
        token_sha256=_digest(token),
        scopes=sorted(set(scopes)),
        created_by=actor,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a token named {name!r} exists (revoke it, or choose another name)") from exc
    audit.record(
        session, actor=actor, action="api_token.created", entity="api_token", entity_id=row.id,
        data={"name": name, "public_id": public_id, "scopes": row.scopes},
    )  # fmt: skip
    return row, token


def list_tokens(session: Session, *, include_revoked: bool = False) -> list[ApiToken]:
    """Return the tokens, oldest first."""
    query = select(ApiToken).order_by(col(ApiToken.id))
    if not include_revoked:
        query = query.where(col(ApiToken.revoked_at).is_(None))
    return list(session.exec(query))


def token_public(token: ApiToken) -> dict[str, Any]:
    """Return what may be shown of a token (never its hash)."""
    return token.model_dump(mode="json", exclude={"token_sha256"})


def find_token(session: Session, ref: str) -> ApiToken:
    """Find a token by name, public id or number."""
    text = ref.strip()
    query = select(ApiToken).where((ApiToken.name == text) | (ApiToken.public_id == text))
    found = session.exec(query).first() or (session.get(ApiToken, int(text)) if text.isdigit() else None)
    if found is None:
        raise NotFound(f"no token {text!r} (give its name, public id or number)")
    return found


def revoke_token(session: Session, ref: str, *, actor: str) -> ApiToken:
    """Revoke a token at once (its next call is refused)."""
    token = find_token(session, ref)
    if token.revoked_at is None:
        token.revoked_at, token.revoked_by = utcnow(), actor
        session.add(token)
        audit.record(
            session, actor=actor, action="api_token.revoked", entity="api_token", entity_id=token.id,
            data={"name": token.name, "public_id": token.public_id},
        )  # fmt: skip
    return token


def authenticate(session: Session, presented: str, *, now: datetime | None = None) -> ApiToken | None:
    """Return the live token a bearer value is, noting its use, or None."""
    match = _TOKEN.fullmatch(presented.strip())
    if match is None:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.public_id == match[1])).first()
    if (
        row is None
        or row.revoked_at is not None
        or not hmac.compare_digest(row.token_sha256, _digest(presented.strip()))
    ):
        return None
    moment = now or utcnow()
    if row.last_used_at is None or moment - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = moment
        session.add(row)
    return row
