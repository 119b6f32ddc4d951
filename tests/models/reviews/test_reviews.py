"""The sweep's plain functions on a hand-built portfolio: KPIs, health, actions, risks, idempotent reruns."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from models.checklists.generation import generate_checklist, items_of
from models.reviews.sweep import due_relationship_ids, resolve_scope, review_batch, review_public
from models.tables import ChecklistItem, Relationship, Review, ReviewAction, Risk
from tests.models.reviews.review_data import active_relationship, all_principles, invoice, scores

SCOPE = resolve_scope("2026Q4", date(2027, 1, 5))


def sweep(session: Session) -> list[int]:
    ids = due_relationship_ids(session, SCOPE)
    review_batch(session, ids, SCOPE)
    session.commit()
    return ids


def test_late_payer_with_dependency_gets_escalation_risk_and_gap_discussion(session: Session) -> None:
    rel = active_relationship(session, dependency=0.6, backup=False)  # key-person flag: no partner backup
    invoice(session, rel, "late", delivered=date(2026, 9, 1), paid=date(2026, 11, 15))  # 75 days
    invoice(session, rel, "ok", delivered=date(2026, 10, 1), paid=date(2026, 11, 1))  # 31 days
    scores(session, rel, "2026Q4", "ours", all_principles(4))
    scores(session, rel, "2026Q4", "partner", {**all_principles(4), "5.7": 2})
    assert sweep(session) == [rel.id]
    review = session.exec(select(Review)).one()
    assert review.status == "ready" and review.period == "2026Q4" and review.trend == "new"
    assert (
        review.kpis["payments"]["days_to_pay_avg"] == 53.0
        and review.kpis["payments"]["late_by_law"] == 1
    )
    assert review.scorecards["partner_rates_us_lower"] == ["5.7"]
    actions = {a.rule_id: a for a in session.exec(select(ReviewAction))}
    assert set(actions) == {
        "escalate-late-by-law",
        "risk-dependency-key-person",
        "discuss-scorecard-gaps",
    }
    assert actions["escalate-late-by-law"].owner_role == "sponsor"
    risk = session.exec(select(Risk).where(Risk.key == "dependency-key-person")).one()
    assert risk.created_by_side == "ours" and risk.score == 15
    next_review = session.get(Relationship, rel.id).next_review_on  # type: ignore[union-attr]
    assert next_review == date(2027, 1, 1)  # standard tier: every 3 months from the period's start


def test_missing_partner_scores_are_reported_and_asked_for_once(session: Session) -> None:
    rel = active_relationship(session)
    scores(session, rel, "2026Q4", "ours", all_principles(5))
    sweep(session)
    data = review_public(session, str(rel.id), "2026Q4")
    assert data["scorecards"]["missing_partner"] == [f"5.{n}" for n in range(1, 13)]
    assert data["components"]["partner_scorecard"] is None and data["health"] is not None
    assert [a["rule_id"] for a in data["actions"]] == ["request-partner-scores"]


def test_health_drop_and_three_poor_periods_from_history(session: Session) -> None:
    rel = active_relationship(session)
    for period, health in (("2026Q1", 40), ("2026Q2", 45), ("2026Q3", 90)):
        session.add(
            Review(
                relationship_id=rel.id, period=period, as_of=date(2026, 1, 1), status="ready", health=health
            )
        )
    session.commit()
    invoice(session, rel, "never-paid", delivered=date(2026, 6, 1), paid=None)
    scores(session, rel, "2026Q4", "partner", all_principles(1))
    scores(session, rel, "2026Q4", "ours", all_principles(1))
    sweep(session)
    review = session.exec(select(Review).where(Review.period == "2026Q4")).one()
    assert review.health is not None and review.health < 50 and review.trend == "down"
    assert review.health_delta == review.health - 90
    fired = set(review.findings["fired"])
    assert {"escalate-health-drop", "escalate-late-by-law"} <= fired
    assert "propose-exit-review" not in fired  # Q3 was good: the streak is 1
    assert review.findings["facts"]["poor_streak"] == 1


def test_rerun_and_second_sweep_change_nothing(session: Session) -> None:
    rels = [active_relationship(session) for _ in range(3)]
    assert sweep(session) == [r.id for r in rels]
    counts = (
        len(session.exec(select(Review)).all()),
        len(session.exec(select(ChecklistItem)).all()),
        len(session.exec(select(ReviewAction)).all()),
    )
    assert due_relationship_ids(session, SCOPE) == []
    # A crashed sweep leaves open reviews; the same batch again completes them without duplicates.
    session.exec(select(Review)).all()[0].status = "open"
    session.commit()
    review_batch(session, [r.id for r in rels], SCOPE)
    session.commit()
    again = (
        len(session.exec(select(Review)).all()),
        len(session.exec(select(ChecklistItem)).all()),
        len(session.exec(select(ReviewAction)).all()),
    )
    assert again == counts


def test_batched_review_checklist_matches_generate_checklist(session: Session) -> None:
    a, b = (
        active_relationship(session, tier="light"),
        active_relationship(session, tier="enhanced", country="DE"),
    )
    generate_checklist(session, a.id, "review", actor="test", period="2026Q4", start_on=SCOPE.as_of)  # type: ignore[arg-type]
    expected = {(i.item_key, i.due_on, i.owner_side, i.effort_minutes) for i in items_of(session, a.id)}  # type: ignore[arg-type]
    session.rollback()
    sweep(session)
    got = {(i.item_key, i.due_on, i.owner_side, i.effort_minutes) for i in items_of(session, a.id)}  # type: ignore[arg-type]
    assert got == expected and len(got) > 5
    enhanced = session.exec(select(ChecklistItem).where(col(ChecklistItem.relationship_id) == b.id)).all()
    assert len(enhanced) > len(got)


def _rows(session: Session, rel_id: int) -> list[dict[str, object]]:
    skip = {"id", "created_at", "updated_at", "done_at"}
    items = session.exec(
        select(ChecklistItem)
        .where(ChecklistItem.relationship_id == rel_id, ChecklistItem.stage == "review")
        .order_by(col(ChecklistItem.item_key))
    ).all()
    return [i.model_dump(exclude=skip) for i in items]


def test_batched_rows_equal_generate_checklist_rows_for_shared_profiles_and_reused_evidence(
    session: Session,
) -> None:
    # Two relationships share one profile (one template, two owners); the third partner has already
    # given the dependency-ratio evidence, which the review checklist reuses instead of asking again.
    rels = [active_relationship(session), active_relationship(session), active_relationship(session)]
    given = ChecklistItem(
        relationship_id=rels[2].id,  # type: ignore[arg-type]
        stage="onboarding",
        item_key="tandem.5.3.economic-dependency-ratio",
        clause="5.3",
        owner_side="partner",
        owner_role="partner_contact",
        priority="must",
        due_on=date(2026, 1, 5),
        evidence_key="data.dependency-ratio",
        status="done",
        done_by="owner@partner.example.cn",
        evidence="18% of revenue",
    )
    session.add(given)
    session.commit()
    expected = {}
    for rel in rels:
        generate_checklist(session, rel.id, "review", actor="test", period="2026Q4", start_on=SCOPE.as_of)  # type: ignore[arg-type]
        expected[rel.id] = _rows(session, rel.id)  # type: ignore[arg-type]
    session.rollback()
    assert all(not _rows(session, rel.id) for rel in rels)  # type: ignore[arg-type]
    sweep(session)
    for rel in rels:
        assert _rows(session, rel.id) == expected[rel.id]  # type: ignore[arg-type]
    owners = {r["owner_contact_id"] for rel in rels[:2] for r in _rows(session, rel.id)}  # type: ignore[arg-type]
    assert {rels[0].manager_id, rels[1].manager_id} <= owners
    reused = [r for r in _rows(session, rels[2].id) if r["reused_from_id"] == given.id]  # type: ignore[arg-type]
    assert len(reused) == 1 and reused[0]["status"] == "done" and reused[0]["effort_minutes"] == 0


def test_the_first_review_weighs_every_stages_minutes_against_every_stages_budget(session: Session) -> None:
    """Onboarding, governance and the review all fell in 2026Q4: their minutes meet their budgets."""
    from notifications.review_publishing import review_pack

    rel = active_relationship(session, tier="light", employees=8)
    rel.signed_on = date(2026, 10, 5)
    for stage, day in (("onboarding", date(2026, 10, 5)), ("governance", date(2026, 11, 2))):
        generate_checklist(session, rel.id, stage, actor="test", start_on=day)  # type: ignore[arg-type]
    session.commit()
    sweep(session)
    review = session.exec(select(Review).where(Review.relationship_id == rel.id)).one()
    burden = review.kpis["checklist"]
    asked = sum(i.effort_minutes for i in items_of(session, rel.id))  # type: ignore[arg-type]
    assert burden["burden_minutes"] == asked > 60  # more than the onboarding alone
    assert burden["burden_budget_minutes"] >= 60 + 25  # the stages' budgets, not the review's alone
    assert burden["burden_ratio"] <= 1 and review.health_components["partner_burden"] == 1.0
    assert "reduce-burden" not in review.findings["fired"]
    pack = review_pack(session, str(rel.id), "2026Q4", language="en", fmt="html")
    assert "Partner burden score (100 = within budget)" in pack and "Overdue items (count)" in pack
    chinese = review_pack(session, str(rel.id), "2026Q4", language="zh-CN", fmt="html")
    assert "伙伴负担得分（100 = 未超预算）" in chinese and "逾期事项（项数）" in chinese


def test_the_invitations_calendar_entry_reads_in_the_partners_language(session: Session) -> None:
    import base64

    from icalendar import Calendar

    from models.reviews.sweep import prepare_batch
    from notifications.review_publishing import render_review_messages

    chinese = active_relationship(session, language="zh-CN")
    english = active_relationship(session, language="en", country="DE")
    plan = prepare_batch(session, [chinese.id, english.id], SCOPE)  # type: ignore[list-item]
    rows = render_review_messages(session, plan).rows.values()
    summaries = {}
    for row in rows:
        data = base64.b64decode(row["attachments"][0]["data"])
        [event] = Calendar.from_ical(data).walk("VEVENT")
        summaries[row["language"]] = (str(event["SUMMARY"]), row["subject"])
    assert summaries["zh-CN"] == (
        "Our organization：2026Q4 联合评审",
        "邀请：Our organization与贵公司的2026Q4联合评审",
    )
    assert summaries["en"][0] == "Our organization: 2026Q4 joint review"
