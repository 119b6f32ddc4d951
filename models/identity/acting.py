"""The person a run started elsewhere acts for, carried as a flow parameter and checked at the flow.

The web runs a flow in its own thread with the signed-in principal in the context; a run of a served
deployment is another process, so it gets the person as a parameter instead (their email and how
they signed in: nothing secret) and takes up the principal from the stored user before any write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from pydantic import BaseModel, Field
from sqlmodel import Session, select

from models.core.audit import record
from models.core.db import ensure_schema, session_scope
from models.core.errors import NotAllowed
from models.core.principal import Principal, acting_as, current_principal
from models.identity.users import normalize_email, principal_of
from models.tables import User

# The ways a person signs in that a run may carry (an override or the local administrator may not).
RunMethod = Literal["web", "sso", "action-link", "api", "cli-token"]
RUN_METHODS: tuple[str, ...] = RunMethod.__args__  # type: ignore[attr-defined]


class ActingAs(BaseModel):
    """Who a run acts for: a signed-in person's email and how they signed in."""

    email: str = Field(max_length=254, description="The person's work email (a Tandem user).")
    method: RunMethod = Field(default="web", description="How they signed in; the audit trail records it.")


def acting_of(principal: Principal | None) -> ActingAs | None:
    """Return the run parameter for a principal, or None when a run cannot carry it (an override)."""
    if principal is None or principal.on_behalf_of or principal.method not in RUN_METHODS:
        return None
    return ActingAs(email=principal.who, method=principal.method)


def principal_for_run(session: Session, acting: ActingAs) -> Principal:
    """Return the principal of a run's person, or refuse an unknown or disabled one (audited)."""
    email = normalize_email(acting.email)
    user = session.exec(select(User).where(User.email == email)).first()
    if user is not None and not user.disabled:
        return principal_of(user, acting.method)
    why = "is not a Tandem user" if user is None else "is disabled"
    with session_scope() as own:
        record(
            own,
            actor=email,
            action="access.refused",
            entity="user",
            entity_id=user.id if user else None,
            data={"wanted": "flow-run", "method": acting.method},
        )
    raise NotAllowed(f"this run acts for {email}, who {why}: nothing was done")


@contextmanager
def run_acting_as(acting: ActingAs | None) -> Iterator[Principal | None]:
    """Attribute a flow's writes to the person it was started for; None keeps the caller's principal."""
    if acting is None:
        yield current_principal()
        return
    ensure_schema()  # a served run may be the first to touch the database
    with session_scope() as session:
        me = principal_for_run(session, acting)
    with acting_as(me):
        yield me
