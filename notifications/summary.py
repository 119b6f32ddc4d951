"""Markdown summaries of sweeps and delivery runs (for Prefect artifacts): counts and masked errors only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def sweep_markdown(report: Mapping[str, Any]) -> str:
    """Return a reminder sweep report as Markdown."""
    title = "Reminder sweep (dry run)" if report["dry_run"] else "Reminder sweep"
    lines = [
        f"# {title}",
        "",
        f"As of {report['as_of']}: {report['items']} due or overdue item(s), "
        f"{report['escalations']} escalation(s).",
        "",
    ]
    counts = [report[k] for k in ("queued", "already_queued", "not_today", "unreachable")]
    lines += _table(["queued", "already queued", "not on cadence today", "unreachable"], [counts])
    if report["digests"]:
        keys = ("recipient", "day", "items", "relationships", "status")
        lines += ["", *_table(keys, [[d[k] for k in keys] for d in report["digests"][:200]])]
    return "\n".join(lines) + "\n"


def delivery_markdown(report: Mapping[str, Any]) -> str:
    """Return a delivery run report as Markdown."""
    keys = (
        "claimed",
        "sent",
        "failed",
        "dead",
        "cancelled",
        "deferred",
        "lost",
        "targets_sent",
        "targets_failed",
        "targets_unknown",
    )
    lines = [
        "# Outbox delivery",
        "",
        *_table([k.replace("_", " ") for k in keys], [[report[k] for k in keys]]),
    ]
    if report["problems"]:
        lines += ["", "## Configuration problems", ""] + [f"- {_cell(p)}" for p in report["problems"]]
    if report["errors"]:
        lines += ["", "## Errors (masked)", ""] + [f"- {_cell(e)}" for e in report["errors"]]
    return "\n".join(lines) + "\n"
