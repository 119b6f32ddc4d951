"""Outbound email takes slots from the global rate limit that `tandem deploy` creates."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from sqlmodel import Session

from flows.deliver_outbox import deliver_outbox
from models.tables import Contact
from notifications.outbox import queue_message
from tasks.notify import EMAIL_RATE_LIMIT
from tests.support import factories as f
from tests.support.servers import SmtpServer

pytestmark = pytest.mark.prefect


def test_every_email_is_counted_against_the_shared_limit(
    prefect_server: None, session: Session, smtp_server: SmtpServer, smtp_settings: Callable[..., None]
) -> None:
    smtp_settings(
        TANDEM_QUIET_HOURS_START="0", TANDEM_QUIET_HOURS_END="0", TANDEM_BUSINESS_DAYS="1,2,3,4,5,6,7"
    )
    with get_client(sync_client=True) as client:
        # A large bucket that refills very slowly: the slots taken stay visible after the pass.
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=EMAIL_RATE_LIMIT, limit=1000, slot_decay_per_second=0.001)
        )
    try:
        rel = f.relationship(session)
        manager = session.get(Contact, rel.manager_id)
        for n in range(15):
            context = {
                "partner_name": f"P{n}",
                "relationship_id": rel.id,
                "recipient_name": "x",
                "manager_name": "Ann",
                "manager_email": "ann@example.org",
            }
            queue_message(session, kind="welcome", context=context, recipient=manager, dedupe=str(n))
        session.commit()
        result = deliver_outbox(limit=100, batch_size=100, max_workers=2)
        assert result["sent"] == 15 and len(smtp_server.messages) == 15
        with get_client(sync_client=True) as client:
            taken = client.read_global_concurrency_limit_by_name(EMAIL_RATE_LIMIT).active_slots
        assert taken == 20  # two chunks of ten slots for fifteen emails
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(EMAIL_RATE_LIMIT)
