"""Who is acting, and how they proved it: the value every write is attributed to.

A `Principal` is set once at the boundary (the CLI from its token, the web from its session) with
`acting_as`, so the domain functions below record it in the audit trail without each of them
taking one more argument. Flows and tasks started inside `acting_as` inherit it (context variables
follow threads started with `contextvars.copy_context`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

# How the person proved who they are (stored in AuditEvent.method).
Method = Literal["cli-token", "local-admin", "web", "sso", "action-link", "cli-override", "api", "system"]
METHODS: tuple[str, ...] = get_args(Method)


@dataclass(frozen=True)
class Principal:
    """An authenticated person (or the local administrator) and how they signed in."""

    who: str
    method: Method
    roles: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    user_id: int | None = None
    name: str = ""
    on_behalf_of: str | None = None
    reason: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def acting_for(self) -> str:
        """Return the email the action is taken as: the represented person under an override."""
        return self.on_behalf_of or self.who

    def on_behalf(self, email: str, reason: str) -> Principal:
        """Return this operator acting for another person (an administrator's override)."""
        return replace(self, method="cli-override", on_behalf_of=email.strip().lower(), reason=reason)


SYSTEM = Principal(who="system", method="system")

_current: ContextVar[Principal | None] = ContextVar("tandem_principal", default=None)


def current_principal() -> Principal | None:
    """Return the principal of the running request or command, if one was set."""
    return _current.get()


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Attribute every write inside the block to `principal`."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)


def adopt(principal: Principal | None) -> Token[Principal | None]:
    """Set the principal for the rest of this context (the CLI resolves it late); reset with the token."""
    return _current.set(principal)


def restore(token: Token[Principal | None]) -> None:
    """Undo an `adopt`."""
    _current.reset(token)
