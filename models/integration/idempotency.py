"""Idempotent API calls: the first response to a key is kept and replayed for the same call.

The response is stored in the same transaction as the writes it reports, so a call either wrote
and kept its answer, or did neither: a retry after a lost answer gets the first answer, never a
second write. The same key with another method, path or body is refused (the caller reused a key).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import Session, select

from models.core.errors import Conflict
from models.tables.integration import IdempotentResponse

MAX_KEY = 200


def request_digest(method: str, path: str, body: bytes) -> str:
    """Return the SHA-256 that identifies one call (method, path and exact body)."""
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()


def replay(session: Session, *, token_id: int, key: str, digest: str) -> IdempotentResponse | None:
    """Return the kept response of an earlier call with this key, or None; refuse a reused key."""
    found = session.exec(
        select(IdempotentResponse).where(
            IdempotentResponse.token_id == token_id, IdempotentResponse.key == key
        )
    ).first()
    if found is not None and found.request_sha256 != digest:
        raise Conflict("this Idempotency-Key was used for a different request; use a new key")
    return found


def keep(
    session: Session, *, token_id: int, key: str, digest: str, status: int, body: dict[str, Any]
) -> None:
    """Keep a call's response in the caller's transaction (the unique key refuses a concurrent twin)."""
    session.add(
        IdempotentResponse(token_id=token_id, key=key, request_sha256=digest, status=status, body=body)
    )
    session.flush()
