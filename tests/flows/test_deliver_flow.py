"""Flow `deliver-outbox` under the Prefect test harness: real servers, a Secret block, no secret leaks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlmodel import Session, select

from flows.deliver_outbox import deliver_outbox
from models.tables import Contact, OutboxMessage
from notifications.outbox import queue_message
from tests.support import factories as f
from tests.support.servers import HttpReceiver, SmtpServer

pytestmark = pytest.mark.prefect
SMTP_PASSWORD = "block-held-pw-5521"
TOKEN = "FLOWwebhookTOKEN77"


def artifacts(key: str) -> list[str]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return [str(a.data) for a in found]


def test_deliver_outbox_sends_everything_once_with_the_password_from_a_secret_block(
    prefect_server: None,
    session: Session,
    smtp_server: SmtpServer,
    smtp_settings: Callable[..., None],
    http_receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.stop()
    smtp_server.password = SMTP_PASSWORD
    smtp_server.start()
    Secret(value=SMTP_PASSWORD).save("tandem-smtp-test", overwrite=True)
    smtp_settings(
        TANDEM_SMTP_USER="tandem",
        TANDEM_SMTP_PASSWORD_BLOCK="tandem-smtp-test",
        TANDEM_APPRISE_CONFIG="/nonexistent/teams.yml",  # reported at start-up, the rest still goes out
        TANDEM_QUIET_HOURS_START="0",
        TANDEM_QUIET_HOURS_END="0",
        TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7",
    )
    http_receiver.fail_share = 0.2
    rel = f.relationship(session)
    # Our staff, not a partner: a partner gets one message a day, and this test sends 15 at once.
    chat = f.contact(session, "chat@example.org", channels=[f"json://127.0.0.1:{http_receiver.port}/in/{TOKEN}"])
    for n in range(15):
        for contact_id in (chat.id, rel.manager_id):
            context = {
                "partner_name": f"P{n}",
                "relationship_id": rel.id,
                "recipient_name": "x",
                "manager_name": "Ann",
                "manager_email": "ann@example.org",
            }
            queue_message(
                session,
                kind="welcome",
                context=context,
                recipient=session.get(Contact, contact_id),
                dedupe=str(n),
            )
    session.commit()

    result = deliver_outbox(limit=100, batch_size=8, max_workers=3)
    assert result["claimed"] == 30 and result["sent"] + result["failed"] == 30 and result["failed"] > 0
    assert len(smtp_server.messages) == 15 and smtp_server.logins[0] == "tandem"
    statuses = {m.status for m in session.exec(select(OutboxMessage))}
    assert statuses <= {"sent", "failed"}
    texts = artifacts("deliver-outbox")
    assert texts and "Outbox delivery" in texts[-1]
    assert result["problems"] == [
        "TANDEM_APPRISE_CONFIG /nonexistent/teams.yml: no such file; teams get no messages until it is fixed"
    ]
    assert "## Configuration problems" in texts[-1] and "/nonexistent/teams.yml: no such file" in texts[-1]
    for secret in (SMTP_PASSWORD, TOKEN):
        assert all(secret not in text for text in texts) and secret not in caplog.text
