"""`tandem remind`, `tandem outbox list/retry/deliver` and `tandem notify test`, driven as a user would."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sqlmodel import Session, select
from typer.testing import CliRunner

from deployments.cli import app
from deployments.cli import notify as cli_notify
from models.core.base import utcnow
from models.tables import MessageStatus, OutboxMessage
from notifications.delivery import deliver_due
from notifications.outbox import queue_message
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


def write_team_config(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = time.time() + 1  # a new version of the file, even within the same clock tick
    os.utime(path, (stamp, stamp))


def test_outbox_deliver_sends_what_is_due_once_and_reports_a_broken_team_config(
    session: Session,
    smtp_server: SmtpServer,
    smtp_settings: Callable[..., None],
    http_receiver: HttpReceiver,
    tmp_path: Path,
) -> None:
    config = tmp_path / "teams.yml"
    hook = f"json://127.0.0.1:{http_receiver.port}/team/TEAMtoken9931"
    write_team_config(config, f"urls:\n  - {hook}:\n      tag: finance\n")
    smtp_settings(
        TANDEM_APPRISE_CONFIG=str(config),
        TANDEM_QUIET_HOURS_START="0",
        TANDEM_QUIET_HOURS_END="0",
        TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7",
    )
    rel = f.relationship(session)
    context = {"partner_name": "P", "relationship_id": rel.id, "recipient_name": "x"}
    context |= {"manager_name": "Ann", "manager_email": "ann@example.org"}
    for contact_id in (rel.manager_id, rel.sponsor_id):
        queue_message(session, kind="welcome", context=context, recipient=session.get(f.Contact, contact_id))
    session.commit()
    code, out = tandem("outbox", "deliver", "--json")
    report = json.loads(out)
    assert code == 0 and (report["claimed"], report["sent"], report["problems"]) == (2, 2, []), out
    code, out = tandem("outbox", "deliver")
    assert code == 0 and out.startswith("0 claimed") and len(smtp_server.messages) == 2

    team = queue_message(session, kind="welcome", context=context, team="finance")
    assert team is not None
    session.commit()
    write_team_config(config, f"urls:\n  - {hook}:\n    tag: [finance\n")  # broken YAML
    code, out = tandem("outbox", "deliver")
    assert code == 1 and "not valid YAML" in out and "TEAMtoken9931" not in out, out
    session.refresh(team)
    assert team.status == "failed" and "not valid YAML" in (team.last_error or "")
    write_team_config(config, f"urls:\n  - {hook}:\n      tag: finance\n")
    assert deliver_due(now=utcnow() + timedelta(minutes=5)).sent == 1
    assert len(http_receiver.received) == 1


def test_outbox_deliver_and_its_modules_import_no_prefect() -> None:
    probe = (
        "import sys, notifications.delivery, tasks.secrets;"
        "from tasks.secrets import smtp_password; smtp_password();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert found.stdout.strip() == "[]", found.stdout
    tree = ast.parse(Path(cli_notify.__file__).read_text(encoding="utf-8"))
    imported = [node.module or "" for node in tree.body if isinstance(node, ast.ImportFrom)] + [
        alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names
    ]
    assert not [m for m in imported if m.split(".")[0] in ("prefect", "flows") or m == "tasks.notify"]
