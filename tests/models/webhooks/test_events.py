"""Events are queued by the real paths (state machine, approvals, review sweep) in the transaction of the
change: a rolled-back change queues nothing, a repeated one nothing twice, an overdue invoice once."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, col, select

from models.core.db import session_scope
from models.core.vocabulary import Stage
from models.lifecycle.machine import ApprovalDecision, record_approval, transition
from models.reviews.sweep import due_relationship_ids, resolve_scope, review_batch
from models.tables import Contact, ExitPlan, OutboxMessage, Relationship
from models.webhooks.subscriptions import add_subscription
from tests.models.reviews.review_data import active_relationship, all_principles, invoice, scores
from tests.support import factories as f

SECRET = {"S": "r4nd0m-s3cret-of-32-characters!!"}


def subscribe(session: Session, *events: str, url: str = "https://erp.example.com/hook") -> int:
    subscription = add_subscription(
        session, url=url, events=list(events) or ["all"], secret_env="S", environ=SECRET, actor="t"
    )
    session.commit()
    return subscription.id  # type: ignore[return-value]


def queued(session: Session) -> list[dict[str, Any]]:
    """Return the queued webhook events, oldest first, as the bodies that will be sent."""
    session.expire_all()
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.webhook_id).is_not(None))
        .order_by(col(OutboxMessage.id))
    )
    return [json.loads(m.body_text) for m in session.exec(query)]


def test_a_stage_change_queues_one_cloudevent_per_subscriber_in_its_transaction(session: Session) -> None:
    subscribe(session)
    subscribe(session, "com.tandem.relationship.stage_changed", url="https://bi.example.com/in")
    subscribe(session, "com.tandem.review.completed", url="https://other.example.com/in")  # not this type
    rel = f.relationship(session, stage="governance", partner_name="云栈 <Software>")
    session.commit()
    with session_scope() as s:
        transition(s, s.get(Relationship, rel.id), Stage.active, actor="rm@example.org", reason="ready")  # type: ignore[arg-type]
    events = queued(session)
    assert len(events) == 2 and events[0] == events[1]  # the same event, byte for byte, to two systems
    event = events[0]
    assert set(event) == {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"}
    assert (event["specversion"], event["type"], event["subject"], event["datacontenttype"]) == (
        "1.0",
        "com.tandem.relationship.stage_changed",
        f"relationships/{rel.id}",
        "application/json",
    )
    assert event["source"] == "http://127.0.0.1:8000" and event["time"].endswith("Z")
    data = event["data"]
    assert (data["from"], data["to"], data["reason"], data["actor"]) == (
        "governance",
        "active",
        "ready",
        "rm@example.org",
    )
    assert data["relationship"]["partner"]["legal_name"] == "云栈 <Software>"
    assert data["relationship"]["stage"] == "active" and data["relationship"]["tier"] == "standard"


def test_a_rolled_back_change_queues_nothing(session: Session) -> None:
    subscribe(session)
    rel = f.relationship(session)
    session.commit()
    with pytest.raises(RuntimeError), session_scope() as s:
        transition(s, s.get(Relationship, rel.id), Stage.exiting, actor="rm@example.org")  # type: ignore[arg-type]
        assert len(s.exec(select(OutboxMessage)).all()) == 1  # queued in the transaction...
        raise RuntimeError("the rest of the exit failed")
    assert queued(session) == []  # ...and gone with it
    session.expire_all()
    assert session.get(Relationship, rel.id).stage == "active"  # type: ignore[union-attr]


def test_no_subscription_means_no_outbox_rows(session: Session) -> None:
    rel = f.relationship(session)
    transition(session, rel, Stage.exiting, actor="rm@example.org")
    session.commit()
    assert queued(session) == []


def test_exit_completed_carries_the_exit_plan(session: Session) -> None:
    subscribe(session, "com.tandem.relationship.exit_completed")
    rel = f.relationship(session, stage="exiting")
    session.add(
        ExitPlan(
            relationship_id=rel.id,  # type: ignore[arg-type]
            notice_days=90,
            transition_support_days=30,
            final_payment_days=45,
            legal_limit_days=60,
            exit_trigger="planned-end",
            exit_reason="contract ends",
            exit_started_on=date(2026, 1, 5),
            notice_ends_on=date(2026, 4, 5),
            final_payment_due_on=date(2026, 5, 20),
        )
    )
    transition(session, rel, Stage.exited, actor="flow:exit-relationship", reason="exit checklist closed")
    session.commit()
    (event,) = queued(session)
    assert event["type"] == "com.tandem.relationship.exit_completed"
    assert event["data"]["exit"] == {
        "trigger": "planned-end",
        "reason": "contract ends",
        "started_on": "2026-01-05",
        "notice_days": 90,
        "notice_ends_on": "2026-04-05",
        "final_payment_due_on": "2026-05-20",
    }


def test_approvals_and_rejections_are_events_once_per_decision(session: Session) -> None:
    subscribe(session, "com.tandem.approval.approved", "com.tandem.approval.rejected")
    rel = f.relationship(session, stage="proposed")
    rel.tier_proposed = "light"
    sponsor = session.get(Contact, rel.sponsor_id)
    reject = ApprovalDecision(decision="reject", by=sponsor.email, comment="dependency too high")  # type: ignore[union-attr]
    record_approval(session, rel, reject)
    record_approval(session, rel, reject)  # the same decision again: stored once, announced once
    record_approval(session, rel, ApprovalDecision(decision="approve", by=sponsor.email))  # type: ignore[union-attr]
    session.commit()
    events = queued(session)
    assert [e["type"] for e in events] == ["com.tandem.approval.rejected", "com.tandem.approval.approved"]
    assert events[0]["data"]["approval"]["comment"] == "dependency too high"
    assert events[1]["data"]["approval"] | {"decided_at": None} == {
        "kind": "onboarding",
        "decision": "approve",
        "decided_by": sponsor.email,  # type: ignore[union-attr]
        "tier": None,
        "proposed_tier": "light",
        "comment": None,
        "decided_at": None,
    }


def _sweep(session: Session, period: str, as_of: date) -> None:
    scope = resolve_scope(period, as_of)
    review_batch(session, due_relationship_ids(session, scope), scope)
    session.commit()


def test_the_review_sweep_announces_each_review_and_each_overdue_invoice_once(session: Session) -> None:
    subscribe(session, "com.tandem.review.completed", "com.tandem.payment.overdue")
    rel = active_relationship(session, term_days=30)
    invoice(session, rel, "INV/1", delivered=date(2026, 9, 1), paid=None, amount_minor=123_450)
    invoice(session, rel, "INV-2", delivered=date(2026, 12, 20), paid=None)  # due 2027-01-19
    invoice(session, rel, "INV-3", delivered=date(2026, 9, 1), paid=date(2026, 9, 20))  # paid on time
    scores(session, rel, "2026Q4", "ours", all_principles(4))
    _sweep(session, "2026Q4", date(2027, 1, 5))
    _sweep(session, "2026Q4", date(2027, 1, 6))  # a rerun of the same period finds it done
    first = queued(session)
    assert [e["type"] for e in first] == ["com.tandem.review.completed", "com.tandem.payment.overdue"]
    review, overdue = first[0]["data"]["review"], first[1]["data"]
    assert review["period"] == "2026Q4" and isinstance(review["health"], int) and review["escalated"] is True
    assert [a["rule_id"] for a in review["escalations"]] == ["escalate-late-by-law"]
    assert {a["kind"] for a in review["actions"]} >= {"escalate_to_sponsor"}
    assert overdue["invoice"] == {
        "invoice_id": "INV/1",
        "amount": "1234.50",
        "currency": "CNY",
        "undisputed_amount": "1234.50",
        "clock_started_by": "delivery",
        "clock_started_on": "2026-09-01",
        "due_on": "2026-10-01",
        "days_overdue": 96,
    }
    assert first[1]["subject"] == f"relationships/{rel.id}/invoices/INV%2F1"
    _sweep(session, "2027Q1", date(2027, 4, 5))  # INV/1 still unpaid: not again; INV-2 overdue now
    later = queued(session)[2:]
    assert [(e["type"], e["data"].get("invoice", {}).get("invoice_id")) for e in later] == [
        ("com.tandem.review.completed", None),
        ("com.tandem.payment.overdue", "INV-2"),
    ]
