"""Flow `deliver-outbox`: deliver due outbox messages in batches, with bounded concurrency and rate limits."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from notifications.delivery import DeliveryReport, deliver_batches, delivery_problems
from notifications.summary import delivery_markdown
from tasks.notify import deliver_batch


@flow(name="deliver-outbox", log_prints=False)
def deliver_outbox(
    limit: Annotated[int, Field(ge=1, description="Most messages to claim in this run.")] = 5000,
    batch_size: Annotated[int, Field(ge=1, le=5000, description="Messages claimed per task.")] = 200,
    max_workers: Annotated[int, Field(ge=1, le=32, description="Sends in flight at once.")] = 4,
    per_channel_per_minute: Annotated[
        int | None, Field(ge=0, description="Sends a minute per channel target; default: vendor limits.")
    ] = None,
) -> dict[str, Any]:
    """Deliver what is due, one task per batch, until nothing is due or the limit is reached."""
    logger = get_run_logger()
    problems = delivery_problems()
    for problem in problems:
        logger.error("configuration problem: %s", problem)
    total = DeliveryReport(problems=problems)

    def run_batch(size: int) -> DeliveryReport:
        part = deliver_batch(size, max_workers, per_channel_per_minute)
        logger.info(
            "deliver-outbox: batch of %s claimed, %s sent, %s failed", part.claimed, part.sent, part.failed
        )
        return part

    total.add(deliver_batches(run_batch, limit=limit, batch_size=batch_size))
    create_markdown_artifact(
        markdown=delivery_markdown(total.as_dict()),
        key="deliver-outbox",
        description="Outbox delivery summary",
    )
    return total.as_dict()


if __name__ == "__main__":
    deliver_outbox()
