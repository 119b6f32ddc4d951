"""Flow `send-reminders`: sweep due and overdue checklist items and queue one digest per recipient per day."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from notifications.summary import sweep_markdown
from tasks.notify import sweep_reminders


@flow(name="send-reminders", log_prints=False)
def send_reminders(
    as_of: Annotated[datetime | None, Field(description="Sweep as of this instant (default: now).")] = None,
    dry_run: Annotated[bool, Field(description="Plan the digests without queueing anything.")] = False,
) -> dict[str, Any]:
    """Queue today's reminder digests; rerunning queues nothing twice."""
    logger = get_run_logger()
    report = sweep_reminders(as_of, dry_run)
    logger.info("send-reminders: %s queued, %s already queued", report.queued, report.already_queued)
    create_markdown_artifact(
        markdown=sweep_markdown(report.as_dict()), key="send-reminders", description="Reminder sweep summary"
    )
    return report.as_dict()


if __name__ == "__main__":
    send_reminders()
