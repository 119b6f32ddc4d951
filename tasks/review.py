"""Review sweep tasks: thin Prefect wrappers over notifications/review_publishing.py (one batch per task)."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from models.core.db import ensure_schema, session_scope
from models.reviews.sweep import due_relationship_ids, resolve_scope
from notifications.review_publishing import BatchReport, announce, run_batch, write_portfolio
from tasks.retries import unless_refused


@task(
    name="announce-reviews", retries=2, retry_delay_seconds=[2, 10],
    retry_condition_fn=unless_refused,
    cache_policy=NO_CACHE,
)
def announce_task(period: str) -> int:
    """Queue the managers' and sponsors' summaries of the period's new reviews; return how many."""
    with session_scope() as session:
        return announce(session, period)


@task(
    name="find-due-reviews", retries=2, retry_delay_seconds=[2, 10],
    retry_condition_fn=unless_refused,
    cache_policy=NO_CACHE,
)
def find_due(period: str | None, as_of: date | None) -> tuple[str, date, list[int]]:
    """Return the period, the as-of date and the relationships whose review is due."""
    ensure_schema()
    scope = resolve_scope(period, as_of)
    with session_scope() as session:
        ids = due_relationship_ids(session, scope)
    return scope.period.name, scope.as_of, ids


# Idempotent (keys and upserts), so a retry after a lock timeout or deadlock is safe; NO_CACHE: every
# call must run, since a batch's result depends on the database, not on its inputs.
@task(
    name="review-batch", retries=2, retry_delay_seconds=[1, 5],
    retry_condition_fn=unless_refused,
    cache_policy=NO_CACHE,
)
def review_batch_task(relationship_ids: list[int], period: str, as_of: date) -> BatchReport:
    """Review one batch of relationships for a period and return what it did."""
    report = run_batch(relationship_ids, resolve_scope(period, as_of))
    get_run_logger().info(
        "reviewed %s relationship(s), %s escalated, %s message(s)",
        report.reviewed,
        report.escalated,
        report.messages,
    )
    return report.measured()


@task(
    name="portfolio-report", retries=1, retry_delay_seconds=[5],
    retry_condition_fn=unless_refused,
    cache_policy=NO_CACHE,
)
def portfolio_task(out: str | None, as_of: date | None, language: str) -> dict[str, Any]:
    """Compute the portfolio report (and write its HTML file if asked)."""
    return write_portfolio(out, as_of=as_of, language=language)
