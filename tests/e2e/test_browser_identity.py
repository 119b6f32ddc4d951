"""People act as themselves, in a real headless Chromium at phone width, every page checked by axe-core.

The manager signs in and onboards from the form; the sponsor opens the approval link from the email
the test SMTP server caught, signs in by an emailed link, and approves; the onboarding items are
closed (the CLI's function) and the manager sets up governance from the relationship's page; the
sponsor opens an escalation's link; an auditor reads the trail with no write button. One browser,
one server (refusals are tested without a browser, in tests/deployments/web/test_workspace.py).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from sqlmodel import Session, select

from deployments.web.runs import runs_of
from models.checklists.generation import mark_done, open_required
from models.identity.actions import ACKNOWLEDGE_ESCALATION, action_link
from models.identity.sessions import handed_sign_in_link
from models.identity.users import add_user
from models.lifecycle.machine import approval_of
from models.tables import Relationship
from notifications.delivery import deliver_due
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, base_url, server  # noqa: F401 - fixtures
from tests.support import factories as f
from tests.support.servers import SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("prefect_server")]
MANAGER, SPONSOR, AUDITOR = "rm@acme.example", "vp@acme.example", "audit@acme.example"


def _accessible(page: Any) -> None:
    """Check the page with axe-core (no serious or critical violation) and for sideways scrolling."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in bad]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def _wait(check: Any) -> None:
    """Wait for a background run's effect (bounded; the page never waits for it)."""
    for _ in range(1200):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("the background run did not finish")


def _emailed(smtp: SmtpServer, pattern: str) -> str:
    parts = [
        p.get_content()
        for p in smtp.messages[-1].walk()
        if p.get_content_type() in ("text/plain", "text/html")
    ]
    text = "\n".join(parts)
    match = re.search(pattern, text)
    assert match is not None, text
    return match.group(0)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: run `make browser`")
def test_manager_onboards_sponsor_approves_from_the_email_auditor_reads(
    server: str,  # noqa: F811 - the fixture
    session: Session,
    smtp_server: SmtpServer,  # noqa: F811 - the fixture
) -> None:
    from playwright.sync_api import expect, sync_playwright

    partner = f.partner(session, name="Qiaoshou Packaging", language="en")
    for email, role in ((MANAGER, "manager"), (SPONSOR, "sponsor"), (AUDITOR, "auditor")):
        add_user(session, email=email, name=role.title(), role=role)
    manager_link = handed_sign_in_link(session, MANAGER, minutes=10)
    auditor_link = handed_sign_in_link(session, AUDITOR, minutes=10)
    session.commit()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=PHONE, locale="en-GB").new_page()
            page.goto(manager_link)
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("h1")).to_have_text("My work")
            page.get_by_role("link", name="Start an onboarding").click()
            _accessible(page)
            page.get_by_label("Partner (id or registration id)").fill(partner.registration_id)
            page.get_by_label("Executive sponsor (email)").fill(SPONSOR)
            page.get_by_label("The partner's contact (email)").fill("liu@qiaoshou.example.cn")
            page.get_by_role("button", name="Start onboarding").click()
            expect(page.get_by_role("status").first).to_contain_text("onboard-partner")
            _accessible(page)
            _wait(lambda: runs_of(MANAGER) and runs_of(MANAGER)[0].outcome != "running")
            assert (runs_of(MANAGER)[0].outcome, runs_of(MANAGER)[0].detail) == ("done", "awaiting-approval")

            deliver_due()
            act = _emailed(smtp_server, re.escape(server) + r"/act/[A-Za-z0-9_-]+")
            sponsor = browser.new_context(viewport=PHONE, locale="en-GB").new_page()
            sponsor.goto(act)
            sponsor.get_by_label("Your work email").fill(SPONSOR)  # no session yet: sign in first
            sponsor.get_by_role("button", name="Email me a sign-in link").click()
            expect(sponsor.get_by_role("status")).to_contain_text(SPONSOR)
            sponsor.goto(_emailed(smtp_server, re.escape(server) + r"/signin/link\?token=[A-Za-z0-9_-]+"))
            sponsor.get_by_role("button", name="Sign in").click()
            expect(sponsor.locator("h1")).to_have_text("Your decision")  # back on the link's page
            _accessible(sponsor)
            sponsor.get_by_role("button", name="Approve").click()
            expect(sponsor.locator("h1")).to_have_text("Decision sent")
            rel = session.exec(select(Relationship)).one()
            _wait(lambda: session.rollback() or approval_of(session, rel.id) is not None)  # type: ignore[arg-type, func-returns-value]
            _wait(lambda: runs_of(SPONSOR)[0].outcome != "running")
            session.refresh(rel)
            assert rel.stage == "onboarding"  # the onboarding went on: checklist generated, governance next

            for item in open_required(session, rel.id, "onboarding"):  # type: ignore[arg-type]
                mark_done(session, item.id, by=MANAGER, evidence="signed")  # type: ignore[arg-type]  # the CLI's function
            ack = action_link(session, purpose=ACKNOWLEDGE_ESCALATION, email=SPONSOR, relationship_id=rel.id)  # type: ignore[arg-type]
            session.commit()
            page.goto(f"{server}/work")
            page.get_by_role("link", name=f"#{rel.id} Qiaoshou Packaging").click()
            expect(page.locator("h1")).to_have_text(f"#{rel.id} Qiaoshou Packaging")
            _accessible(page)  # people, the contact form and the exit proposal
            page.get_by_role("button", name="Set up governance").click()
            _wait(
                lambda: (
                    runs_of(MANAGER)[0].label.startswith("setup-governance")
                    and runs_of(MANAGER)[0].outcome != "running"
                )
            )
            page.goto(f"{server}/work/relationships/{rel.id}")
            expect(page.locator("dl.facts").first).to_contain_text("governance")
            sponsor.goto(ack)  # a review escalation's link: a confirmation page first
            expect(sponsor.locator("h1")).to_have_text("An escalation for you")
            _accessible(sponsor)

            deliver_due()  # the partner's welcome carries their portal link: compact items, each a form
            portal = next(
                m.group(0)
                for message in smtp_server.messages
                for part in message.walk()
                if part.get_content_type() == "text/plain"
                and (m := re.search(re.escape(server) + r"/portal/[A-Za-z0-9._-]+", part.get_content()))
            )
            partner_page = browser.new_context(viewport=PHONE, locale="en-GB").new_page()
            partner_page.goto(portal)
            expect(partner_page.locator("article.item details").first).to_be_attached()
            _accessible(partner_page)

            auditor = browser.new_context(viewport=PHONE, locale="en-GB").new_page()
            auditor.goto(auditor_link)
            auditor.get_by_role("button", name="Sign in").click()
            auditor.goto(f"{server}/dashboard/relationships/{rel.id}")
            expect(auditor.locator(".timeline")).to_contain_text("onboarding.approved")
            expect(auditor.locator(".timeline")).to_contain_text("action-link")
            assert auditor.locator("form[method=post]").count() == 1  # sign-out only: no write button
            _accessible(auditor)
        finally:
            browser.close()
