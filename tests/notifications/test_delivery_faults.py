"""Delivery under faults (issue 14): one target's error never sinks a batch, results are recorded once,
under the claim that won them, never in quiet hours, with stable Message-IDs. Real SMTP and HTTP servers.
"""

from __future__ import annotations

import mimetypes
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from models.core.base import utcnow
from models.core.db import session_scope
from models.tables import Contact, DeliveryStatus, MessageStatus, OutboxDelivery, OutboxMessage
from notifications import channels
from notifications.delivery import deliver_claimed, deliver_due
from notifications.outbox import Attachment, claim, make_ics, queue_message
from tests.support import factories as f
from tests.support.servers import HttpReceiver, SmtpServer

WEBHOOK_TOKEN = "FAULTtoken5521abc"


@pytest.fixture
def open_all_hours(smtp_settings: Callable[..., None]) -> None:
    """No quiet hours, every day a business day."""
    smtp_settings(
        TANDEM_QUIET_HOURS_START="0", TANDEM_QUIET_HOURS_END="0", TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7"
    )


@pytest.fixture
def slim_host_mimetypes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's MIME types as in a fresh process on a host without /etc/mime.types (python:*-slim)."""
    for name in ("types_map", "common_types", "suffix_map", "encodings_map"):
        monkeypatch.setattr(mimetypes, name, getattr(mimetypes, name))  # restored afterwards
    monkeypatch.setattr(mimetypes, "knownfiles", [])
    monkeypatch.setattr(mimetypes, "inited", False)
    monkeypatch.setattr(mimetypes, "_db", None)


def invitation(session: Session, partner: Contact, rel_id: int, period: str) -> OutboxMessage:
    start = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    ics = make_ics(
        uid=f"review-{rel_id}-{period}@tandem",
        summary=f"{period} review",
        description="Joint review",
        start=start,
        end=start + timedelta(hours=1),
        organizer="ann@example.org",
        attendees=[partner.email],
    )
    context = {**f.welcome_context(), "period": period, "meeting_start": start, "pack_url": None}
    message = queue_message(
        session,
        kind="review_invitation",
        recipient=partner,
        relationship_id=rel_id,
        period=period,
        context=context,
        attachments=[ics],
    )
    assert message is not None
    return message


def later(minutes: float) -> datetime:
    return utcnow() + timedelta(minutes=minutes)


def test_one_targets_exception_never_sinks_the_batch_on_a_host_without_mime_types(
    session: Session, open_all_hours: None, slim_host_mimetypes: None, smtp_server: SmtpServer
) -> None:
    first, second, third = (f.relationship(session) for _ in range(3))
    partners = [session.get(Contact, r.partner_contact_id) for r in (first, second, third)]
    invitation(session, partners[0], first.id, "2026Q1")  # type: ignore[arg-type]
    invitation(session, partners[1], second.id, "2026Q1")  # type: ignore[arg-type]
    # A type this host does not know makes Apprise raise while building the attachment, every time.
    odd = Attachment(filename="notes.tdm", content_type="application/x-tandem-probe", data=b"x")
    broken = queue_message(
        session,
        kind="welcome",
        context=f.welcome_context(),
        recipient=partners[2],
        relationship_id=third.id,
        attachments=[odd],
    )
    session.commit()

    report = deliver_due(max_workers=4)
    assert (report.claimed, report.sent, report.failed) == (3, 2, 1), report
    invites = [
        m for m in smtp_server.messages if "invite.ics" in {p.get_filename() for p in m.iter_attachments()}
    ]
    assert sorted(str(m["to"]) for m in invites) == sorted(p.email for p in partners[:2])  # type: ignore[union-attr]
    session.expire_all()
    failed = session.get(OutboxMessage, broken.id)  # type: ignore[union-attr]
    assert failed.status == MessageStatus.failed.value and failed.attempts == 1  # type: ignore[union-attr]
    assert "AppriseImproperlyConfigured" in (failed.last_error or "")  # type: ignore[union-attr]
    row = session.exec(select(OutboxDelivery).where(OutboxDelivery.message_id == failed.id)).one()  # type: ignore[union-attr]
    assert row.status == DeliveryStatus.failed.value and row.attempts == 1

    for n in range(1, 8):  # every backoff passed: the broken message is retried until it is dead
        deliver_due(now=later(60 * 7 * n), max_attempts=3)
    session.expire_all()
    dead = session.get(OutboxMessage, broken.id)  # type: ignore[union-attr]
    assert dead.status == MessageStatus.dead.value and dead.attempts == 3  # type: ignore[union-attr]
    invites_now = [
        m
        for m in smtp_server.messages
        if "invitation" in str(m["subject"]).lower() or "邀请" in str(m["subject"])
    ]
    assert len(invites_now) == 2  # each invitation arrived once, never again
    assert any("Undelivered" in str(m["subject"]) for m in smtp_server.messages)  # the manager is told


