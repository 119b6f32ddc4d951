"""An exit runs only once its sponsor approved it, whoever starts it and from wherever."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session, select

from models.core.errors import TransitionRefused
from models.core.principal import Principal, acting_as
from models.lifecycle.exits import approve_exit, propose_exit
from models.tables import AuditEvent, Contact, Relationship
from notifications import lifecycle
from tests.support import factories as f


@pytest.fixture(autouse=True)
def _smtp(smtp_settings: Callable[..., None]) -> None:
    """Every contact is reachable by email (nothing is sent here)."""


def _email(session: Session, contact_id: int | None) -> str:
    person = session.get(Contact, contact_id)
    assert person is not None
    return person.email


def _begin(session: Session, rel: Relationship, by: str) -> None:
    assert rel.id is not None
    lifecycle.begin_exit(session, rel.id, reason="contract ends", trigger="planned-end", by=by, as_of=None)


def test_a_manager_cannot_run_an_exit_nobody_approved(session: Session) -> None:
    rel = f.relationship(session)
    session.commit()
    with pytest.raises(TransitionRefused) as refused:
        _begin(session, rel, _email(session, rel.manager_id))
    assert set(refused.value.codes) == {"not-proposed", "not-approved"}
    session.rollback()
    assert session.get(Relationship, rel.id).stage == "active"  # type: ignore[union-attr]


def test_a_manager_runs_the_exit_the_sponsor_approved(session: Session) -> None:
    rel = f.relationship(session)
    manager, sponsor = _email(session, rel.manager_id), _email(session, rel.sponsor_id)
    propose_exit(session, rel, reason="contract ends", trigger="planned-end", by=manager)
    with pytest.raises(TransitionRefused, match="cannot run"):
        _begin(session, rel, manager)  # proposed, not yet approved
    approve_exit(session, rel, by=sponsor)
    _begin(session, rel, manager)
    assert rel.stage == "exiting"


def test_the_sponsor_running_an_exit_proposes_and_approves_it_on_the_record(session: Session) -> None:
    rel = f.relationship(session)
    sponsor = _email(session, rel.sponsor_id)
    _begin(session, rel, sponsor.upper())
    actions = session.exec(
        select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.action.startswith("exit."))
    ).all()
    assert rel.stage == "exiting" and set(actions) >= {
        ("exit.proposed", sponsor),
        ("exit.approved", sponsor),
    }


def test_only_the_sponsor_themselves_approves_by_running_never_a_token_or_another_person(
    session: Session,
) -> None:
    rel = f.relationship(session)
    session.commit()
    sponsor = _email(session, rel.sponsor_id)
    for someone in (Principal(who="api:erp", method="api"), Principal(who="rm@example.org", method="web")):
        with acting_as(someone), pytest.raises(TransitionRefused, match="cannot run"):
            _begin(session, rel, sponsor)  # names the sponsor, but is not them
        session.rollback()
    with acting_as(Principal(who=sponsor, method="web")):
        _begin(session, rel, sponsor)
    assert rel.stage == "exiting"
