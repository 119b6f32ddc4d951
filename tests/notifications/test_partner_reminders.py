"""Reminders to a partner stop: a cap per item, then our manager; one message a day; the month's budget."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from models.tables import ChecklistItem, Contact, MessageStatus, OutboxMessage, Relationship
from notifications.outbox import queue
from notifications.reminders import sweep
from tests.support import factories as f

MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai; March 2026 has five Mondays
TODAY = date(2026, 3, 2)


@pytest.fixture(autouse=True)
def _smtp(smtp_settings: Callable[..., None]) -> None:
    """Every contact is reachable by email (nothing is sent here)."""


def partner_item(
    session: Session, rel: Relationship, *, due_on: date, priority: str = "must"
) -> ChecklistItem:
    return f.item(
        session,
        rel,
        due_on=due_on,
        owner_side="partner",
        owner_role="partner_contact",
        priority=priority,
        title={"en": f"Send the {priority} thing", "zh-CN": f"提供{priority}材料"},
    )


def to(session: Session, contact_id: int) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(
        OutboxMessage.recipient_id == contact_id, OutboxMessage.status != MessageStatus.cancelled.value
    )
    return list(session.exec(query.order_by(OutboxMessage.id)))


def mondays(weeks: int) -> list[datetime]:
    return [MONDAY + timedelta(weeks=n) for n in range(weeks)]


def test_a_must_item_is_reminded_twice_a_week_apart_then_goes_to_our_manager(session: Session) -> None:
    rel = f.relationship(session, tier="light")
    item = partner_item(session, rel, due_on=TODAY + timedelta(days=2))
    session.commit()
    handed = []
    for day in mondays(5):
        report = sweep(session, as_of=day)
        session.commit()
        handed.append(report.handed_over)
    reminders = to(session, rel.partner_contact_id)
    assert [m.planned_on for m in reminders] == [TODAY, TODAY + timedelta(days=7)]  # then never again
    assert all(item.id in m.item_ids for m in reminders)
    session.refresh(item)
    assert item.reminders == 2 and item.last_reminded_on == TODAY + timedelta(days=7)
    assert handed == [0, 0, 1, 1, 1]
    manager = [m for m in to(session, rel.manager_id) if item.id in m.item_ids]
    assert manager and "reminded 2 times without an answer" in manager[0].body_text
    assert "call them, or waive the item" in manager[0].body_text


def test_should_items_are_reminded_once_and_optional_ones_never(session: Session) -> None:
    rel = f.relationship(session, tier="light")
    should = partner_item(session, rel, due_on=TODAY + timedelta(days=1), priority="should")
    could = partner_item(session, rel, due_on=TODAY + timedelta(days=1), priority="could")
    session.commit()
    for day in mondays(3):
        sweep(session, as_of=day)
        session.commit()
    reminders = to(session, rel.partner_contact_id)
    assert len(reminders) == 1 and reminders[0].item_ids == [should.id]
    assert "will not remind you again" in reminders[0].body_text or "不会再提醒" in reminders[0].body_text
    to_manager = {i for m in to(session, rel.manager_id) for i in m.item_ids}
    assert should.id in to_manager and could.id not in to_manager  # nobody chases an optional item


def test_an_exiting_partner_is_not_reminded_our_manager_follows_up(session: Session) -> None:
    rel = f.relationship(session, tier="enhanced", stage="exiting")
    item = partner_item(session, rel, due_on=TODAY - timedelta(days=3))
    session.commit()
    sweep(session, as_of=MONDAY)
    session.commit()
    assert to(session, rel.partner_contact_id) == []
    assert any(item.id in m.item_ids for m in to(session, rel.manager_id))


def test_never_two_messages_to_a_partner_on_one_day(session: Session) -> None:
    rel = f.relationship(session, tier="enhanced")
    partner = session.get(Contact, rel.partner_contact_id)
    context = {
        "partner_name": "Yunzhan",
        "relationship_id": rel.id,
        "recipient_name": "王",
        "manager_name": "Ann",
        "manager_email": "ann@example.org",
    }
    welcome = {"kind": "welcome", "context": context, "recipient": partner, "relationship_id": rel.id}
    first, _ = queue(session, **welcome, now=MONDAY)  # type: ignore[arg-type]
    second, _ = queue(session, **welcome, dedupe="2", now=MONDAY)  # type: ignore[arg-type]
    assert first is not None and second is not None
    assert first.planned_on == TODAY and second.planned_on == TODAY + timedelta(days=1)
    assert second.not_before is not None and second.not_before > MONDAY
    # The reminder sweep leaves a day that already has a message alone: the item waits.
    partner_item(session, rel, due_on=TODAY + timedelta(days=1))
    session.commit()
    report = sweep(session, as_of=MONDAY)
    assert report.deferred == 1 and report.queued == 0
    later = sweep(session, as_of=MONDAY + timedelta(days=2))  # Wednesday: free again
    assert later.queued == 1


def test_a_month_with_five_mondays_still_holds_the_tiers_messages(session: Session) -> None:
    rel = f.relationship(session, tier="light")  # 4 messages a month, 2 kept for notices
    for week in range(5):  # something new falls due every week of March
        partner_item(session, rel, due_on=TODAY + timedelta(days=7 * week + 1))
    session.commit()
    deferred = 0
    for day in mondays(5):
        deferred += sweep(session, as_of=day).deferred
        session.commit()
    march = [m for m in to(session, rel.partner_contact_id) if m.planned_on and m.planned_on.month == 3]
    assert len(march) == 2 and deferred == 3  # five Mondays, two reminders: the rest waited
    april = sweep(session, as_of=datetime(2026, 4, 6, 2, tzinfo=UTC))
    assert april.queued >= 1  # a new month has room again


def test_a_partner_reads_who_asks_what_happens_next_and_today(session: Session) -> None:
    rel = f.relationship(session, tier="light")  # the partner contact reads Chinese
    partner_item(session, rel, due_on=TODAY)
    session.commit()
    sweep(session, as_of=MONDAY)
    [message] = to(session, rel.partner_contact_id)
    manager = session.get(Contact, rel.manager_id)
    text = message.body_text
    assert "今天到期" in text and "还有 0 天" not in text
    assert "Our organization" in message.subject and f"您的对接人：{manager.name}" in text  # type: ignore[union-attr]
    assert "再提醒您一次" in text  # what happens if the partner does nothing
    assert "Tandem" not in text and "Tandem" not in message.body_html
