"""Prefect tasks for reminders and delivery: thin wrappers over notifications' plain functions."""

from __future__ import annotations

import threading
from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import rate_limit

from models.core.db import ensure_schema, session_scope
from notifications.delivery import DeliveryReport, deliver_due
from notifications.reminders import SweepReport, sweep
from tasks.retries import unless_refused
from tasks.secrets import smtp_password


# The sweep is idempotent (outbox keys), so Prefect may retry it; NO_CACHE: every call must run.
@task(
    name="sweep-reminders", retries=2, retry_delay_seconds=[5, 30],
    retry_condition_fn=unless_refused,
    cache_policy=NO_CACHE,
)
def sweep_reminders(as_of: datetime | None, dry_run: bool) -> SweepReport:
    """Sweep due items and queue today's digests; return the sweep report."""
    ensure_schema()
    with session_scope() as session:
        report = sweep(session, as_of=as_of, dry_run=dry_run)
    get_run_logger().info(
        "swept %s due item(s): %s digest(s) queued, %s already queued, %s not on cadence today",
        report.items,
        report.queued,
        report.already_queued,
        report.not_today,
    )
    return report


# No Prefect retries: the outbox owns retries and backoff per message.
@task(name="deliver-batch", cache_policy=NO_CACHE)
def deliver_batch(limit: int, max_workers: int, per_minute: int | None) -> DeliveryReport:
    """Claim and deliver one batch of due outbox messages; return the batch report."""
    ensure_schema()
    return deliver_due(
        limit=limit,
        max_workers=max_workers,
        per_minute=per_minute,
        smtp_password=smtp_password(),
        before_email=EmailAllowance(),
    )


EMAIL_RATE_LIMIT = "tandem-email-rate"


class EmailAllowance:
    """Take email slots from the global rate limit `tandem deploy` creates, shared by every worker.

    Slots are taken a chunk at a time because each acquisition costs 0.1-0.25 s; without the
    limit (no `tandem deploy` yet) `strict=False` lets sends through at once.
    """

    def __init__(self, chunk: int = 10) -> None:
        self.chunk = chunk
        self.left = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            if self.left == 0:
                rate_limit(EMAIL_RATE_LIMIT, occupy=self.chunk, strict=False)
                self.left = self.chunk
            self.left -= 1
