"""A contact who leaves loses portal access: when replaced and by `tandem contact remove`."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from deployments.cli import app as cli
from deployments.web.security import csrf_for
from models.portal.links import issue_link
from models.tables import AuditEvent, ChecklistItem, Contact, PortalLink, Relationship
from models.tables.core import Side
from tests.deployments.web.support import World, audit_count, status_of
from tests.support import factories as f


def tandem(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, " ".join(result.output.split())  # as read, whatever the terminal's width


def _colleague(session: Session, world: World, email: str = "li.na@partner.example.cn") -> Contact:
    person = f.contact(session, email, side=Side.partner, partner_id=world.rel.partner_id, language="zh-CN")
    session.commit()
    return person


def _works(client: TestClient, world: World, token: str) -> bool:
    return client.get(f"/portal/{token}").status_code == 200


def _revocations(session: Session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(col(AuditEvent.action) == "portal.link.revoked")))


def test_a_replaced_partner_contact_loses_the_link_at_once(
    client: TestClient, world: World, session: Session
) -> None:
    successor = _colleague(session, world)
    code, out = tandem(
        "relationship", "set-contact", world.rel.key, "--role", "partner-contact",
        "--email", successor.email, "--reason", "leaving",
    )  # fmt: skip
    assert code == 0, out
    assert client.get(f"/portal/{world.token}").status_code == 403
    form = {"csrf": csrf_for(f"portal:{world.token.split('.')[0]}"), "note": "still here?"}
    assert client.post(f"/portal/{world.token}/items/{world.item.id}/done", data=form).status_code == 403
    assert status_of(session, world.item) == "open"
    [event] = _revocations(session)
    assert event.reason == "leaving" and event.relationship_id == world.rel.id


def test_a_contact_moved_to_backup_keeps_the_link(client: TestClient, world: World, session: Session) -> None:
    successor = _colleague(session, world)
    for role, email in (("backup-contact", world.contact.email), ("partner-contact", successor.email)):
        assert tandem("relationship", "set-contact", world.rel.key, "--role", role, "--email", email)[0] == 0
    assert _works(client, world, world.token) and _revocations(session) == []


def test_contact_remove_is_refused_while_the_person_holds_a_required_role(
    client: TestClient, world: World, session: Session
) -> None:
    before = audit_count(session)
    code, out = tandem("contact", "remove", world.contact.email, "--reason", "left the company")
    assert code == 1 and "Traceback" not in out
    assert f"partner_contact: {world.contact.email} is still the partner contact of relationship " in out
    assert f"{world.rel.id} ({world.rel.key})" in out and "set-contact" in out
    assert _works(client, world, world.token) and audit_count(session) == before


def test_contact_remove_revokes_every_link_clears_optional_roles_and_releases_items(
    client: TestClient, world: World, session: Session
) -> None:
    leaver = _colleague(session, world)
    rel = session.get(Relationship, world.rel.id)
    assert rel is not None
    rel.backup_contact_id = leaver.id
    item = session.get(ChecklistItem, world.item.id)
    assert item is not None
    item.owner_contact_id = leaver.id
    session.add_all([rel, item])
    _, token = issue_link(session, rel, leaver, actor="test")
    _, second = issue_link(session, rel, leaver, actor="test")
    session.commit()
    assert _works(client, world, token)

    code, out = tandem("contact", "remove", leaver.email.upper(), "--reason", "left the company")
    assert code == 0, out
    assert "2 portal link(s) revoked, 1 role(s) cleared, 1 open item(s)" in out
    assert not _works(client, world, token) and not _works(client, world, second)
    assert _works(client, world, world.token)  # the colleague's own link still answers
    session.expire_all()
    assert session.get(Relationship, world.rel.id).backup_contact_id is None  # type: ignore[union-attr]
    assert session.get(ChecklistItem, world.item.id).owner_contact_id is None  # type: ignore[union-attr]
    links = session.exec(select(PortalLink).where(PortalLink.contact_id == leaver.id)).all()
    assert len(links) == 2 and all(link.revoked_at for link in links)
    [removed] = session.exec(select(AuditEvent).where(col(AuditEvent.action) == "contact.removed")).all()
    assert removed.reason == "left the company"

    # Gone for good: no second removal, no new link, no role.
    assert tandem("contact", "remove", leaver.email, "--reason", "again")[0] == 1
    code, out = tandem("portal", "link", world.rel.key, "--contact", leaver.email)
    assert code == 1 and "has been removed" in out
    code, out = tandem(
        "relationship", "set-contact", world.rel.key, "--role", "backup-contact", "--email", leaver.email
    )
    assert code == 1 and "has been removed" in out


def test_contact_remove_needs_a_reason_and_a_known_person(world: World) -> None:
    code, out = tandem("contact", "remove", "nobody@example.org", "--reason", "x")
    assert code == 1 and "no contact" in out
    code, out = tandem("contact", "remove", world.contact.email, "--reason", " ")
    assert code == 1 and "reason: a reason is required" in out
