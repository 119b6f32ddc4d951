"""In a real headless Chromium, in Chinese: the partner confirms and disputes a statement and asks to be paid.

Needs Debian's chromium at /usr/bin/chromium (`make browser` installs it); screenshots go to test-artifacts/.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models.core.calendar import today_local
from models.payments.contract import TermsUpdate, set_terms
from models.payments.statements import issue_statement
from models.portal.links import issue_link, link_url
from models.tables import AuditEvent, Contact, Payment, PaymentRequest, Statement, StatementLine
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, _shot, base_url, server  # noqa: F401
from tests.support import factories as f

pytestmark = pytest.mark.browser
TODAY = today_local()


def _seed(session: Session) -> tuple[str, int, Payment, list[StatementLine]]:
    """A Chinese partner on periodic settlement: one statement of two invoices, one overdue invoice."""
    rel = f.relationship(session, partner_name="苏州精工五金制品有限公司", partner_language="zh-CN")
    set_terms(session, rel, TermsUpdate(basis="settlement"), actor="test")
    settled = TODAY - timedelta(days=75)
    overdue = f.invoice(
        session, rel.id, "JG-2026-07", delivered=TODAY - timedelta(days=90), settled_on=settled
    )  # type: ignore[arg-type]
    f.invoice(session, rel.id, "JG-2026-10-A", delivered=TODAY - timedelta(days=40))  # type: ignore[arg-type]
    f.invoice(session, rel.id, "JG-2026-10-B", delivered=TODAY - timedelta(days=35))  # type: ignore[arg-type]
    statement = issue_statement(
        session, rel, start=TODAY - timedelta(days=50), end=TODAY, actor="rm@example.org"
    )
    contact = session.get(Contact, rel.partner_contact_id)
    assert contact is not None
    _, token = issue_link(session, rel, contact, actor="test")
    session.commit()
    lines = list(session.exec(select(StatementLine).where(StatementLine.statement_id == statement.id)))
    return link_url(token), statement.id, overdue, lines  # type: ignore[return-value]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: run `make browser`")
def test_partner_confirms_disputes_and_asks_to_be_paid_in_chinese(server: str, session: Session) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    link, statement_id, overdue, (first, second) = _seed(session)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
            page = phone.new_page()
            page.goto(link)
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(page.locator("#statements-waiting")).to_contain_text("有 1 份对账单等待您确认")
            page.get_by_role("link", name="查看每张发票的到期日、待确认的对账单和您的请求").click()
            expect(page.locator("h1")).to_have_text("付款、对账与确权")
            card = page.locator(f"#invoice-{overdue.id}")
            expect(card).to_contain_text("已逾期 15 天")  # settled 75 days ago, due 60 days later
            expect(page.locator("#law-h + p + ul")).to_contain_text("第16条")
            _shot(page, "11-portal-payments-zh")

            page.get_by_role("link", name="核对此对账单").click()
            expect(page.locator("h1")).to_contain_text("对账单")
            one, two = page.locator(f"#line-{first.id}"), page.locator(f"#line-{second.id}")
            one.get_by_label("确认", exact=True).check()
            one.get_by_label("数电票号码（如有）").fill("25320000000000012345")
            two.get_by_label("有异议", exact=True).check()
            two.get_by_label("您认为应付的金额 (CNY)").fill("7000.00")
            two.get_by_label("理由").fill("其中 3 件退货")
            _shot(page, "12-portal-statement-zh")
            page.get_by_role("button", name="提交核对结果").click()
            expect(page.get_by_role("status")).to_contain_text("您对对账单的核对结果已记录")
            expect(page.locator(f"#statement-{statement_id}")).to_contain_text("有异议 (7000.00 CNY)")

            card = page.locator(f"#invoice-{overdue.id}")
            card.get_by_label("留言（可选）").first.fill("请尽快安排付款")
            card.get_by_role("button", name="请求付款").click()
            respond_by = (TODAY + timedelta(days=30)).isoformat()
            expect(page.get_by_role("status")).to_contain_text(f"我方将在 {respond_by} 前答复")
            card = page.locator(f"#invoice-{overdue.id}")
            expect(card).to_contain_text(f"您已于 {TODAY.isoformat()} 请求付款")
            card.get_by_role("button", name="请求确认应收账款（确权）").click()
            expect(page.locator(f"#invoice-{overdue.id}")).to_contain_text("请求确认应收账款")
            _shot(page, "13-portal-requests-zh")
        finally:
            browser.close()

    session.expire_all()
    statement = session.get(Statement, statement_id)
    assert statement is not None and statement.status == "answered"
    a, b = (
        session.exec(select(Payment).where(Payment.invoice_id == i)).one()
        for i in ("JG-2026-10-A", "JG-2026-10-B")
    )
    assert (a.settled_on, a.e_invoice_no, a.disputed_minor) == (TODAY, "25320000000000012345", 0)
    assert (b.settled_on, b.disputed_minor) == (TODAY, 300_000)  # 7,000.00 stays due on time
    requests = session.exec(select(PaymentRequest).order_by(PaymentRequest.id)).all()  # type: ignore[arg-type]
    assert [(r.kind, r.note, r.protected, r.respond_by.isoformat()) for r in requests] == [
        ("payment", "请尽快安排付款", True, respond_by),
        ("confirmation", None, True, respond_by),
    ]
    actions = {e.action for e in session.exec(select(AuditEvent))}
    assert {"statement.answered", "payment.request.payment", "payment.request.confirmation"} <= actions
