"""Lifecycle steps that tell people: the welcome names the buyer; exit and rejection withdraw and say so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from models.checklists.generation import generate_checklist
from models.lifecycle.machine import ApprovalDecision, record_approval, store_proposed_tier
from models.tables import ChecklistItem, Contact, MessageStatus, OutboxMessage, Relationship
from notifications import lifecycle
from notifications.outbox import queue
from notifications.reminders import sweep
from tests.models.reviews.review_data import active_relationship

START = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture(autouse=True)
def _smtp(smtp_settings: Callable[..., None]) -> None:
    """Every contact is reachable by email (nothing is sent here)."""


def onboarded(session: Session, *, employees: int = 8) -> Relationship:
    """Open, approve and onboard a relationship with a Chinese micro partner (light tier)."""
    rel = active_relationship(session, employees=employees)
    rel.stage, rel.tier = "proposed", None
    store_proposed_tier(session, rel, actor="test")
    sponsor = session.get(Contact, rel.sponsor_id)
    record_approval(session, rel, ApprovalDecision(decision="approve", by=sponsor.email))  # type: ignore[union-attr]
    lifecycle.finish_onboarding(session, rel.id, as_of=START, actor="test", now=NOW)  # type: ignore[arg-type]
    session.commit()
    return rel


def message_to(session: Session, contact_id: int, kind: str) -> OutboxMessage:
    query = select(OutboxMessage).where(OutboxMessage.recipient_id == contact_id, OutboxMessage.kind == kind)
    return session.exec(query).one()


def test_the_partners_welcome_names_the_buyer_its_tier_and_what_we_ask(session: Session) -> None:
    rel = onboarded(session)
    welcome = message_to(session, rel.partner_contact_id, "welcome")
    manager = session.get(Contact, rel.manager_id)
    text = welcome.body_text
    assert welcome.language == "zh-CN" and welcome.subject == "欢迎：与Our organization开展协作"
    assert "欢迎贵公司与Our organization开展协作" in text and f"唯一对接人是{manager.email}" in text  # type: ignore[union-attr]
    assert "“轻量”治理等级" in text and "light" not in text  # the tier in the reader's language
    assert "第一年我们最多占用您 120 分钟" in text and "每月最多发给您 4 条消息" in text
    assert "告诉我们您的主要联系人和一位后备联系人" in text  # an ask, in the partner's voice
    assert "需提供：" in text and "到期" in text and "最多提醒两次" in text  # what to send, when, and if not
    assert "Tandem" not in text
    ours = message_to(session, rel.manager_id, "welcome")
    assert rel.partner_id and "Partner" in ours.subject  # our manager reads the partner's name


def test_exit_withdraws_what_was_asked_and_every_unsent_message_and_says_how_many(session: Session) -> None:
    rel = onboarded(session)
    partner = session.get(Contact, rel.partner_contact_id)
    open_before = session.exec(
        select(ChecklistItem).where(ChecklistItem.owner_side == "partner", ChecklistItem.status == "open")
    ).all()
    sweep(session, as_of=NOW + timedelta(days=7))  # Monday: the partner's first reminder is queued
    context = {"period": "2026Q1", "relationship_id": rel.id, "partner_name": "x", "recipient_name": "x"}
    context |= {"manager_name": "m", "manager_email": "m@x.example", "meeting_start": NOW, "pack_url": ""}
    queue(session, kind="review_invitation", context=context, recipient=partner, relationship_id=rel.id)
    session.commit()
    exit_day = START + timedelta(days=8)
    step = lifecycle.begin_exit(
        session,
        rel.id,  # type: ignore[arg-type]
        reason="product line discontinued",
        trigger="strategy-change",
        by=session.get(Contact, rel.sponsor_id).email,  # type: ignore[union-attr]
        as_of=exit_day,
        now=NOW + timedelta(days=8),
    )
    session.commit()
    summary = step.summary
    assert summary["items_cancelled"] >= len(open_before) > 0
    assert summary["reminders_cancelled"] >= 1 and summary["messages_cancelled"] >= 2  # invitation, welcome
    left = session.exec(
        select(ChecklistItem).where(
            ChecklistItem.relationship_id == rel.id,
            ChecklistItem.status == "open",
            ChecklistItem.stage != "exit",
        )
    ).all()
    assert all(i.owner_side == "ours" for i in left)  # nothing is asked of the partner any more
    unsent = session.exec(
        select(OutboxMessage).where(
            OutboxMessage.recipient_id == partner.id,  # type: ignore[union-attr]
            OutboxMessage.status == MessageStatus.queued.value,
        )
    ).all()
    assert [m.kind for m in unsent] == ["exit_notice"]  # the exit's own message, and only it
    notice = unsent[0].body_text
    assert summary["notice_ends_on"] in notice and summary["final_payment_due_on"] in notice
    assert "保障中小企业款项支付条例" in notice and "付款期限 60 天" in notice  # the legal basis
    assert "不会再发提醒" in notice
    # Nothing more goes to the partner: the exit's items are followed up by our manager.
    for days in range(9, 60, 7):
        sweep(session, as_of=NOW + timedelta(days=days))
    session.commit()
    after = session.exec(
        select(OutboxMessage).where(
            OutboxMessage.recipient_id == partner.id,  # type: ignore[union-attr]
            OutboxMessage.status != MessageStatus.cancelled.value,
            OutboxMessage.kind != "exit_notice",
            OutboxMessage.created_at > unsent[0].created_at,
        )
    ).all()
    assert after == []


def test_rejection_withdraws_the_approval_request(session: Session) -> None:
    rel = active_relationship(session, employees=8)
    rel.stage, rel.tier = "proposed", None
    sponsor = session.get(Contact, rel.sponsor_id)
    context = {"relationship_id": rel.id, "partner_name": "x", "recipient_name": "x", "manager_name": "m"}
    context |= {"manager_email": "m@x.example", "tier": "light", "tier_reason": "r", "action_url": "https://t.example/act/c"}
    queue(session, kind="approval_request", context=context, recipient=sponsor, relationship_id=rel.id)
    generate_checklist(session, rel.id, "onboarding", actor="test", start_on=START)  # type: ignore[arg-type]
    session.commit()
    counts = lifecycle.reject(session, rel.id, reason="not now", actor="test")  # type: ignore[arg-type]
    session.commit()
    assert counts["messages_cancelled"] == 1 and counts["items_cancelled"] > 0
    assert counts["reminders_cancelled"] == 0
    open_partner = session.exec(
        select(ChecklistItem).where(ChecklistItem.owner_side == "partner", ChecklistItem.status == "open")
    ).all()
    assert open_partner == []
