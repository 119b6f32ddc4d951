"""Flow `portfolio-report`: every relationship's health, trend, days-to-pay and flags, as a report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from models.core.vocabulary import Language
from tasks.review import portfolio_task


def _markdown(data: dict[str, Any], limit: int = 50) -> str:
    rows = sorted(data["relationships"], key=lambda r: (r["health"] is None, r["health"] or 0))[:limit]
    lines = [
        f"# Portfolio report ({data['as_of']})",
        "",
        f"{data['count']} relationships, {data['reviewed']} reviewed, average health {data['health_avg']}",
        "",
        "| relationship | tier | stage | health | trend | days to pay avg/worst | overdue | flags |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| #{r['id']} {r['partner']} | {r['tier'] or '-'} | {r['stage']} "
        f"| {r['health'] if r['health'] is not None else '-'} "
        f"| {r['trend'] or '-'} | {r['days_to_pay_avg'] if r['days_to_pay_avg'] is not None else '-'}"
        f"/{r['days_to_pay_worst'] if r['days_to_pay_worst'] is not None else '-'} | {r['overdue_items']} "
        f"| {'; '.join(r['key_person_flags'])} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


@flow(name="portfolio-report", log_prints=False)
def portfolio_report(
    out: Annotated[str | None, Field(description="Write the HTML report to this path.")] = None,
    as_of: Annotated[date | None, Field(description="Report as of this date (default: today).")] = None,
    language: Annotated[Language, Field(description="Language of the report.")] = "en",
) -> dict[str, Any]:
    """Build the portfolio report; the lowest-health relationships become a Markdown artifact."""
    data = portfolio_task(out, as_of, language)
    create_markdown_artifact(markdown=_markdown(data), key="portfolio-report", description="Portfolio report")
    get_run_logger().info("portfolio-report: %s relationship(s), written to %s", data["count"], out or "-")
    return {k: v for k, v in data.items() if k != "relationships"} | {"out": out}


if __name__ == "__main__":
    portfolio_report()
