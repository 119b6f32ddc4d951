"""The quarterly review reads the payment clock: term findings, statements as partner time, requests."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from models.payments.contract import TermsUpdate, set_terms
from models.payments.requests import request_about
from models.payments.statements import issue_statement, statement_minutes
from models.reviews.sweep import due_relationship_ids, resolve_scope, review_batch
from models.tables import Payment, PaymentRequest, Review
from tests.models.reviews.review_data import active_relationship, all_principles, invoice, scores

SCOPE = resolve_scope("2026Q4", date(2027, 1, 5))


def sweep(session: Session) -> dict[int, Review]:
    review_batch(session, due_relationship_ids(session, SCOPE), SCOPE)
    session.commit()
    return {r.relationship_id: r for r in session.exec(select(Review))}


def test_a_75_day_term_is_a_finding_to_justify_for_an_enterprise_and_a_breach_for_a_public_body(
    session: Session,
) -> None:
    enterprise = active_relationship(session, term_days=75)
    public = active_relationship(session, term_days=75)
    set_terms(session, public, TermsUpdate(buyer_type="public_body"), actor="t")
    session.commit()
    for rel in (enterprise, public):
        invoice(session, rel, "75", delivered=date(2026, 9, 1), paid=date(2026, 11, 15))  # day 75
    reviews = sweep(session)
    mine, theirs = reviews[enterprise.id], reviews[public.id]  # type: ignore[index]
    assert (
        mine.kpis["payments"]["late"] == 0 and mine.kpis["payments"]["term_finding"] == "needs_justification"
    )
    assert mine.findings["fired"] == ["justify-long-term", "request-partner-scores"]
    assert theirs.kpis["payments"]["late_by_law"] == 1 and theirs.kpis["payments"]["due_days"] == 60
    assert {"escalate-late-by-law", "escalate-term-beyond-cap"} <= set(theirs.findings["fired"])
    assert theirs.kpis["payments"]["late_interest_minor"] == {"CNY": 15 * 500}


def test_a_statement_to_confirm_counts_against_the_partners_time(session: Session) -> None:
    rel = active_relationship(session)
    quiet = active_relationship(session)
    for n in range(3):
        invoice(session, rel, f"S-{n}", delivered=date(2026, 10, 5 + n), paid=None)
    issue_statement(session, rel, start=date(2026, 10, 1), end=date(2026, 10, 31), actor="rm")
    session.commit()
    reviews = sweep(session)
    asked, other = reviews[rel.id].kpis["checklist"], reviews[quiet.id].kpis["checklist"]  # type: ignore[index]
    assert asked["burden_other_minutes"] == statement_minutes(3) == 8
    assert asked["burden_minutes"] == other["burden_minutes"] + 8


def test_protected_requests_never_lower_the_partners_health_or_findings(session: Session) -> None:
    """Two identical relationships; the partner of one asked to be paid and to confirm a receivable."""
    rels = [active_relationship(session) for _ in range(2)]
    for rel in rels:
        invoice(session, rel, "late", delivered=date(2026, 8, 1), paid=None)
        invoice(session, rel, "ok", delivered=date(2026, 10, 1), paid=date(2026, 11, 1))
        scores(session, rel, "2026Q4", "ours", all_principles(4))
        scores(session, rel, "2026Q4", "partner", all_principles(3))
    asker = rels[0]
    late = session.exec(
        select(Payment).where(Payment.relationship_id == asker.id, Payment.invoice_id == "late")
    ).one()
    for kind in ("payment", "confirmation"):
        request_about(session, asker, late.id, kind=kind, by="owner@partner.example.cn")  # type: ignore[arg-type]
    for row in session.exec(select(PaymentRequest)):  # asked long ago: both are past their answer-by date
        row.respond_by = date(2026, 12, 1) - timedelta(days=1)
        row.requested_at = row.requested_at.replace(year=2026, month=10, day=15)
        session.add(row)
    session.commit()
    reviews = sweep(session)
    asked, calm = reviews[asker.id], reviews[rels[1].id]  # type: ignore[index]
    assert asked.health == calm.health and asked.health_components == calm.health_components
    protected = {"requests_open", "requests_overdue"}
    same = {k: v for k, v in asked.findings["facts"].items() if k not in protected}
    assert same == {k: v for k, v in calm.findings["facts"].items() if k not in protected}
    assert (asked.findings["facts"]["requests_open"], asked.findings["facts"]["requests_overdue"]) == (2, 2)
    # The only difference: an escalation on the partner's behalf.
    assert set(asked.findings["fired"]) - set(calm.findings["fired"]) == {"escalate-requests-unanswered"}
    assert set(calm.findings["fired"]) <= set(asked.findings["fired"])


def test_the_pack_and_the_charter_say_what_the_rule_says(session: Session) -> None:
    from models.lifecycle.machine import charter_context
    from models.reviews.sweep import review_public
    from notifications.documents import render_document, render_pack

    rel = active_relationship(session, term_days=75)
    invoice(session, rel, "late", delivered=date(2026, 8, 1), paid=None)
    sweep(session)
    data = review_public(session, str(rel.id), "2026Q4")
    zh = render_pack(data, language="zh-CN", fmt="md")
    en = render_pack(data, language="en", fmt="html")
    assert "第9条第2款" in zh and "超过法定默认期限，未记录理由" in zh and "法定上限" not in zh
    assert (
        "Art. 17" in en
        and "above the statutory default, no reason recorded" in en
        and "legal limit" not in en
    )
    set_terms(session, rel, TermsUpdate(buyer_type="public_body"), actor="t")
    charter = render_document("charter", "en", "md", charter_context(session, rel))
    assert "The term is longer than the legal maximum of 60 days" in charter and "Art. 9(1)" in charter
    chinese = render_document("charter", "zh-CN", "md", charter_context(session, rel))
    assert "付款期限超过法定最长期限 60 天" in chinese and "第9条第1款" in chinese
