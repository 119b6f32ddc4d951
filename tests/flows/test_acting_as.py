"""A run of a served deployment acts for the person in its signed `acting_as` parameter, or not at all."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from flows.exit_relationship import exit_relationship
from models.core.errors import NotAllowed
from models.identity.acting import ActingAs, signature_of
from models.identity.users import add_user, disable_user
from models.lifecycle.exits import approve_exit, propose_exit
from models.tables import AuditEvent, Relationship
from tests.support import factories as f

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_a_served_run_writes_as_its_person_and_refuses_a_forged_unknown_or_disabled_one(
    session: Session,
) -> None:
    """No principal in the process (as in `tandem serve`): the signed parameter alone says who acts."""
    rel = f.relationship(session)
    manager = rel.key.replace("rel-", "manager") + "@example.org"
    add_user(session, email=manager, name="", role="manager")
    add_user(session, email="left@example.org", name="", role="manager")
    disable_user(session, "left@example.org")
    session.commit()
    sponsor = rel.key.replace("rel-", "sponsor") + "@example.org"
    propose_exit(session, rel, reason="contract ends", trigger="planned-end", by=manager)
    approve_exit(session, rel, by=sponsor)  # a manager runs an exit the sponsor approved
    session.commit()
    exit_args = (str(rel.id), "contract ends", "planned-end", manager)
    names = ("relationship", "reason", "trigger", "by")
    json_args = dict(zip(names, exit_args, strict=True)) | {"as_of": None}  # as Prefect stores them

    def acting(email: str, signed_for: dict[str, object] = json_args) -> ActingAs:
        sign = signature_of("exit-relationship", signed_for, email=email, method="sso")
        return ActingAs(email=email, method="sso", signature=sign)

    refusals = {
        "nobody@example.org": acting("nobody@example.org"),
        "left@example.org": acting("left@example.org"),
        manager: acting(manager, json_args | {"reason": "something else"}),  # a signature reused: forged
    }
    for email, forged in refusals.items():
        with pytest.raises(NotAllowed, match=f"may not act for {email}"):
            exit_relationship(*exit_args, acting_as=forged)
    session.expire_all()
    assert session.get(Relationship, rel.id).stage == "active"  # type: ignore[union-attr]
    refused = session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")).all()
    assert [(e.actor, e.data["why"]) for e in refused] == [
        ("nobody@example.org", "not a Tandem user"),
        ("left@example.org", "a disabled user"),
        (manager, "Tandem did not sign it for this run"),
    ]

    before = max(e.id or 0 for e in session.exec(select(AuditEvent)).all())
    done = exit_relationship(*exit_args, acting_as=acting(manager.upper()))
    assert done["stage"] == "exiting"
    run_events = select(AuditEvent).where(AuditEvent.relationship_id == rel.id, AuditEvent.id > before)
    events = session.exec(run_events).all()
    assert events and {(e.actor, e.method) for e in events} == {(manager, "sso")}
