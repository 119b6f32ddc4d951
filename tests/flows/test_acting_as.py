"""A run of a served deployment acts for the person in its `acting_as` parameter, or for no one."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from flows.exit_relationship import exit_relationship
from models.core.errors import NotAllowed
from models.identity.acting import ActingAs
from models.identity.users import add_user, disable_user
from models.tables import AuditEvent, Relationship
from tests.support import factories as f

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_a_served_run_writes_as_its_person_and_refuses_an_unknown_or_disabled_one(session: Session) -> None:
    """No principal in the process (as in `tandem serve`): the parameter alone says who acts."""
    rel = f.relationship(session)
    manager = rel.key.replace("rel-", "manager") + "@example.org"
    add_user(session, email=manager, name="", role="manager")
    add_user(session, email="left@example.org", name="", role="manager")
    disable_user(session, "left@example.org")
    session.commit()
    exit_args = (str(rel.id), "contract ends", "planned-end", manager)
    for email in ("nobody@example.org", "left@example.org"):
        with pytest.raises(NotAllowed, match=f"acts for {email}, who (is not a Tandem user|is disabled)"):
            exit_relationship(*exit_args, acting_as=ActingAs(email=email, method="sso"))
    session.expire_all()
    assert session.get(Relationship, rel.id).stage == "active"  # type: ignore[union-attr]
    refused = session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")).all()
    assert [(e.actor, e.data["wanted"]) for e in refused] == [
        ("nobody@example.org", "flow-run"),
        ("left@example.org", "flow-run"),
    ]

    done = exit_relationship(*exit_args, acting_as=ActingAs(email=manager.upper(), method="sso"))
    assert done["stage"] == "exiting"
    events = session.exec(select(AuditEvent).where(AuditEvent.relationship_id == rel.id)).all()
    assert events and {(e.actor, e.method) for e in events} == {(manager, "sso")}