class Stopped(BaseException):
    """A stop signal arriving while sends are in flight (as Ctrl-C would)."""


def webhook_messages(session: Session, receiver: HttpReceiver, count: int) -> list[OutboxMessage]:
    hook = f"json://127.0.0.1:{receiver.port}/hook/{WEBHOOK_TOKEN}"
    # One of our staff: a partner gets at most one message a day, and these tests send several at once.
    staff = f.contact(session, f"hook-{uuid.uuid4().hex[:8]}@example.org", channels=[hook])
    messages = [
        queue_message(
            session, kind="welcome", context=f.welcome_context(f"P{n}"), recipient=staff, dedupe=str(n)
        )
        for n in range(count)
    ]
    session.commit()
    return messages  # type: ignore[return-value]


def test_a_stop_while_sends_are_in_flight_still_records_every_send(
    session: Session, open_all_hours: None, http_receiver: HttpReceiver
) -> None:
    import os
    import signal

    messages = webhook_messages(session, http_receiver, 3)
    http_receiver.delay_seconds = 0.5

    def stop(_signum: int, _frame: object) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGUSR1, stop)
    http_receiver.on_request = lambda n: os.kill(os.getpid(), signal.SIGUSR1) if n == 1 else None
    try:
        with pytest.raises(Stopped):
            deliver_due(max_workers=3)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert len(http_receiver.received) == 3
    session.expire_all()
    assert {session.get(OutboxMessage, m.id).status for m in messages} == {"sent"}  # type: ignore[union-attr]
    assert deliver_due(now=later(60)).claimed == 0  # nothing left to resend once the lease is gone
    assert len(http_receiver.received) == 3


def test_results_are_recorded_only_under_the_claim_that_won_the_batch(
    session: Session, open_all_hours: None, http_receiver: HttpReceiver
) -> None:
    [message] = webhook_messages(session, http_receiver, 1)
    start = utcnow()
    taken_over: list = []

    def second_worker_takes_over(number: int) -> None:
        # Worker A's send is in flight and A's lease has run out (A stalled): worker B claims the batch.
        if number == 1:
            with session_scope() as other:
                taken_over.append(claim(other, limit=10, now=start + timedelta(minutes=30)))

    http_receiver.on_request = second_worker_takes_over
    first = deliver_due(now=start)
    assert (first.claimed, first.sent, first.lost) == (1, 0, 1)  # A sent, but records nothing
    [second_claim] = taken_over
    assert second_claim.ids == [message.id]
    http_receiver.on_request = None
    second = deliver_claimed(
        second_claim, smtp=None, limiter=channels.RateLimiter(), now=start + timedelta(minutes=30)
    )
    assert second.sent == 1
    session.expire_all()
    row = session.exec(select(OutboxDelivery)).one()
    stored = session.get(OutboxMessage, message.id)
    assert row.attempts == 1 and row.status == "sent"  # recorded once, by B
    assert stored.status == "sent" and stored.attempts == 0 and stored.claim_token is None  # type: ignore[union-attr]
    assert len(http_receiver.received) == 2  # the documented window: A's in-flight send and B's


