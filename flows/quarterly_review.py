"""Flow `quarterly-review`: review every relationship that is due, a batch of relationships per task."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ProcessPoolTaskRunner
from pydantic import Field

from models.core.settings import get_settings
from models.reviews.sweep import batches
from notifications.review_publishing import BatchReport, pack_markdown
from tasks.review import announce_task, find_due, review_batch_task


def _summary_markdown(period: str, as_of: date, totals: dict[str, int], worst: list[dict[str, Any]]) -> str:
    lines = [
        f"# Quarterly review {period} (as of {as_of})",
        "",
        f"- relationships reviewed: {totals['reviewed']}",
        f"- escalated to a sponsor: {totals['escalated']}",
        f"- messages queued: {totals['messages']}",
        "",
        "| relationship | partner | health | trend | actions |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {w['relationship_id']} | {w['partner']} | {w['health'] if w['health'] is not None else '-'} "
        f"| {w['trend']} | {w['actions']} |"
        for w in worst
    ]
    return "\n".join(lines) + "\n"


PROGRESS_SECONDS = 2.0


def _attention(row: dict[str, Any]) -> tuple[bool, int, int]:
    """Order reviews lowest health first (unscored last), then by relationship, whatever batch ends first."""
    return (row["health"] is None, row["health"] or 0, row["relationship_id"])


@flow(name="quarterly-review", log_prints=False)
def quarterly_review(
    period: Annotated[
        str | None, Field(description="Quarter to review, like 2026Q4 (default: the last complete one).")
    ] = None,
    as_of: Annotated[date | None, Field(description="Measure KPIs as of this date (default: today).")] = None,
    batch_size: Annotated[int, Field(ge=1, le=2000, description="Relationships per task.")] = 500,
    pack_artifacts: Annotated[
        int, Field(ge=0, le=25, description="Review packs also published as artifacts, lowest health first.")
    ] = 10,
    workers: Annotated[
        int, Field(ge=1, le=16, description="Processes reviewing batches at once (1: in the flow's process).")
    ] = 1,
) -> dict[str, Any]:
    """Review every due relationship; rerunning after a crash finishes the rest without duplicates."""
    logger = get_run_logger()
    name, day, due = find_due(period, as_of)
    groups = batches(due, batch_size)
    logger.info(
        "quarterly-review %s as of %s: %s relationship(s) due in %s batch(es)",
        name,
        day,
        len(due),
        len(groups),
    )
    progress = create_progress_artifact(
        0.0, key=f"quarterly-review-{name.lower()}", description=f"Reviews of {name} done (%)"
    )
    assert isinstance(progress, UUID)  # a sync flow gets the id; Prefect's hint also names the async form
    totals = {"reviewed": 0, "escalated": 0, "messages": 0}
    worst: list[dict[str, Any]] = []
    peak = 0.0
    shown = time.monotonic()
    for index, report in enumerate(_run_batches(groups, name, day, workers), start=1):
        for key in totals:
            totals[key] += getattr(report, key)
        peak = max(peak, report.peak_rss_mb)
        worst = sorted(worst + report.worst, key=_attention)[:25]
        # Each update is a round trip to the Prefect server: at most one every PROGRESS_SECONDS.
        if index == len(groups) or time.monotonic() - shown >= PROGRESS_SECONDS:
            update_progress_artifact(progress, 100.0 * index / len(groups))
            shown = time.monotonic()
    if not groups:
        update_progress_artifact(progress, 100.0)
    totals["messages"] += announce_task(name)
    _publish_artifacts(name, day, totals, worst, pack_artifacts)
    logger.info(
        "quarterly-review %s: %s reviewed, %s escalated", name, totals["reviewed"], totals["escalated"]
    )
    return {"period": name, "as_of": day.isoformat(), "due": len(due), **totals, "batch_peak_rss_mb": peak}


def _run_batches(groups: list[list[int]], period: str, as_of: date, workers: int) -> Iterator[BatchReport]:
    """Yield each batch's report as it finishes: in this process, or in a pool of worker processes.

    A batch computes and renders from reads, then writes in one short transaction, so batches in
    several processes overlap their computing (SQLite still has one writer at a time). In one
    process they run one after the other: two threads measured no faster, since the computing holds
    Python's interpreter lock. If a batch fails, the others still finish and the first failure is
    raised: a rerun does the rest.
    """
    if workers == 1 or len(groups) < 2:
        for group in groups:
            yield review_batch_task(group, period, as_of)
        return
    with ProcessPoolTaskRunner(max_workers=min(workers, len(groups))) as runner:
        futures: list[PrefectFuture[BatchReport]] = [
            runner.submit(review_batch_task, {"relationship_ids": g, "period": period, "as_of": as_of})
            for g in groups
        ]
        failed: BaseException | None = None
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - raised below, once every batch has ended
                failed = failed or exc
        if failed is not None:
            raise failed


def _publish_artifacts(
    period: str, as_of: date, totals: dict[str, int], worst: list[dict[str, Any]], packs: int
) -> None:
    """Publish the sweep summary, and the packs of the relationships needing most attention."""
    create_markdown_artifact(
        markdown=_summary_markdown(period, as_of, totals, worst),
        key=f"quarterly-review-summary-{period.lower()}",
        description=f"Quarterly review {period}",
    )
    if worst:
        create_table_artifact(table=worst, key=f"quarterly-review-worst-{period.lower()}")
    language = get_settings().default_language
    for row in worst[:packs]:
        markdown = pack_markdown(row["relationship_id"], period, language)
        if markdown:
            create_markdown_artifact(
                markdown=markdown,
                key=f"review-pack-{row['relationship_id']}-{period.lower()}",
                description=f"Review pack {period}: {row['partner']}",
            )


if __name__ == "__main__":
    quarterly_review()
