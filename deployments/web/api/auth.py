"""Who is calling the API: a bearer token with scopes, limited in its rate; bad tokens count as failures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from deployments.web.api.problems import ApiProblem
from deployments.web.security import FailureLimiter, client_key
from models.core.base import id_of
from models.core.db import session_scope
from models.integration.tokens import actor_for, authenticate

bearer = HTTPBearer(auto_error=False, description="An integration token from `tandem api-token create`.")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tandem"'}
_RETRY = {"Retry-After": "60"}


@dataclass(frozen=True)
class Caller:
    """The integration behind a request: its token's id, name and scopes."""

    token_id: int
    name: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        """Return the audit actor of its writes (`api:NAME`)."""
        return actor_for(self.name)


class RateLimit:
    """Requests per token in a sliding window; the failure limiter's window counts each request here."""

    def __init__(self, per_minute: int) -> None:
        self.window = FailureLimiter(limit=per_minute, window_seconds=60.0, address_limit=2**31)

    def allow(self, token_id: int) -> bool:
        """Count one request of a token; say whether it is within the rate."""
        key = f"token {token_id}"
        if self.window.blocked(key, ""):
            return False
        self.window.fail(key, "")
        return True


def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    """Return the calling integration, or refuse: 401 without a live token, 429 over a limit."""
    failures: FailureLimiter = request.app.state.failures
    client = client_key(request)
    # Per address and token value, then per address: a bad integration behind a shared NAT address
    # does not at once lock out a good one (the dashboard's limiter, used the same way).
    presented = credentials.credentials if credentials is not None else ""
    if failures.blocked(client, presented):
        raise ApiProblem(
            429, "too many failed sign-ins from this address", kind="rate-limited", headers=_RETRY
        )
    found = None
    if credentials is not None:
        with session_scope() as session:
            token = authenticate(session, credentials.credentials)
            if token is not None:
                found = Caller(id_of(token), token.name, frozenset(token.scopes))
    if found is None:
        failures.fail(client, presented)
        raise ApiProblem(401, "give a live token: Authorization: Bearer tdm_...", kind="unauthenticated",
                         headers=_CHALLENGE)  # fmt: skip
    if not request.app.state.rate.allow(found.token_id):
        raise ApiProblem(429, "this token's rate limit is reached", kind="rate-limited", headers=_RETRY)
    return found


def needs(scope: str) -> Callable[..., Caller]:
    """Return a dependency that refuses a caller without a scope (403)."""

    def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if scope not in who.scopes:
            raise ApiProblem(403, f"this token lacks the scope {scope!r}", kind="scope-missing")
        return who

    return check
