"""The partner's payments in the portal over HTTP: clocks, statements, protected requests, the declaration."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from deployments.web.security import csrf_for
from models.core.calendar import today_local
from models.payments.contract import TermsUpdate, set_terms
from models.payments.statements import issue_statement
from models.tables import AuditEvent, Payment, PaymentRequest, SmeDeclaration, Statement, StatementLine
from tests.deployments.web.support import World, audit_count, make_world
from tests.support import factories as f

TODAY = today_local()


def csrf(world: World) -> str:
    return csrf_for(f"portal:{world.token.split('.')[0]}")


def invoice(
    session: Session, rel_id: int, invoice_id: str, *, delivered_days_ago: int, **fields: object
) -> Payment:
    row = f.invoice(
        session, rel_id, invoice_id, delivered=TODAY - timedelta(days=delivered_days_ago), **fields
    )
    session.commit()
    return row


def test_the_payments_page_shows_each_clock_and_the_rules_in_chinese(
    client: TestClient, world: World, session: Session
) -> None:
    late = invoice(session, world.rel.id, "INV-LATE", delivered_days_ago=70)  # type: ignore[arg-type]
    invoice(session, world.rel.id, "INV-NEW", delivered_days_ago=5, disputed_minor=200_000)  # type: ignore[arg-type]
    page = client.get(f"/portal/{world.token}/payments")
    assert page.status_code == 200
    body = page.text
    assert "INV-LATE" in body and "已逾期 10 天" in body  # 60 days from delivery, 70 days ago
    assert f"到期日 {late.delivered_on + timedelta(days=60)}" in body
    assert "其中 2000.00 CNY 有争议" in body and "未到期" in body
    assert "第16条" in body and "第20条" in body and "不得对要求付款" in body
    assert "请求付款" in body and "请求确认应收账款（确权）" in body
    home = client.get(f"/portal/{world.token}")
    assert f"/portal/{world.token}/payments" in home.text and "已逾期 10 天" in home.text


def test_a_payment_request_is_protected_answered_in_30_days_and_recorded_once(
    client: TestClient, world: World, session: Session
) -> None:
    late = invoice(session, world.rel.id, "INV-1", delivered_days_ago=70)  # type: ignore[arg-type]
    url = f"/portal/{world.token}/payments/{late.id}/request"
    before = audit_count(session)
    assert client.post(url, data={"kind": "payment", "csrf": "forged"}).status_code == 403
    assert audit_count(session) == before
    response = client.post(url, data={"kind": "payment", "csrf": csrf(world), "note": "请尽快付款"})
    assert response.status_code == 303
    again = client.post(url, data={"kind": "payment", "csrf": csrf(world)})  # a double click
    assert again.status_code == 303
    session.expire_all()
    (row,) = session.exec(select(PaymentRequest)).all()
    assert (row.kind, row.requested_by, row.note, row.protected) == (
        "payment",
        world.contact.email,
        "请尽快付款",
        True,
    )
    assert row.respond_by == TODAY + timedelta(days=30)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "payment.request.payment")).one()
    assert event.data["protected"] is True and event.data["article"] == "Art. 16"
    page = client.get(response.headers["location"])
    assert f"我方将在 {row.respond_by} 前答复" in page.text
    assert client.post(url, data={"kind": "confirmation", "csrf": csrf(world)}).status_code == 303
    assert len(session.exec(select(PaymentRequest)).all()) == 2


def test_requests_refuse_other_relationships_paid_invoices_bad_kinds_and_huge_ids(
    client: TestClient, world: World, session: Session
) -> None:
    other = f.relationship(session, partner_name="Other")
    theirs = invoice(session, other.id, "X-1", delivered_days_ago=70)  # type: ignore[arg-type]
    paid = invoice(session, world.rel.id, "P-1", delivered_days_ago=70, paid_on=TODAY)  # type: ignore[arg-type]
    data = {"kind": "payment", "csrf": csrf(world)}
    before = audit_count(session)
    assert client.post(f"/portal/{world.token}/payments/{theirs.id}/request", data=data).status_code == 404
    assert client.post(f"/portal/{world.token}/payments/{paid.id}/request", data=data).status_code == 400
    bad = {"kind": "complaint", "csrf": csrf(world)}
    assert client.post(f"/portal/{world.token}/payments/{paid.id}/request", data=bad).status_code == 400
    huge = f"/portal/{world.token}/payments/99999999999999999999999/request"
    assert client.post(huge, data=data).status_code in (404, 422, 400)
    assert audit_count(session) == before and session.exec(select(PaymentRequest)).all() == []


def statement_world(session: Session) -> tuple[World, Statement, list[StatementLine]]:
    world = make_world(session)
    set_terms(session, world.rel, TermsUpdate(basis="settlement"), actor="t")
    for n, days in ((1, 40), (2, 35)):
        invoice(session, world.rel.id, f"S-{n}", delivered_days_ago=days)  # type: ignore[arg-type]
    statement = issue_statement(
        session, world.rel, start=TODAY - timedelta(days=60), end=TODAY, actor="rm@example.org"
    )
    session.commit()
    lines = list(session.exec(select(StatementLine).where(StatementLine.statement_id == statement.id)))
    return world, statement, lines


def test_the_partner_confirms_one_line_and_disputes_another_once(
    client: TestClient, session: Session
) -> None:
    world, statement, (first, second) = statement_world(session)
    form = client.get(f"/portal/{world.token}/statements/{statement.id}")
    assert form.status_code == 200 and "S-1" in form.text and "有异议" in form.text
    answers = {
        "csrf": csrf(world),
        f"answer-{first.id}": "confirm",
        f"einvoice-{first.id}": "25320000000000012345",
        f"answer-{second.id}": "dispute",
        f"claimed-{second.id}": "7000.00",
        f"reason-{second.id}": "3 件退货",
    }
    url = f"/portal/{world.token}/statements/{statement.id}"
    assert client.post(url, data=answers).status_code == 303
    session.expire_all()
    one, two = (session.exec(select(Payment).where(Payment.invoice_id == i)).one() for i in ("S-1", "S-2"))
    assert one.settled_on == TODAY and one.e_invoice_no == "25320000000000012345" and one.disputed_minor == 0
    assert two.settled_on == TODAY and two.disputed_minor == 300_000  # 7,000.00 agreed, 3,000.00 disputed
    stored = session.get(Statement, statement.id)
    assert stored is not None and (stored.status, stored.answered_by) == ("answered", world.contact.email)
    assert client.post(url, data=answers).status_code == 409  # answered once


def test_a_statement_answer_with_a_problem_writes_nothing(client: TestClient, session: Session) -> None:
    world, statement, (first, second) = statement_world(session)
    url = f"/portal/{world.token}/statements/{statement.id}"
    before = audit_count(session)
    partial = {"csrf": csrf(world), f"answer-{first.id}": "confirm"}  # the second line unanswered
    response = client.post(url, data=partial)
    assert response.status_code == 400 and "Invoice S-2: confirm it or dispute it." in response.text
    wrong = {
        "csrf": csrf(world),
        f"answer-{first.id}": "confirm",
        f"einvoice-{first.id}": "123",
        f"answer-{second.id}": "dispute",
        f"claimed-{second.id}": "10000.00",  # the listed amount: not a dispute
    }
    response = client.post(url, data=wrong)
    assert response.status_code == 400
    assert "20 digits" in response.text and "confirm the line instead" in response.text
    assert "say why" in response.text
    session.expire_all()
    assert audit_count(session) == before
    assert session.get(Statement, statement.id).status == "open"  # type: ignore[union-attr]
    assert all(p.settled_on is None for p in session.exec(select(Payment)))
    other = make_world(session, partner_name="Other Partner")
    assert client.get(f"/portal/{other.token}/statements/{statement.id}").status_code == 404


def test_the_partner_declares_its_size_once(client: TestClient, world: World, session: Session) -> None:
    url = f"/portal/{world.token}/declaration"
    assert client.post(url, data={"size_class": "small", "csrf": csrf(world)}).status_code == 303
    assert client.post(url, data={"size_class": "micro", "csrf": csrf(world)}).status_code == 409
    assert client.post(url, data={"size_class": "giant", "csrf": csrf(world)}).status_code in (400, 409)
    row = session.exec(select(SmeDeclaration)).one()
    assert (row.size_class, row.declared_by, row.source, row.declared_on) == (
        "small",
        world.contact.email,
        "portal",
        TODAY,
    )
    assert "已于" in client.get(f"/portal/{world.token}/payments").text
