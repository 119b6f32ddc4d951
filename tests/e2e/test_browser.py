"""End to end in a real headless Chromium: an emailed portal link, answered in Chinese, seen on the dashboard.

Needs Debian's chromium at /usr/bin/chromium (`make browser` installs it); screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from sqlmodel import Session, select

from deployments.web import create_app
from models.core.calendar import today_local
from models.core.settings import get_settings
from models.portal.links import current_period, portal_url_for
from models.tables import ChecklistItem, Contact, Payment, Review, ScorecardEntry
from notifications.delivery import deliver_due
from notifications.outbox import queue
from tests.support import factories as f
from tests.support.servers import SmtpServer, free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DASHBOARD_TOKEN = "browser-test-dashboard-token-8c1f0e7a2b9d4c6e3f5a1b0d7c2e9f4a6b3d8c1e"
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def base_url(smtp_settings: Callable[..., None]) -> str:
    """Point the portal links, the SMTP server and the dashboard token at this test, send at any hour."""
    port = free_port()
    smtp_settings(
        TANDEM_PORTAL_BASE_URL=f"http://127.0.0.1:{port}",
        TANDEM_DASHBOARD_TOKEN=DASHBOARD_TOKEN,
        TANDEM_ORGANIZATION_NAME="Acme Group",
        TANDEM_QUIET_HOURS_START="0",
        TANDEM_QUIET_HOURS_END="0",
        TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7",
    )
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def server(base_url: str, schema: str) -> Iterator[str]:
    """Serve the app with uvicorn on 127.0.0.1 in a thread."""
    port = int(base_url.rsplit(":", 1)[1])
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield base_url
    uv.should_exit = True
    thread.join(timeout=10)


def _seed(session: Session) -> tuple[int, int, str]:
    """Store a relationship whose English-reading owner has one item to answer; email them the link."""
    rel = f.relationship(session, partner_name="Yunzhan Software 云栈", partner_language="en")
    contact = session.get(Contact, rel.partner_contact_id)
    assert contact is not None
    item = f.item(
        session,
        rel,
        due_on=today_local() + timedelta(days=5),
        owner_side="partner",
        owner_role="partner_contact",
        key="tandem.5.1.partner-backup-contact",
        title={
            "en": "Tell us your main contact and a backup person",
            "zh-CN": "告诉我们您的主要联系人和后备人员",
        },
    )
    item.stage = "onboarding"
    session.add(item)
    manager = session.get(Contact, rel.manager_id)
    assert manager is not None
    context = {
        "partner_name": "Yunzhan Software 云栈",
        "relationship_id": rel.id,
        "recipient_name": contact.name,
        "manager_name": manager.name,
        "manager_email": manager.email,
        "portal_url": portal_url_for(session, contact, rel),
    }
    queue(session, kind="welcome", context=context, recipient=contact, relationship_id=rel.id)
    last = current_period()
    session.add(
        Review(
            relationship_id=rel.id, period=last.name, as_of=last.end, status="ready", health=72, trend="new"
        )
    )
    session.add(
        Payment(
            relationship_id=rel.id,
            invoice_id="INV-0007",
            delivered_on=last.start,
            invoiced_on=last.start,
            paid_on=last.start + timedelta(days=45),
            amount_minor=1_250_000,
            currency="CNY",
        )
    )
    session.commit()
    return rel.id, item.id, contact.email  # type: ignore[return-value]


def _link_from_email(smtp_server: SmtpServer, base_url: str, to: str) -> str:
    [message] = smtp_server.messages
    assert str(message["to"]) == to
    parts = [p.get_content() for p in message.walk() if p.get_content_type() in ("text/plain", "text/html")]
    links = {m for text in parts for m in re.findall(re.escape(base_url) + r"/portal/[A-Za-z0-9._-]+", text)}
    assert len(links) == 1, parts  # one personal link, in the HTML part if not in the plain one
    return links.pop()


def _auditor_link(session: Session) -> str:
    """Add an auditor and return a single-use sign-in link for them (as `tandem user link` prints)."""
    from models.identity.sessions import handed_sign_in_link
    from models.identity.users import add_user

    add_user(session, email="audit@acme.example", name="Ada", role="auditor")
    link = handed_sign_in_link(session, "audit@acme.example", minutes=10)
    session.commit()
    return link


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: run `make browser`")
def test_partner_answers_from_an_emailed_link_and_the_dashboard_shows_it(
    server: str, session: Session, smtp_server: SmtpServer
) -> None:
    from playwright.sync_api import expect, sync_playwright

    rel_id, item_id, email = _seed(session)
    assert deliver_due().sent == 1
    link = _link_from_email(smtp_server, server, email)
    period = current_period().name

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
            page = phone.new_page()
            page.goto(link)
            expect(page.locator("h1")).to_contain_text("Hello")
            _shot(page, "01-portal-en")

            page.get_by_role("link", name="中文").click()
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            card = page.locator(f"#item-{item_id}")
            expect(card).to_contain_text("告诉我们您的主要联系人和一位后备联系人")
            expect(page.locator("#pay-h + div table")).to_contain_text("INV-0007")
            _shot(page, "02-portal-zh")

            card.get_by_label("备注（可选）").fill("后备联系人：李娜，采购主管")
            card.get_by_role("button", name="标记为已完成").click()
            expect(page.get_by_role("status")).to_contain_text("已标记为完成")
            _shot(page, "03-portal-item-done")

            page.get_by_role("link", name="去打分").click()
            for principle, score in (("5.1", "4"), ("5.7", "2"), ("5.9", "5")):
                page.locator(f'input[name="score-{principle}"][value="{score}"]').check()
            _shot(page, "04-portal-scores")
            page.get_by_role("button", name="保存评分").click()
            expect(page.get_by_role("status")).to_contain_text("3 项评分")
            _shot(page, "05-portal-scores-saved")

            session.expire_all()
            item = session.get(ChecklistItem, item_id)
            assert item is not None and item.status == "done" and item.done_by == email
            assert item.evidence == "后备联系人：李娜，采购主管"
            scores = session.exec(
                select(ScorecardEntry).where(ScorecardEntry.relationship_id == rel_id)
            ).all()
            assert {(s.principle, s.score, s.side, s.period, s.scored_by) for s in scores} == {
                ("5.1", 4, "partner", period, email),
                ("5.7", 2, "partner", period, email),
                ("5.9", 5, "partner", period, email),
            }

            staff = browser.new_context(viewport=PHONE, device_scale_factor=2, locale="en-GB")
            desk = staff.new_page()
            desk.goto(f"{server}/dashboard")
            expect(desk.get_by_label("Your work email")).to_be_visible()  # sign in first
            desk.goto(_auditor_link(session))
            desk.get_by_role("button", name="Sign in").click()
            desk.goto(f"{server}/dashboard")
            expect(desk.locator("h1")).to_have_text("Portfolio")
            expect(desk.locator("table.portfolio")).to_contain_text("72")
            _shot(desk, "06-dashboard-portfolio")

            desk.get_by_role("link", name=re.compile("Yunzhan Software")).click()
            expect(desk.locator(".timeline")).to_contain_text("checklist.item.done")
            expect(desk.locator(".timeline")).to_contain_text(email)
            row = desk.locator("tr", has_text="5.7 Trust and commitment to mutual benefit")
            expect(row).to_contain_text("2")
            expect(desk.locator("tr", has_text="Tell us your main contact")).to_contain_text("done")
            _shot(desk, "07-dashboard-relationship")

            desk.get_by_role("link", name="Outbox").click()
            expect(desk.locator("table")).to_contain_text("welcome")
            expect(desk.locator("table")).to_contain_text("sent")
            _shot(desk, "08-dashboard-outbox")
        finally:
            browser.close()
    assert get_settings().portal_base_url == server