def test_the_lease_is_renewed_while_sends_are_in_flight_and_a_killed_worker_holds_it_briefly(
    session: Session, open_all_hours: None, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifications import delivery

    messages = webhook_messages(session, http_receiver, 3)
    monkeypatch.setattr(delivery, "RENEW_EVERY_SECONDS", 0.2)
    http_receiver.delay_seconds = 0.5
    leases: dict[int, datetime | None] = {}

    def look(number: int) -> None:
        with session_scope() as other:
            leases[number] = other.get(OutboxMessage, messages[2].id).lease_until  # type: ignore[union-attr]

    http_receiver.on_request = look
    assert deliver_due(max_workers=1).sent == 3
    assert leases[1] is not None and leases[3] is not None and leases[3] > leases[1]

    # A worker killed right after claiming: its batch is free again once the (short) lease ran out.
    http_receiver.on_request, http_receiver.delay_seconds = None, 0.0
    more = webhook_messages(session, http_receiver, 2)
    with session_scope() as other:
        assert claim(other, limit=10).ids == sorted(m.id for m in more)  # type: ignore[type-var]
    assert deliver_due().claimed == 0
    assert deliver_due(now=later(3)).sent == 2


def test_quiet_hours_are_checked_again_when_a_message_is_claimed(
    session: Session, smtp_settings: Callable[..., None], smtp_server: SmtpServer
) -> None:
    from notifications.outbox import queue

    # One of our staff in Asia/Shanghai (quiet hours 20:00-08:00): a partner would get one a day.
    partner = f.contact(session, "ops@example.org", timezone="Asia/Shanghai")
    tuesday_10_shanghai = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    backlog, _ = queue(
        session, kind="welcome", context=f.welcome_context(), recipient=partner, now=tuesday_10_shanghai
    )
    leased, _ = queue(
        session,
        kind="welcome",
        context=f.welcome_context(),
        recipient=partner,
        dedupe="b",
        now=tuesday_10_shanghai,
    )
    session.commit()
    with session_scope() as other:  # claimed at 19:55 by a worker that then died
        claim(other, limit=1, now=datetime(2026, 3, 3, 11, 55, tzinfo=UTC))

    report = deliver_due(now=datetime(2026, 3, 3, 14, 30, tzinfo=UTC))  # 22:30 in Shanghai
    assert (report.claimed, report.deferred, report.sent) == (2, 2, 0)
    assert smtp_server.messages == []
    wednesday_8_shanghai = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)
    session.expire_all()
    for message in (backlog, leased):
        stored = session.get(OutboxMessage, message.id)  # type: ignore[union-attr]
        assert stored.status == "queued" and stored.attempts == 0 and stored.claim_token is None  # type: ignore[union-attr]
        assert stored.not_before == wednesday_8_shanghai  # type: ignore[union-attr]
    assert deliver_due(now=wednesday_8_shanghai - timedelta(minutes=1)).claimed == 0
    assert deliver_due(now=wednesday_8_shanghai + timedelta(minutes=5)).sent == 2
    assert len(smtp_server.messages) == 2


def test_a_resent_email_carries_the_same_message_id(
    session: Session, open_all_hours: None, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channels, "SEND_TIMEOUT_SECONDS", 0.3)
    smtp_server.delay_seconds = 1.0  # the sender gives up waiting (unknown), yet the message arrives
    rel = f.relationship(session)
    for contact_id in (rel.manager_id, rel.deputy_id):
        queue_message(
            session, kind="welcome", context=f.welcome_context(), recipient=session.get(Contact, contact_id)
        )
    session.commit()
    assert deliver_due().targets_unknown == 2
    deadline = time.monotonic() + 10
    while len(smtp_server.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(smtp_server.messages) == 2
    smtp_server.delay_seconds = 0.0
    monkeypatch.setattr(channels, "SEND_TIMEOUT_SECONDS", 15.0)  # a loaded machine may take 0.3 s
    assert deliver_due(now=later(5)).sent == 2  # "unknown" is retried: each arrives a second time
    assert len(smtp_server.messages) == 4
    ids: dict[str, list[str]] = {}
    for m in smtp_server.messages:
        assert len(m.get_all("Message-ID")) == 1
        ids.setdefault(str(m["to"]), []).append(str(m["Message-ID"]))
    assert len(ids) == 2 and all(len(set(v)) == 1 and len(v) == 2 for v in ids.values()), ids
    assert len({v[0] for v in ids.values()}) == 2  # one id per message and target
    assert all(v[0].endswith(".tandem@example.org>") for v in ids.values())


def test_a_refused_smtp_login_is_reported_as_an_authentication_failure(
    session: Session, smtp_server: SmtpServer, smtp_settings: Callable[..., None]
) -> None:
    smtp_server.stop()
    smtp_server.password = "the-right-one-1234"
    smtp_server.start()
    smtp_settings(
        TANDEM_SMTP_USER="tandem",
        TANDEM_SMTP_PASSWORD="wrong-password-7781",
        TANDEM_QUIET_HOURS_START="0",
        TANDEM_QUIET_HOURS_END="0",
        TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7",
    )
    rel = f.relationship(session)
    queue_message(
        session, kind="welcome", context=f.welcome_context(), recipient=session.get(Contact, rel.manager_id)
    )
    session.commit()
    report = deliver_due()
    assert report.failed == 1
    row = session.exec(select(OutboxDelivery)).one()
    assert "authentication failed" in (row.result or "") and "535" in (row.result or ""), row.result
    assert "connection error" not in (row.result or "").lower()
    assert "wrong-password-7781" not in (row.result or "") + " ".join(report.errors)
    assert smtp_server.messages == [] and smtp_server.logins == []
