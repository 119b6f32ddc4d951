"""Helpers of the web tests: a hand-moved clock, a small stored world, and checks that nothing was written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from models.core.calendar import today_local
from models.identity.sessions import start_session
from models.identity.users import add_user
from models.portal.links import issue_link
from models.tables import AuditEvent, ChecklistItem, Contact, Relationship, User
from tests.support import factories as f

DASHBOARD_TOKEN = "dash-token-for-tests-4f0c9a1e7b2d6c3f8e5a0b9d1c7e2f6a3b8d4c0e9f1a"  # 256+ bits
MAX_UPLOAD = 64 * 1024
LIMIT = 3


@dataclass
class Clock:
    """A clock the test moves by hand (the limiter's window never depends on wall-clock time)."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    """One relationship with a partner contact and a link, plus another relationship."""

    rel: Relationship
    contact: Contact
    token: str
    item: ChecklistItem  # the partner's open item
    joint: ChecklistItem  # a joint open item
    ours: ChecklistItem  # our item: not the partner's to answer
    closed: ChecklistItem  # already done
    other_item: ChecklistItem  # the partner item of another relationship


def make_world(session: Session, *, partner_name: str = "Yunzhan Software") -> World:
    """Store a relationship with partner, joint, our, closed items, another relationship, and a link."""
    today = today_local()
    rel = f.relationship(session, partner_name=partner_name)
    contact = session.get(Contact, rel.partner_contact_id)
    assert contact is not None
    mine = {"owner_side": "partner", "owner_role": "partner_contact"}
    item = f.item(
        session,
        rel,
        due_on=today + timedelta(days=5),
        key="tandem.5.1.partner-backup-contact",
        title={"en": "Tell us your backup person", "zh-CN": "告诉我们您的备用联系人"},
        **mine,
    )
    joint = f.item(session, rel, due_on=today - timedelta(days=2), owner_side="joint", owner_role="manager")
    ours = f.item(session, rel, due_on=today, title={"en": "Our internal step", "zh-CN": "我方内部步骤"})
    closed = f.item(
        session, rel, due_on=today, status="done", title={"en": "Done one", "zh-CN": "已完成"}, **mine
    )
    other = f.relationship(session, partner_name="Other Partner")
    other_item = f.item(session, other, due_on=today, **mine)
    for row in (item, joint, ours, closed, other_item):
        row.stage = "onboarding"  # the factory's "active" is not a checklist stage
        session.add(row)
    _, token = issue_link(session, rel, contact, actor="test")
    session.commit()
    return World(rel, contact, token, item, joint, ours, closed, other_item)


def audit_count(session: Session) -> int:
    """Return how many audit events are stored (to prove a refusal wrote nothing)."""
    session.expire_all()
    return int(session.exec(select(func.count()).select_from(AuditEvent)).one())


def status_of(session: Session, item: ChecklistItem) -> str:
    """Return an item's stored status, read fresh."""
    session.expire_all()
    stored = session.get(ChecklistItem, item.id)
    assert stored is not None
    return stored.status


def sign_in(client: TestClient, session: Session, email: str, role: str) -> str:
    """Sign a browser in as a new user (the emailed link is tested in test_dashboard); return CSRF."""
    user = session.exec(select(User).where(User.email == email)).first() or add_user(
        session, email=email, name="", role=role
    )
    client.cookies.set("tandem_session", start_session(session, user, method="web"))
    session.commit()
    page = client.get("/work")
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)
