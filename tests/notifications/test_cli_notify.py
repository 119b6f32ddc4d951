"""`tandem remind`, `tandem outbox list/retry` and `tandem notify test`, driven as a user would."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta

from sqlmodel import Session, select
from typer.testing import CliRunner

from deployments.cli import app
from models.tables import MessageStatus, OutboxMessage
from tests.support import factories as f
from tests.support.servers import HttpReceiver, SmtpServer

runner = CliRunner()


def tandem(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_remind_dry_run_then_for_real_then_again(
    session: Session, smtp_settings: Callable[..., None]
) -> None:
    rel = f.relationship(session)
    f.item(session, rel, due_on=date(2026, 3, 2) + timedelta(days=1))
    session.commit()
    code, out = tandem("remind", "--as-of", "2026-03-02T10:00", "--dry-run")
    assert code == 0 and "would queue 1 digest" in out, out
    assert session.exec(select(OutboxMessage)).first() is None
    code, out = tandem("remind", "--as-of", "2026-03-02T10:00", "--json")
    assert code == 0 and json.loads(out)["queued"] == 1
    code, out = tandem("remind", "--as-of", "2026-03-02T11:00", "--json")
    assert code == 0 and json.loads(out)["already_queued"] == 1
    code, out = tandem("remind", "--as-of", "yesterday")
    assert code == 1 and "--as-of" in out


def test_outbox_list_and_retry(session: Session, smtp_settings: Callable[..., None]) -> None:
    rel = f.relationship(session)
    f.item(session, rel, due_on=date(2026, 3, 3))
    session.commit()
    assert tandem("remind", "--as-of", "2026-03-02T10:00")[0] == 0
    code, out = tandem("outbox", "list", "--status", "queued", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 1 and "body_text" not in rows[0] and "key" not in rows[0]
    message_id = rows[0]["id"]
    assert json.loads(tandem("outbox", "list", "--status", "dead", "--json")[1]) == []
    code, out = tandem("outbox", "retry", str(message_id))
    assert code == 1 and "only dead or failed" in out
    message = session.get(OutboxMessage, message_id)
    message.status = MessageStatus.dead.value  # type: ignore[union-attr]
    session.commit()
    code, out = tandem("outbox", "retry", str(message_id))
    assert code == 0 and "queued again" in out
    assert tandem("outbox", "retry", "999")[0] == 1
    assert tandem("outbox", "list", "--status", "bogus")[0] == 2
    code, out = tandem("outbox", "list")
    assert code == 0 and "Item" in out


def test_notify_test_sends_to_every_channel_now(
    session: Session, smtp_server: SmtpServer, smtp_settings: Callable[..., None], http_receiver: HttpReceiver
) -> None:
    hook = f"json://127.0.0.1:{http_receiver.port}/hook/TOKEN123456"
    rel = f.relationship(session, partner_channels=[hook])
    session.commit()
    partner = session.get(f.Contact, rel.partner_contact_id)
    code, out = tandem("notify", "test", partner.email, "--json")  # type: ignore[union-attr]
    assert code == 0, out
    result = json.loads(out)
    assert [d["status"] for d in result["deliveries"]] == ["sent"] and "TOKEN123456" not in out
    assert http_receiver.bodies()[0]["title"] == "Tandem 测试消息"
    manager = session.get(f.Contact, rel.manager_id)
    code, out = tandem("notify", "test", manager.email)  # type: ignore[union-attr]
    assert code == 0 and "sent" in out and smtp_server.subjects() == ["Tandem test message"]
    smtp_server.stop()
    code, out = tandem("notify", "test", manager.email)  # type: ignore[union-attr]
    assert code == 1 and "failed" in out
    assert tandem("notify", "test", "nobody@example.org")[0] == 1
