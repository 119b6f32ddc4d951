"""The outbox: render once, store once per key (also under concurrency), quiet hours, cancel, .ics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlmodel import Session, select

from models.core.db import get_engine
from models.core.errors import InputRejected
from models.tables import MessageStatus, OutboxMessage
from models.tables.core import Side
from notifications.outbox import (
    MessageSpec,
    cancel_reminders,
    make_ics,
    queue,
    queue_many,
    queue_message,
    retry_message,
)
from notifications.reminders import sweep
from tests.support import factories as f

TUESDAY_NOON_SHANGHAI = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)


def welcome_context(name: str = "Yunzhan") -> dict[str, object]:
    return {
        "partner_name": name,
        "relationship_id": 1,
        "recipient_name": "王伟",
        "manager_name": "Ann",
        "manager_email": "ann@example.org",
    }


def test_queue_renders_in_the_recipients_language_and_is_idempotent(
    session: Session, smtp_settings: Callable[..., None]
) -> None:
    rel = f.relationship(session)
    owner = session.get(f.Contact, rel.partner_contact_id)
    first = queue_message(
        session, kind="welcome", context=welcome_context(), recipient=owner, relationship_id=rel.id
    )
    again = queue_message(
        session, kind="welcome", context=welcome_context("changed"), recipient=owner, relationship_id=rel.id
    )
    session.commit()
    assert first is not None and again is not None and first.id == again.id
    assert first.language == "zh-CN" and first.subject.startswith("欢迎")
    assert len(session.exec(select(OutboxMessage)).all()) == 1
    other_period = queue_message(
        session,
        kind="welcome",
        context=welcome_context(),
        recipient=owner,
        relationship_id=rel.id,
        dedupe="2",
    )
    assert other_period is not None and other_period.id != first.id


def test_a_recipient_without_a_channel_yet_is_still_queued(session: Session) -> None:
    rel = f.relationship(session)  # no SMTP configured and no chat channel
    owner = session.get(f.Contact, rel.partner_contact_id)
    message = queue_message(session, kind="welcome", context=welcome_context(), recipient=owner)
    assert message is not None and message.status == "queued"  # kept until a channel exists
    assert queue_message(session, kind="welcome", context=welcome_context(), team="nobody") is None
    with pytest.raises(InputRejected):
        queue_message(session, kind="welcome", context=welcome_context())


def test_quiet_hours_and_weekends_push_not_before_in_the_recipients_timezone(
    session: Session, smtp_settings: Callable[..., None]
) -> None:
    rel = f.relationship(session)
    owner = session.get(f.Contact, rel.partner_contact_id)  # Asia/Shanghai
    saturday = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
    message, created = queue(
        session, kind="welcome", context=welcome_context(), recipient=owner, now=saturday
    )
    assert created and message is not None
    assert message.not_before == datetime(2026, 3, 9, 0, 0, tzinfo=UTC)  # Monday 08:00 Shanghai
    manager = session.get(f.Contact, rel.manager_id)  # no timezone: the organization's (UTC)
    night = datetime(2026, 3, 3, 22, 0, tzinfo=UTC)
    message, _ = queue(session, kind="welcome", context=welcome_context(), recipient=manager, now=night)
    assert message is not None and message.not_before == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


def test_queue_many_queues_each_spec_as_queue_would_one_after_another(
    session: Session, smtp_settings: Callable[..., None]
) -> None:
    rel = f.relationship(session)
    owner = session.get(f.Contact, rel.partner_contact_id)  # Asia/Shanghai, reads zh-CN
    manager = session.get(f.Contact, rel.manager_id)  # no timezone: the organization's (UTC)
    saturday = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
    earlier, _ = queue(session, kind="welcome", context=welcome_context(), recipient=manager, now=saturday)
    specs = [
        MessageSpec(kind="welcome", context=welcome_context(), recipient=owner, relationship_id=rel.id),
        MessageSpec(kind="welcome", context=welcome_context("x"), recipient=owner, relationship_id=rel.id),
        MessageSpec(kind="welcome", context=welcome_context(), recipient=manager),  # queued before
        MessageSpec(kind="welcome", context=welcome_context(), team="nobody"),  # the team has no channel
        MessageSpec(kind="welcome", context=welcome_context(), recipient=owner, language="en", dedupe="en"),
    ]
    results = queue_many(session, specs, now=saturday)
    session.commit()
    assert [created for _, created in results] == [True, False, False, False, True]
    first, again, before, nobody, english = (message for message, _ in results)
    assert first is not None and again is not None and first.id == again.id
    assert before is not None and earlier is not None and before.id == earlier.id and nobody is None
    assert first.language == "zh-CN" and first.subject.startswith("欢迎") and "Yunzhan" in first.body_text
    assert first.not_before == datetime(2026, 3, 9, 0, 0, tzinfo=UTC)  # Monday 08:00 Shanghai
    assert english is not None and english.language == "en" and english.id != first.id
    assert len(session.exec(select(OutboxMessage)).all()) == 3
    assert queue_many(session, []) == []


def test_queue_many_writes_nothing_when_one_message_cannot_be_rendered(session: Session) -> None:
    rel = f.relationship(session)
    owner = session.get(f.Contact, rel.partner_contact_id)
    good = MessageSpec(kind="welcome", context=welcome_context(), recipient=owner)
    bad = MessageSpec(kind="welcome", context={"partner_name": "only this"}, recipient=owner, dedupe="2")
    with pytest.raises(InputRejected):
        queue_many(session, [good, bad])
    with pytest.raises(InputRejected):
        queue_many(session, [good, MessageSpec(kind="welcome", context=welcome_context())])
    assert session.exec(select(OutboxMessage)).all() == []


def test_concurrent_queueing_of_one_key_stores_one_row(
    schema: str, smtp_settings: Callable[..., None]
) -> None:
    with Session(get_engine()) as setup:
        rel = f.relationship(setup)
        owner_id = rel.partner_contact_id
        setup.commit()
    barrier, ids, errors = threading.Barrier(4), [], []

    def worker() -> None:
        try:
            with Session(get_engine(), expire_on_commit=False) as s:
                owner = s.get(f.Contact, owner_id)
                barrier.wait()
                message = queue_message(s, kind="welcome", context=welcome_context(), recipient=owner)
                s.commit()
                ids.append(message.id if message else None)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 1
    with Session(get_engine()) as check:
        assert len(check.exec(select(OutboxMessage)).all()) == 1


def test_cancel_reminders_cancels_one_relationship_and_keeps_the_rest_of_a_digest(
    session: Session, smtp_settings: Callable[..., None]
) -> None:
    first = f.relationship(session, partner_name="Alpha", tier="enhanced")  # partner reminded daily
    second = f.relationship(session, partner_name="Beta")
    second.manager_id = first.manager_id  # one manager, two relationships: one digest
    today = date(2026, 3, 3)
    f.item(session, first, due_on=today - timedelta(days=1))
    f.item(session, second, due_on=today + timedelta(days=1))
    f.item(session, first, due_on=today, owner_role="partner_contact")
    session.commit()
    sweep(session, as_of=TUESDAY_NOON_SHANGHAI)
    session.commit()
    assert cancel_reminders(session, relationship_id=first.id, reason="exit") == 2  # type: ignore[arg-type]
    session.commit()
    rows = {m.recipient_id: m for m in session.exec(select(OutboxMessage))}
    assert rows[first.partner_contact_id].status == MessageStatus.cancelled.value
    assert rows[first.partner_contact_id].cancelled_reason == "exit"
    manager_digest = rows[first.manager_id]
    assert manager_digest.status == MessageStatus.queued.value
    assert "Beta" in manager_digest.body_text and "Alpha" not in manager_digest.body_text


def test_retry_puts_dead_messages_back_and_refuses_sent_ones(
    session: Session, smtp_settings: Callable[..., None]
) -> None:
    rel = f.relationship(session)
    owner = session.get(f.Contact, rel.partner_contact_id)
    message = queue_message(session, kind="welcome", context=welcome_context(), recipient=owner)
    assert message is not None
    message.status, message.attempts = MessageStatus.dead.value, 6
    session.commit()
    again = retry_message(session, message.id, actor="test")  # type: ignore[arg-type]
    assert again.status == MessageStatus.queued.value and again.attempts == 0
    again.status = MessageStatus.sent.value
    with pytest.raises(InputRejected, match="only dead or failed"):
        retry_message(session, message.id, actor="test")  # type: ignore[arg-type]


def test_make_ics_builds_a_calendar_event_that_parses() -> None:
    start = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    attachment = make_ics(
        uid="review-7-2026Q1@tandem",
        summary="2026Q1 review: 云栈",
        description="Joint review",
        start=start,
        end=start + timedelta(hours=1),
        organizer="ann@example.org",
        attendees=["wang@partner.example.cn", "li@partner.example.cn"],
    )
    assert attachment.filename.endswith(".ics") and attachment.content_type == "text/calendar"
    calendar = Calendar.from_ical(attachment.data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1 and str(events[0]["SUMMARY"]) == "2026Q1 review: 云栈"
    assert events[0].decoded("DTSTART") == start and len(events[0]["ATTENDEE"]) == 2
    with pytest.raises(InputRejected):
        make_ics(
            uid="x",
            summary="s",
            description="d",
            start=start.replace(tzinfo=None),
            end=start,
            organizer="a@b.c",
            attendees=[],
        )


def test_ics_escapes_text_and_folds_long_lines_without_splitting_characters() -> None:
    start = datetime(2027, 1, 18, 2, 0, tzinfo=UTC)
    description = "议程：付款, 风险; 行动\n第二行 \\ 结束 " * 5
    attachment = make_ics(
        uid="tandem-review-12-2026Q4@tandem",
        summary="2026Q4 review: 苏州精工, Ltd; \\ ok",
        description=description,
        start=start,
        end=start + timedelta(hours=1),
        organizer="ann@example.org",
        attendees=["wang@partner.example.cn"],
    )
    lines = attachment.data.split(b"\r\n")
    assert all(len(line) <= 75 for line in lines) and any(line.startswith(b" ") for line in lines)
    for line in lines:
        line.decode("utf-8")  # a fold never cuts a character in two
    event = next(iter(Calendar.from_ical(attachment.data).walk("VEVENT")))
    assert str(event["DESCRIPTION"]) == description  # commas, semicolons, newlines and backslashes survive
    assert str(event["SUMMARY"]) == "2026Q4 review: 苏州精工, Ltd; \\ ok"
    assert event["ATTENDEE"].params["RSVP"] == "TRUE" and event.decoded("DTEND") == start + timedelta(hours=1)


def test_side_is_recorded_for_partner_contacts(session: Session) -> None:
    rel = f.relationship(session)
    assert session.get(f.Contact, rel.partner_contact_id).side == Side.partner.value  # type: ignore[union-attr]
