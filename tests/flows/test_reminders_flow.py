"""Flow `send-reminders` under the Prefect test harness: queues once, dry run queues nothing, artifact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlmodel import Session, select

from flows.send_reminders import send_reminders
from models.tables import OutboxMessage
from tests.support import factories as f

pytestmark = pytest.mark.prefect
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def latest_artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return str(sorted(artifacts, key=lambda a: a.created)[-1].data)


def test_send_reminders_queues_once_and_reports(
    prefect_server: None, session: Session, smtp_settings: Callable[..., None]
) -> None:
    alpha = f.relationship(session, partner_name="Alpha", tier="enhanced")
    f.item(session, alpha, due_on=date(2026, 3, 1), owner_role="partner_contact")
    f.item(session, alpha, due_on=date(2026, 3, 3))
    f.item(session, alpha, due_on=date(2026, 2, 20), owner_role="partner_contact")  # 10 days: to the sponsor
    session.commit()

    dry = send_reminders(as_of=MONDAY, dry_run=True)
    assert dry["dry_run"] and len(dry["digests"]) == 4 and session.exec(select(OutboxMessage)).first() is None
    assert "Reminder sweep (dry run)" in latest_artifact("send-reminders")

    first = send_reminders(as_of=MONDAY)
    again = send_reminders(as_of=MONDAY + timedelta(hours=2))
    assert first["queued"] == 4 and first["escalations"] == 2
    assert again["queued"] == 0 and again["already_queued"] == 4
    assert len(session.exec(select(OutboxMessage)).all()) == 4
    artifact = latest_artifact("send-reminders")
    assert "| 0 | 4 | 0 | 0 |" in artifact and "already queued" in artifact
