"""Webhook delivery through a real local HTTP receiver that checks every signature with the documented
function: flaky and dead receivers, replays and tampering, quiet hours, and the secret kept secret."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel, col, select

from models.core.base import utcnow
from models.core.db import session_scope
from models.core.vocabulary import Stage
from models.lifecycle.machine import transition
from models.tables import (
    Contact,
    MessageStatus,
    OutboxDelivery,
    OutboxMessage,
    Relationship,
    WebhookSubscription,
)
from models.webhooks.subscriptions import remove_subscription, retry_dead
from notifications.delivery import DeliveryReport, deliver_due
from notifications.outbox import queue_message
from notifications.webhooks import sign
from tests.support import factories as f
from tests.support.servers import HttpReceiver
from tests.support.webhooks import SECRET, checking, refused_error, subscribe, verify_webhook


@pytest.fixture(autouse=True)
def open_all_hours(smtp_settings: Callable[..., None]) -> None:
    """No quiet hours and every day a business day, unless a test says otherwise."""
    smtp_settings(
        TANDEM_QUIET_HOURS_START="0", TANDEM_QUIET_HOURS_END="0", TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7"
    )


def exits(session: Session, n: int) -> list[Relationship]:
    """Start the exit of `n` active relationships through the state machine (one event each)."""
    rels = [f.relationship(session, partner_name=f"云栈 {i}") for i in range(n)]
    for rel in rels:
        transition(session, rel, Stage.exiting, actor="rm@example.org", reason="contract ends")
    session.commit()
    return rels


def deliver_until_settled(rounds: int = 10) -> list[DeliveryReport]:
    """Deliver repeatedly, each round far enough ahead that every backoff has passed."""
    reports = []
    for n in range(rounds):
        reports.append(deliver_due(now=utcnow() + timedelta(hours=7 * n)))
        if reports[-1].claimed == 0:
            break
    return reports


def webhook_rows(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.webhook_id).is_not(None))))


def test_every_event_is_signed_and_arrives_once_through_a_receiver_that_fails_a_third_of_the_time(
    session: Session, http_receiver: HttpReceiver
) -> None:
    attempts: list[str] = []  # the delivery id of every request, refused ones included
    check = checking()

    def record_and_check(headers: dict[str, str], body: bytes) -> None:
        attempts.append(headers["webhook-id"])
        check(headers, body)

    http_receiver.verify, http_receiver.fail_share = record_and_check, 0.35
    subscribe(session, http_receiver, path="/erp/TOKEN-A")
    subscribe(session, http_receiver, path="/bi/TOKEN-B", events=("com.tandem.relationship.stage_changed",))
    exits(session, 12)
    rows = webhook_rows(session)
    assert len(rows) == 24  # 12 events x 2 subscriptions, each its own outbox row
    deliver_until_settled()
    received = http_receiver.received
    ids = [r.headers["webhook-id"] for r in received]
    assert http_receiver.refused > 0 and http_receiver.unverified == 0
    assert sorted(ids) == sorted(m.key for m in rows)  # each delivery exactly once
    assert len(attempts) > len(ids) and set(attempts) == set(ids)  # retries carried the same delivery id
    assert {m.status for m in webhook_rows(session)} == {MessageStatus.sent.value}
    events = [r.json() for r in received]
    by_event = Counter(e["id"] for e in events)
    assert len(by_event) == 12 and set(by_event.values()) == {2}  # one CloudEvent id, two subscribers
    assert {r.path for r in received} == {"/erp/TOKEN-A", "/bi/TOKEN-B"}
    assert all(r.headers["content-type"] == "application/cloudevents+json; charset=utf-8" for r in received)
    event = events[0]
    assert event["specversion"] == "1.0" and event["type"] == "com.tandem.relationship.stage_changed"
    assert event["data"]["from"] == "active" and event["data"]["to"] == "exiting"
    assert event["data"]["relationship"]["partner"]["legal_name"].startswith("云栈")
    retried = session.exec(select(OutboxDelivery).where(OutboxDelivery.attempts > 1)).all()
    assert retried and all(d.status == "sent" for d in retried)


def test_a_receiver_that_always_fails_makes_deliveries_dead_and_the_manager_is_told_once(
    session: Session, http_receiver: HttpReceiver
) -> None:
    http_receiver.fail_share = 1.0
    subscription = subscribe(session, http_receiver)
    (rel,) = exits(session, 1)
    with session_scope() as s:  # a second event for the same webhook the same day
        transition(s, s.get(Relationship, rel.id), Stage.exited, actor="rm@example.org")  # type: ignore[arg-type]
    deliver_until_settled()
    rows = webhook_rows(session)
    assert len(rows) == 3 and {m.status for m in rows} == {MessageStatus.dead.value}  # exiting, exited, exit
    assert all(m.attempts == 6 and "HTTP 503" in (m.last_error or "") for m in rows)
    reports = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "delivery_failed")).all()
    assert len(reports) == 1  # one a day per webhook, not one per dead delivery
    assert reports[0].recipient_id == rel.manager_id
    assert f"tandem webhook retry {subscription.id}" in reports[0].body_text
    assert "/hooks/" not in reports[0].body_text  # the URL only in privacy form
    http_receiver.fail_share = 0.0
    with session_scope() as s:
        assert retry_dead(s, subscription.id, actor="test") == 3  # type: ignore[arg-type]
    deliver_until_settled()
    assert {m.status for m in webhook_rows(session)} == {MessageStatus.sent.value}
    assert len(http_receiver.received) == 3


def test_dead_deliveries_go_to_the_admin_team_when_it_has_a_channel(
    session: Session, http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "apprise.yml"
    config.write_text(f"urls:\n  - json://127.0.0.1:{http_receiver.port}/ops/TEAMTOKEN9:\n      tag: admin\n")
    monkeypatch.setenv("TANDEM_APPRISE_CONFIG", str(config))
    f.get_settings_clear()
    subscribe(session, http_receiver, path="/down/here")
    exits(session, 1)
    with session_scope() as s:  # the webhook is down; the team's chat channel is not
        s.exec(text("UPDATE outbox_message SET attempts = 5"))  # type: ignore[call-overload]
    http_receiver.fail_share = 1.0
    deliver_due()
    http_receiver.fail_share = 0.0
    session.expire_all()
    report = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "delivery_failed")).one()
    assert report.team == "admin" and report.recipient_id is None


def test_a_tampered_body_an_old_timestamp_or_another_secret_fails_verification(
    session: Session, http_receiver: HttpReceiver
) -> None:
    http_receiver.verify = checking()
    subscribe(session, http_receiver)
    exits(session, 1)
    deliver_due()
    (delivery,) = http_receiver.received
    headers, body = delivery.headers, delivery.body
    stamp = int(headers["webhook-timestamp"])
    refused = refused_error()
    assert verify_webhook(SECRET, headers, body) == headers["webhook-id"]
    with pytest.raises(refused, match="signature"):
        verify_webhook(SECRET, headers, body.replace(b'"to":"exiting"', b'"to":"exited"'))
    with pytest.raises(refused, match="tolerance"):
        verify_webhook(SECRET, headers, body, now=stamp + 301)  # replayed six minutes later
    with pytest.raises(refused, match="signature"):  # a fresh timestamp without the secret to sign it
        verify_webhook(SECRET, {**headers, "webhook-timestamp": str(stamp + 200)}, body, now=stamp + 200)
    with pytest.raises(refused, match="signature"):
        verify_webhook("another-secret-of-enough-length", headers, body)
    with pytest.raises(refused, match="headers"):
        verify_webhook(SECRET, {k: v for k, v in headers.items() if k != "webhook-signature"}, body)
    # Tandem's signer and the documented verifier are separate code that agree.
    resigned = sign(SECRET, delivery_id=headers["webhook-id"], timestamp=stamp, body=body)
    assert resigned == headers["webhook-signature"]


def test_webhooks_are_not_held_by_quiet_hours_and_count_in_no_partner_budget(
    session: Session, http_receiver: HttpReceiver, smtp_settings: Callable[..., None]
) -> None:
    today = utcnow().isoweekday()
    smtp_settings(TANDEM_BUSINESS_DAYS=str(today % 7 + 1))  # no message to a person goes out today
    subscribe(session, http_receiver)
    (rel,) = exits(session, 1)
    partner = session.get(Contact, rel.partner_contact_id)
    queue_message(
        session, kind="welcome", context=f.welcome_context(), recipient=partner, relationship_id=rel.id
    )
    session.commit()
    http_receiver.fail_share = 1.0
    report = deliver_due()
    assert report.claimed == 1  # the person's message is not due before tomorrow; the webhook is
    failed = webhook_rows(session)[0]
    # Retried after its backoff alone, not at the next business day.
    assert failed.status == "failed" and failed.next_attempt_at - utcnow() < timedelta(minutes=2)
    assert (failed.recipient_id, failed.team, failed.not_before) == (None, None, None)


def _everything_stored(session: Session) -> str:
    """Return every row of every table as text."""
    session.expire_all()
    rows = []
    for table in SQLModel.metadata.sorted_tables:
        rows += [repr(tuple(r)) for r in session.connection().execute(table.select())]
    return "\n".join(rows)


def test_the_secret_and_the_url_token_appear_in_no_row_log_or_error(
    session: Session, http_receiver: HttpReceiver, caplog: pytest.LogCaptureFixture, tandem_env: str
) -> None:
    caplog.set_level(logging.DEBUG)
    subscribe(session, http_receiver, path="/hooks/TOKEN-7781")
    closed = HttpReceiver().start()  # then stopped: connection refused, an error naming the URL
    closed.stop()
    subscribe(session, closed, path="/gone/TOKEN-5519")
    http_receiver.fail_share = 1.0
    exits(session, 2)
    deliver_until_settled()
    stored = _everything_stored(session)
    errors = [m.last_error or "" for m in webhook_rows(session)]
    assert any("ConnectionError" in e for e in errors) and any("HTTP 503" in e for e in errors)
    for secret in (SECRET, "TOKEN-7781", "TOKEN-5519"):
        assert secret not in stored and secret not in caplog.text, secret
    if tandem_env.startswith("sqlite:///"):  # the database file itself, write-ahead log included
        path = Path(tandem_env.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert SECRET.encode() not in raw and b"TOKEN-7781" not in raw


def test_removing_a_webhook_cancels_what_it_has_not_received(
    session: Session, http_receiver: HttpReceiver
) -> None:
    kept = subscribe(session, http_receiver, path="/kept")
    gone = subscribe(session, http_receiver, path="/gone")
    exits(session, 2)
    with session_scope() as s:
        assert remove_subscription(s, gone.id, actor="test") == 2  # type: ignore[arg-type]
    exits(session, 1)  # after the removal: only the kept webhook hears of it
    deliver_until_settled()
    assert Counter(r.path for r in http_receiver.received) == {"/kept": 3}
    statuses = Counter((m.webhook_id, m.status) for m in webhook_rows(session))
    assert statuses == {(kept.id, "sent"): 3, (gone.id, "cancelled"): 2}
    assert session.get(WebhookSubscription, gone.id).removed_by == "test"  # type: ignore[union-attr]
