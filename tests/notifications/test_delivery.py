"""Delivery through real servers: SMTP (aiosmtpd) and a local HTTP receiver, with faults injected."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs

import pytest
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.feishu import NotifyFeishu
from apprise.plugins.lark import NotifyLark
from apprise.plugins.wecombot import NotifyWeComBot
from icalendar import Calendar
from sqlalchemy import text
from sqlmodel import Session, select

from models.core.base import utcnow
from models.tables import Contact, DeliveryStatus, MessageStatus, OutboxDelivery, OutboxMessage
from notifications import channels, delivery
from notifications.delivery import deliver_due
from notifications.outbox import make_ics, queue_message
from tests.support import factories as f
from tests.support.servers import HttpReceiver, SmtpServer

SMTP_PASSWORD = "s3cret-SMTP-pw-9431"
WEBHOOK_TOKEN = "WEBHOOKtoken8472xyz"


@pytest.fixture(autouse=True)
def open_all_hours(smtp_settings: Callable[..., None]) -> None:
    """No quiet hours, every day a business day: these tests are about delivery, not timing."""
    smtp_settings(
        TANDEM_QUIET_HOURS_START="0", TANDEM_QUIET_HOURS_END="0", TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7"
    )


@pytest.fixture
def chat_endpoints(http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> HttpReceiver:
    """Point the fixed-host chat plugins at the local receiver, so their real requests are checked."""
    base = http_receiver.base
    monkeypatch.setattr(NotifyWeComBot, "notify_url", base + "/wecom/send?key={key}")
    monkeypatch.setattr(NotifyDingTalk, "notify_url", base + "/dingtalk/send?access_token={token}")
    monkeypatch.setattr(NotifyFeishu, "notify_url", base + "/feishu/{token}")
    monkeypatch.setattr(NotifyLark, "notify_url", base + "/lark/")
    http_receiver.reply = {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}
    return http_receiver


def deliver_until_settled(rounds: int = 10, **options: object) -> list[delivery.DeliveryReport]:
    """Deliver repeatedly, each round far enough ahead that every backoff has passed."""
    reports = []
    for n in range(rounds):
        reports.append(deliver_due(now=utcnow() + timedelta(hours=7 * n), **options))  # type: ignore[arg-type]
        if reports[-1].claimed == 0:
            break
    return reports


def plain_and_html(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_email_in_both_languages_with_a_calendar_invitation(
    session: Session, smtp_server: SmtpServer, smtp_settings: Callable[..., None]
) -> None:
    smtp_server.stop()
    smtp_server.password = SMTP_PASSWORD
    smtp_server.start()
    smtp_settings(
        TANDEM_SMTP_USER="tandem",
        TANDEM_SMTP_PASSWORD=SMTP_PASSWORD,
        TANDEM_QUIET_HOURS_START="0",
        TANDEM_QUIET_HOURS_END="0",
        TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7",
    )
    rel = f.relationship(session, partner_name="<script>x</script> 云栈")
    manager = session.get(Contact, rel.manager_id)
    partner = session.get(Contact, rel.partner_contact_id)
    start = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    invite = make_ics(
        uid="review-1@tandem",
        summary="2026Q1 review",
        description="Joint review",
        start=start,
        end=start + timedelta(hours=1),
        organizer="ann@example.org",
        attendees=[partner.email],  # type: ignore[union-attr]
    )
    queue_message(
        session, kind="welcome", context=f.welcome_context("<script>x</script> 云栈"), recipient=manager
    )
    queue_message(
        session,
        kind="review_invitation",
        recipient=partner,
        relationship_id=rel.id,
        period="2026Q1",
        context={**f.welcome_context("云栈"), "period": "2026Q1", "meeting_start": start, "pack_url": None},
        attachments=[invite],
    )
    session.commit()
    report = deliver_due()
    assert report.sent == 2, report
    by_to = {str(m["to"]): m for m in smtp_server.messages}
    english = by_to[manager.email]  # type: ignore[union-attr]
    assert english["subject"] == "Welcome: working together with <script>x</script> 云栈 (#1)"
    plain, html = plain_and_html(english)
    assert (
        "Dear 王伟" in plain
        and "Ann Lee (ann@example.org)" in plain
        and "&lt;script&gt;" in html
        and "<script>" not in html
    )
    chinese = by_to[partner.email]  # type: ignore[union-attr]
    assert chinese["subject"] == "邀请：Our organization与贵公司的2026Q1联合评审"
    plain, _ = plain_and_html(chinese)
    assert "诚邀您参加" in plain and "2026-03-05 10:00 (UTC+0800)" in plain  # shown in Shanghai time
    ics = [p for p in chinese.iter_attachments() if p.get_filename() == "invite.ics"]
    assert len(ics) == 1 and ics[0].get_content_type() == "text/calendar"
    events = list(Calendar.from_ical(ics[0].get_payload(decode=True)).walk("VEVENT"))
    assert len(events) == 1 and events[0].decoded("DTSTART") == start
    assert smtp_server.logins == ["tandem", "tandem"]


def test_generic_webhook_receives_the_plain_text(session: Session, http_receiver: HttpReceiver) -> None:
    url = f"json://127.0.0.1:{http_receiver.port}/hook/{WEBHOOK_TOKEN}"
    rel = f.relationship(session, partner_channels=[url])
    queue_message(
        session,
        kind="welcome",
        context=f.welcome_context(),
        recipient=session.get(Contact, rel.partner_contact_id),
    )
    session.commit()
    assert deliver_due().sent == 1
    [body] = http_receiver.bodies()
    assert body["title"].startswith("欢迎：与Yunzhan 云栈开展协作")
    assert "唯一对接人是 Ann Lee" in body["message"]
    [row] = session.exec(select(OutboxDelivery)).all()
    assert row.status == "sent" and row.channel == "json" and WEBHOOK_TOKEN not in row.target_masked


@pytest.mark.parametrize(
    ("url", "path", "check"),
    [
        (
            "wecombot://wecomKEY123",
            "/wecom/send",
            lambda q, b: q["key"] == ["wecomKEY123"] and b["msgtype"] == "text",
        ),
        (
            "dingtalk://dingSECRET1@dingTOKEN1/",
            "/dingtalk/send",
            lambda q, b: q["access_token"] == ["dingTOKEN1"] and "sign" in q and "timestamp" in q,
        ),
        ("feishu://feishuTOKEN1", "/feishu/feishuTOKEN1", lambda q, b: b["msg_type"] == "text"),
        ("lark://larkTOKEN1", "/lark/larkTOKEN1", lambda q, b: b["msg_type"] == "text"),
    ],
)
def test_chat_bots_send_real_requests_and_provider_error_codes_are_failures(
    session: Session, chat_endpoints: HttpReceiver, url: str, path: str, check: Callable[..., bool]
) -> None:
    rel = f.relationship(session, partner_channels=[url])
    partner = session.get(Contact, rel.partner_contact_id)
    queue_message(session, kind="welcome", context=f.welcome_context(), recipient=partner)
    session.commit()
    assert deliver_due().sent == 1
    [request] = chat_endpoints.received
    body = request.json()
    content = body.get("text", body.get("content", {}))
    assert request.path == path and check(parse_qs(request.query), body)
    assert "欢迎：与Yunzhan 云栈开展协作" in (content.get("content") or content.get("text"))
    assert request.headers["Content-Type"].startswith("application/json")
    # HTTP 200 with an error code in the body is a failure, not a success.
    chat_endpoints.reply = {"errcode": 93000, "errmsg": "invalid webhook url", "code": 19001, "msg": "bad"}
    queue_message(session, kind="welcome", context=f.welcome_context(), recipient=partner, dedupe="again")
    session.commit()
    report = deliver_due(now=utcnow() + timedelta(days=3))  # a partner's second message waits a day
    assert report.failed == 1 and report.targets_failed == 1
    failed = session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed")).one()
    assert ("93000" in (failed.last_error or "")) or ("19001" in (failed.last_error or ""))


def test_faults_are_retried_and_every_message_arrives_exactly_once(
    session: Session, smtp_server: SmtpServer, http_receiver: HttpReceiver
) -> None:
    http_receiver.fail_share = 0.35
    smtp_server.refuse_first = 4
    hook = f"json://127.0.0.1:{http_receiver.port}/hook/{WEBHOOK_TOKEN}"
    # Our staff, not a partner: a partner gets one message a day, and this test sends 20 at once.
    chat = f.contact(session, "chat@example.org", language="zh-CN", channels=[hook])
    mail = f.relationship(session)
    for n in range(20):
        for contact_id in (chat.id, mail.manager_id):
            queue_message(
                session,
                kind="welcome",
                context=f.welcome_context(f"Partner-{n:02d}"),
                recipient=session.get(Contact, contact_id),
                dedupe=str(n),
            )
    session.commit()
    deliver_until_settled(rounds=12)
    statuses = Counter(m.status for m in session.exec(select(OutboxMessage)))
    assert statuses == {"sent": 40}
    assert http_receiver.refused > 0 and smtp_server.refused == 4
    chat_names = Counter(b["title"].split("与")[1].split("开展")[0] for b in http_receiver.bodies())
    mail_names = Counter(s.split("with ")[1].split(" (#")[0] for s in smtp_server.subjects())
    expected = Counter(f"Partner-{n:02d}" for n in range(20))
    assert chat_names == expected and mail_names == expected


def test_smtp_down_for_the_first_attempts_then_delivered_once(
    session: Session, smtp_server: SmtpServer
) -> None:
    smtp_server.stop()
    rel = f.relationship(session)
    queue_message(
        session, kind="welcome", context=f.welcome_context(), recipient=session.get(Contact, rel.manager_id)
    )
    session.commit()
    first = deliver_due()
    second = deliver_due(now=utcnow() + timedelta(minutes=2))
    assert first.failed == 1 and second.failed == 1
    message = session.exec(select(OutboxMessage)).one()
    session.refresh(message)
    assert message.attempts == 2 and message.next_attempt_at > utcnow() + timedelta(minutes=3)
    smtp_server.start()
    assert deliver_due(now=utcnow() + timedelta(hours=1)).sent == 1
    assert deliver_due(now=utcnow() + timedelta(days=1)).claimed == 0
    assert len(smtp_server.messages) == 1


def test_after_the_last_attempt_a_message_is_dead_and_the_manager_is_told(
    session: Session, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    http_receiver.fail_share = 1.0
    hook = f"json://127.0.0.1:{http_receiver.port}/hook/{WEBHOOK_TOKEN}"
    rel = f.relationship(session, partner_channels=[hook])
    queue_message(
        session,
        kind="welcome",
        context=f.welcome_context(),
        recipient=session.get(Contact, rel.partner_contact_id),
        relationship_id=rel.id,
    )
    session.commit()
    deliver_until_settled(rounds=10, max_attempts=3)
    dead = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "welcome")).one()
    assert dead.status == MessageStatus.dead.value and dead.attempts == 3
    [report] = [m for m in smtp_server.messages if "Undelivered" in str(m["subject"])]
    assert str(report["to"]) == session.get(Contact, rel.manager_id).email  # type: ignore[union-attr]
    plain, _ = plain_and_html(report)
    assert f"tandem outbox retry {dead.id}" in plain and WEBHOOK_TOKEN not in plain


def test_a_timeout_is_unknown_and_retried(
    session: Session, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channels, "SEND_TIMEOUT_SECONDS", 0.3)
    http_receiver.delay_seconds = 1.0
    hook = f"json://127.0.0.1:{http_receiver.port}/hook/{WEBHOOK_TOKEN}"
    rel = f.relationship(session, partner_channels=[hook])
    queue_message(
        session,
        kind="welcome",
        context=f.welcome_context(),
        recipient=session.get(Contact, rel.partner_contact_id),
    )
    session.commit()
    report = deliver_due()
    assert report.targets_unknown == 1 and report.failed == 1
    row = session.exec(select(OutboxDelivery)).one()
    assert row.status == DeliveryStatus.unknown.value and "timeout" in (row.result or "")


def test_a_crash_between_send_and_record_resends_only_the_unrecorded_target(
    session: Session, smtp_server: SmtpServer, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = f"json://127.0.0.1:{http_receiver.port}/hook/{WEBHOOK_TOKEN}"
    rel = f.relationship(session, partner_channels=[hook])
    start = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    invite = make_ics(
        uid="u",
        summary="s",
        description="d",
        start=start,
        end=start + timedelta(hours=1),
        organizer="a@example.org",
        attendees=[],
    )
    # An attachment makes the message go to email as well as to the partner's webhook: two targets.
    queue_message(
        session,
        kind="welcome",
        context=f.welcome_context(),
        recipient=session.get(Contact, rel.partner_contact_id),
        attachments=[invite],
    )
    session.commit()
    real_record = delivery._record

    def crash_after_the_webhook_send(results: list, finished: list, *args: object, **kwargs: object) -> None:
        channels_by_id = {d.id: d.channel for d in session.exec(select(OutboxDelivery))}
        webhook = [r for r in results if channels_by_id[r[1]] == "json"]
        real_record([r for r in results if r not in webhook], [], *args, **kwargs)  # type: ignore[arg-type]
        if webhook:
            raise KeyboardInterrupt("worker killed after sending, before recording")

    monkeypatch.setattr(delivery, "_record", crash_after_the_webhook_send)
    with pytest.raises(KeyboardInterrupt):
        deliver_due(max_workers=1)
    monkeypatch.setattr(delivery, "_record", real_record)
    assert deliver_due().claimed == 0  # the lease still holds: nobody else takes it over
    assert deliver_due(now=utcnow() + timedelta(minutes=11)).sent == 1
    assert len(smtp_server.messages) == 1  # recorded as sent before the crash: not sent again
    assert len(http_receiver.received) == 2  # the documented window: the one in-flight target


def test_no_secret_reaches_logs_tables_or_errors(
    session: Session,
    smtp_server: SmtpServer,
    smtp_settings: Callable[..., None],
    http_receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp_settings(
        TANDEM_SMTP_USER="tandem",
        TANDEM_SMTP_PASSWORD=SMTP_PASSWORD,
        TANDEM_QUIET_HOURS_START="0",
        TANDEM_QUIET_HOURS_END="0",
        TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7",
    )
    http_receiver.fail_share = 1.0
    hooks = [
        f"json://127.0.0.1:{http_receiver.port}/hook/{WEBHOOK_TOKEN}",
        f"json://user:{WEBHOOK_TOKEN}X@127.0.0.1:{http_receiver.port}/",
    ]
    rel = f.relationship(session, partner_channels=hooks)
    queue_message(
        session,
        kind="welcome",
        context=f.welcome_context(),
        recipient=session.get(Contact, rel.partner_contact_id),
    )
    queue_message(
        session, kind="welcome", context=f.welcome_context(), recipient=session.get(Contact, rel.manager_id)
    )
    session.commit()
    reports = deliver_until_settled(rounds=3, max_attempts=2)  # SMTP refuses login: no AUTH offered
    assert any(r.errors for r in reports)
    errors = " ".join(e for r in reports for e in r.errors)
    tables = " ".join(
        str(tuple(row))
        for table in ("outbox_message", "outbox_delivery", "audit_event", "contact")
        for row in session.exec(text(f"SELECT * FROM {table}"))  # type: ignore[call-overload]
    )
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err + errors + tables
    assert "json://127.0.0.1:" in tables and "/****" in tables  # the targets are stored, masked
    for secret in (SMTP_PASSWORD, WEBHOOK_TOKEN):
        assert secret not in everything, [
            everything[max(0, i - 300) : i + 50] for i in [everything.find(secret)]
        ]
    for name in ("apprise", "urllib3"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO
