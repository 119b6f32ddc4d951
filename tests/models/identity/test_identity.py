"""Identity core: users, tokens, sessions, one-time links and `can`, on plain functions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models.core.audit import record
from models.core.base import utcnow
from models.core.errors import Conflict, InputRejected, NotAllowed
from models.core.principal import Principal, acting_as
from models.identity.access import can, require
from models.identity.sessions import LinkRefused, end_session, redeem_sign_in, sign_in_link, signed_in
from models.identity.users import add_user, disable_user, issue_token, principal_for_token, set_role
from models.lifecycle.relationships import RelationshipOpen, open_relationship
from models.partners.registry import PartnerCreate, add_partner
from models.tables import AuditEvent, Relationship


def _rel(session: Session) -> Relationship:
    partner = PartnerCreate(
        legal_name="P",
        registration_id="R1",
        country="DE",
        industry="other",
        employees=30,
        annual_revenue=3_000_000,
        currency="EUR",
    )
    add_partner(session, partner, actor="t")
    data = RelationshipOpen(
        partner="R1",
        manager="rm@ours.example",
        sponsor="vp@ours.example",
        partner_contact="pc@p.example",
        criticality="high",
    )
    return open_relationship(session, data, actor="t")


def test_users_tokens_and_refusals(session: Session) -> None:
    """Emails are unique whatever their case; a token acts as its user until the user is disabled."""
    add_user(session, email="RM@Ours.example", name="Rita", role="manager")
    with pytest.raises(Conflict):
        add_user(session, email="rm@ours.EXAMPLE", name="Again", role="manager")
    with pytest.raises(InputRejected) as bad:
        add_user(session, email="nope", name="", role="wizard")
    assert len(bad.value.problems) == 2
    _row, raw = issue_token(session, "rm@ours.example")
    assert principal_for_token(session, raw).who == "rm@ours.example"
    assert raw not in str(session.exec(select(AuditEvent)).all())
    disable_user(session, "rm@ours.example")
    with pytest.raises(NotAllowed):
        principal_for_token(session, raw)


def test_can_follows_roles_and_scope(session: Session) -> None:
    """A manager acts on their own relationships, a sponsor decides on theirs, an auditor writes nothing."""
    rel = _rel(session)
    session.commit()
    manager = Principal("rm@ours.example", "web", roles=frozenset({"manager"}))
    other = Principal("x@ours.example", "web", roles=frozenset({"manager"}))
    sponsor = Principal("vp@ours.example", "web", roles=frozenset({"sponsor"}))
    auditor = Principal("au@ours.example", "web", roles=frozenset({"auditor"}))
    assert can(manager, "governance.start", rel, session=session)
    assert not can(other, "governance.start", rel, session=session)
    assert can(sponsor, "approval.decide", rel, session=session)
    assert not can(manager, "approval.decide", rel, session=session)
    assert can(auditor, "audit.read", rel, session=session) and not can(
        auditor, "item.close", rel, session=session
    )
    with pytest.raises(NotAllowed):
        require(other, "governance.start", rel, session=session)
    refused = session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")).one()
    assert (refused.actor, refused.method, refused.data["wanted"]) == (
        "x@ours.example",
        "web",
        "governance.start",
    )


def test_audit_records_operator_and_person(session: Session) -> None:
    """Under an override the audit keeps the operator as actor and the person as on_behalf_of."""
    admin = Principal("cli:ops", "local-admin", roles=frozenset({"administrator"}))
    with acting_as(admin.on_behalf("VP@ours.example", "sponsor on leave")):
        event = record(session, actor="vp@ours.example", action="x", entity="y", entity_id=1)
    assert (event.actor, event.method, event.on_behalf_of, event.reason) == (
        "cli:ops",
        "cli-override",
        "vp@ours.example",
        "sponsor on leave",
    )


def test_sessions_end_on_logout_role_change_disable_and_idle(session: Session) -> None:
    """A sign-in link works once in its own browser; the session it opens ends on every trigger."""
    add_user(session, email="vp@ours.example", name="Vic", role="sponsor")
    raw = sign_in_link(session, "vp@ours.example", browser_nonce="n1")
    assert raw and sign_in_link(session, "unknown@ours.example", browser_nonce="n1") is None
    with pytest.raises(LinkRefused):
        redeem_sign_in(session, raw, browser_nonce="other-browser")
    _user, sid, _next = redeem_sign_in(session, raw, browser_nonce="n1")
    with pytest.raises(LinkRefused):
        redeem_sign_in(session, raw, browser_nonce="n1")
    assert signed_in(session, sid) is not None
    assert signed_in(session, sid, now=utcnow() + timedelta(hours=2)) is None  # idle
    for end in (
        lambda s: end_session(session, s),
        lambda s: set_role(session, "vp@ours.example", role="auditor"),
        lambda s: disable_user(session, "vp@ours.example"),
    ):
        _u, again, _n = redeem_sign_in(
            session, sign_in_link(session, "vp@ours.example", browser_nonce="n"), browser_nonce="n"
        )
        end(again)
        assert signed_in(session, again) is None
