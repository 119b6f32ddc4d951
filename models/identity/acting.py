"""The person a run started elsewhere acts for, carried as a flow parameter and checked at the flow.

The web runs a flow in its own thread with the signed-in principal in the context; a run of a served
deployment is another process, so it gets the person as a parameter instead (their email and how
they signed in: nothing secret) and takes up the principal from the stored user before any write.

The parameter is signed with the installation's key over the flow's name and its other parameters,
so someone who may start runs in the Prefect UI cannot make one speak for another person (the free
text `--by` this replaced let the audit trail believe anyone), nor reuse a signature for other
parameters. The served process therefore needs the web's key (`TANDEM_SECRET_KEY`), which it needs
anyway to read the channels it delivers to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field
from sqlmodel import Session, select

from models.core.audit import record
from models.core.db import ensure_schema, session_scope
from models.core.errors import NotAllowed
from models.core.principal import Principal, acting_as, current_principal
from models.core.secrets import secret_key
from models.identity.users import normalize_email, principal_of
from models.tables import User

# The ways a person signs in that a run may carry (an override or the local administrator may not).
RunMethod = Literal["web", "sso", "action-link", "api", "cli-token"]
RUN_METHODS: tuple[str, ...] = get_args(RunMethod)


class ActingAs(BaseModel):
    """Who a run acts for: a signed-in person's email and how they signed in."""

    email: str = Field(max_length=254, description="The person's work email (a Tandem user).")
    method: RunMethod = Field(default="web", description="How they signed in; the audit trail records it.")
    signature: str = Field(
        default="",
        max_length=100,
        description="Tandem's signature of this person on this run (set by the web).",
    )


def _key() -> bytes:
    # A key of its own: a leaked run signature says nothing about the channel-encryption key.
    return hmac.new(secret_key().encode(), b"tandem run acting-as v1", hashlib.sha256).digest()


def signature_of(flow: str, parameters: dict[str, Any], *, email: str, method: str) -> str:
    """Return the signature of a person on a flow's run with these JSON parameters (acting_as left out)."""
    others = {k: v for k, v in parameters.items() if k != "acting_as"}
    message = json.dumps(
        [flow, others, normalize_email(email), method], sort_keys=True, separators=(",", ":")
    )
    digest = hmac.new(_key(), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def acting_of(principal: Principal | None, flow: str, parameters: dict[str, Any]) -> ActingAs | None:
    """Return the signed run parameter for a principal, or None when a run cannot carry it (an override)."""
    if principal is None or principal.on_behalf_of or principal.method not in RUN_METHODS:
        return None
    sign = signature_of(flow, parameters, email=principal.who, method=principal.method)
    return ActingAs(email=principal.who, method=principal.method, signature=sign)


def principal_for_run(session: Session, acting: ActingAs, flow: str, parameters: dict[str, Any]) -> Principal:
    """Return the principal of a run's person; refuse a forged signature or an unknown or disabled user."""
    email = normalize_email(acting.email)
    expected = signature_of(flow, parameters, email=email, method=acting.method)
    user = session.exec(select(User).where(User.email == email)).first()
    if not hmac.compare_digest(expected.encode(), acting.signature.encode()):
        why = "Tandem did not sign it for this run"
    elif user is None or user.disabled:
        why = "not a Tandem user" if user is None else "a disabled user"
    else:
        return principal_of(user, acting.method)
    with session_scope() as own:
        record(
            own,
            actor=email,
            action="access.refused",
            entity="user",
            entity_id=user.id if user else None,
            data={"wanted": f"run {flow}", "method": acting.method, "why": why},
        )
    raise NotAllowed(f"this run may not act for {email} ({why}): nothing was done")


@contextmanager
def run_acting_as(
    acting: ActingAs | None, flow: str, parameters: dict[str, Any]
) -> Iterator[Principal | None]:
    """Attribute a flow's writes to the person it was started for; None keeps the caller's principal.

    `parameters` are the run's parameters as JSON, as the web signed them (Prefect's stored copy).
    """
    if acting is None:
        yield current_principal()
        return
    ensure_schema()  # a served run may be the first to touch the database
    with session_scope() as session:
        me = principal_for_run(session, acting, flow, parameters)
    with acting_as(me):
        yield me
