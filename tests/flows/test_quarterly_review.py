"""The `quarterly-review` flow on a real Prefect server: batches, artifacts, reruns after a crash, races."""

from __future__ import annotations

import re
import threading
from datetime import date

import pytest
from prefect.client.orchestration import get_client
from sqlmodel import Session, func, select

from flows.portfolio_report import portfolio_report
from flows.quarterly_review import quarterly_review
from models.core.db import get_engine
from models.reviews.sweep import batches, due_relationship_ids, resolve_scope
from models.tables import ChecklistItem, Document, Review, ReviewAction
from models.tables.outbox import OutboxMessage
from notifications import review_publishing as publishing
from tests.models.reviews.review_data import active_relationship, all_principles, invoice, scores
from tests.support.database import ON_POSTGRES

PERIOD, AS_OF = "2026Q4", date(2027, 1, 5)


@pytest.fixture
def portfolio(schema: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Five active relationships, one late payer scored lower by its partner; SMTP set, so mail is queued."""
    monkeypatch.setenv("TANDEM_SMTP_HOST", "127.0.0.1")
    from models.core.settings import get_settings

    get_settings.cache_clear()
    with Session(get_engine(), expire_on_commit=False) as session:
        rels = [active_relationship(session) for _ in range(5)]
        invoice(session, rels[0], "late", delivered=date(2026, 8, 1), paid=date(2026, 11, 2))
        scores(session, rels[0], PERIOD, "ours", all_principles(4))
        scores(session, rels[0], PERIOD, "partner", {**all_principles(4), "5.7": 1})
        return [r.id for r in rels]  # type: ignore[misc]


def counts() -> tuple[int, int, int, int, int]:
    with Session(get_engine()) as s:
        return tuple(  # type: ignore[return-value]
            s.exec(select(func.count()).select_from(t)).one()
            for t in (Review, ChecklistItem, ReviewAction, Document, OutboxMessage)
        )


async def artifact_keys() -> set[str]:
    async with get_client() as client:
        return {a.key for a in await client.read_artifacts() if a.key}


@pytest.mark.usefixtures("prefect_server")
def test_sweep_reviews_in_batches_publishes_artifacts_and_reruns_cleanly(portfolio: list[int]) -> None:
    # Two worker processes: batches are computed in parallel and written one transaction each.
    result = quarterly_review(period=PERIOD, as_of=AS_OF, batch_size=2, workers=2)
    assert (result["due"], result["reviewed"], result["escalated"]) == (5, 5, 1)
    with Session(get_engine()) as s:
        reviews = s.exec(select(Review)).all()
        assert {r.status for r in reviews} == {"ready"} and len(reviews) == 5
        kinds = sorted(m.kind for m in s.exec(select(OutboxMessage)))
        invite = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "review_invitation")).first()
        summaries = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "review_summary")).all()
        pack = publishing.review_pack(s, str(portfolio[0]), PERIOD, language="zh-CN", fmt="html")
        assert all(r.announced_at is not None for r in reviews)
    # One invitation per partner; one summary per manager (each relationship has its own here) and one
    # to the sponsor of the escalated late payer, naming it.
    assert kinds.count("review_invitation") == 5 and kinds.count("review_summary") == 6
    assert invite is not None and invite.attachments[0]["filename"] == "invite.ics"
    to_sponsor = [m for m in summaries if "escalated to you" in m.subject]
    assert len(to_sponsor) == 1 and f"#{portfolio[0]} " in to_sponsor[0].body_text
    # Email and chat carry the same signed link to acknowledge the escalation; managers get none.
    act = re.search(r"https?://\S+/act/[A-Za-z0-9_-]+", to_sponsor[0].body_text)
    assert act is not None and act.group(0) in (to_sponsor[0].body_html or "")
    assert sum("/act/" in m.body_text for m in summaries) == 1
    assert sum(f"#{portfolio[1]} " in m.body_text for m in summaries) == 1  # only its manager's
    assert "<svg" in pack and "<script" not in pack and "评审" in pack
    import asyncio

    keys = asyncio.run(artifact_keys())
    assert "quarterly-review-2026q4" in keys and "quarterly-review-summary-2026q4" in keys
    assert f"review-pack-{portfolio[0]}-2026q4" in keys
    before = counts()
    again = quarterly_review(period=PERIOD, as_of=AS_OF, batch_size=2)
    assert again["due"] == 0 and counts() == before
    report = portfolio_report(as_of=AS_OF)
    assert report["count"] == 5 and report["reviewed"] == 5


@pytest.mark.usefixtures("prefect_server")
def test_rerun_after_a_crash_completes_the_rest_without_duplicates(
    portfolio: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = publishing.publish
    calls = {"n": 0}

    def crash_on_second_batch(session, plan, messages):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] >= 2:
            raise RuntimeError("worker killed")
        return real(session, plan, messages)

    monkeypatch.setattr(publishing, "publish", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        quarterly_review(period=PERIOD, as_of=AS_OF, batch_size=2)
    with Session(get_engine()) as s:
        assert len(s.exec(select(Review).where(Review.status == "ready")).all()) == 2
    monkeypatch.setattr(publishing, "publish", real)
    result = quarterly_review(period=PERIOD, as_of=AS_OF, batch_size=2)
    assert result["due"] == 3 and result["reviewed"] == 3
    reviews, _, _, _, messages = counts()
    # 5 invitations, then at the end of the completed sweep one summary per manager (5, each naming
    # all of its reviews, also those of the crashed run) and 1 to the escalated sponsor.
    assert reviews == 5 and messages == 11


@pytest.mark.skipif(not ON_POSTGRES, reason="concurrent writers are tested on PostgreSQL")
def test_two_sweeps_at_once_make_one_review_per_relationship(portfolio: list[int]) -> None:
    scope = resolve_scope(PERIOD, AS_OF)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            from models.core.db import session_scope

            with session_scope() as session:
                due = due_relationship_ids(session, scope)
            start.wait()
            for group in batches(due, 2):
                publishing.run_batch(group, scope)
            with session_scope() as session:
                publishing.announce(session, scope.period.name)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    reviews, items, actions, documents, messages = counts()
    assert reviews == 5 and messages == 11  # each review announced once, whichever sweep did it
    with Session(get_engine()) as s:
        assert {r.status for r in s.exec(select(Review))} == {"ready"}
        per_rel = s.exec(
            select(func.count()).select_from(ChecklistItem).group_by(ChecklistItem.relationship_id)
        ).all()
    assert len(set(per_rel)) == 1  # every relationship got the same, single review checklist


def test_each_manager_gets_one_summary_of_new_reviews_in_their_language(
    portfolio: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.core.db import session_scope
    from models.tables import Contact, Relationship

    scope = resolve_scope(PERIOD, AS_OF)
    with session_scope() as session:
        rels = [session.get(Relationship, rid) for rid in portfolio]
        shared = rels[0].manager_id  # type: ignore[union-attr]
        for rel in rels[1:4]:
            rel.manager_id = shared  # type: ignore[union-attr]
        session.get(Contact, shared).language = "zh-CN"  # type: ignore[union-attr]
    monkeypatch.setattr(publishing, "SUMMARY_ROWS", 3)
    publishing.run_batch(portfolio[:4], scope)
    with session_scope() as session:
        assert publishing.announce(session, PERIOD) == 2  # the shared manager, and one sponsor
    with session_scope() as session:
        assert publishing.announce(session, PERIOD) == 0  # nothing new: nothing sent twice
        summary = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.kind == "review_summary", OutboxMessage.recipient_id == shared
            )
        ).one()
    assert summary.language == "zh-CN" and "4 个协作关系" in summary.subject
    assert summary.body_text.count("：健康分 ") == 3 and "另有 1 个" in summary.body_text  # worst first
    publishing.run_batch(portfolio[4:], scope)
    with session_scope() as session:
        assert publishing.announce(session, PERIOD) == 1  # the last relationship's own manager
        later = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "review_summary")).all()
    assert len(later) == 3 and sum(f"#{portfolio[4]} " in m.body_text for m in later) == 1
