"""The annual disclosure report rendered: HTML (en, zh-CN) and a spreadsheet-safe CSV of the same figures."""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

from models.core.csvfiles import write_csv
from models.core.data import load_words
from notifications.render import render


@lru_cache(maxsize=1)
def labels() -> dict[str, dict[str, Any]]:
    """Load the report's words per language, refusing a language that lacks a key another has."""
    return load_words("disclosure_labels.yaml", package="notifications")


def disclosure_html(data: dict[str, Any], *, language: str) -> str:
    """Render the disclosure report as one HTML page."""
    return render("documents/sme_payments.html.j2", {**data, "lang": language, "t": labels()[language]})


def disclosure_csv(data: dict[str, Any], *, language: str) -> str:
    """Return the report as CSV: a total row per law, then one row per invoice it sums (UTF-8 with BOM)."""
    t = labels()[language]
    columns = list(t["columns"])
    rows = [row for section in data["sections"] for row in _section_rows(section, columns, t, language)]
    out = io.StringIO()
    out.write("\ufeff")  # the BOM makes Excel read UTF-8 (Chinese names)
    write_csv(out, [t["columns"][c] for c in columns], rows)  # formula-safe, as every CSV Tandem writes
    return out.getvalue()


def _money(items: list[dict[str, str]]) -> str:
    return "; ".join(f"{i['amount']} {i['currency']}" for i in items)


def _section_rows(
    section: dict[str, Any], columns: list[str], t: dict[str, Any], language: str
) -> list[list[object]]:
    name = section["name"].get(language, section["law"]) if section["name"] else section["law"]
    total: dict[str, object] = {
        "row": t["row_kinds"]["total"],
        "section": name,
        "contracts": section["contracts_overdue"],
        "invoices": section["invoices_overdue"],
        "days_late": section["longest_days_late"] if section["longest_days_late"] is not None else "",
        "overdue": _money(section["overdue"]),
        "interest": _money(section["interest"]),
        "fee": _money(section["fees"]),
    }
    rows = [[total.get(c, "") for c in columns]]
    for r in section["invoices"]:
        values = {
            **r,
            "row": t["row_kinds"]["invoice"],
            "section": name,
            "relationship": r["relationship_key"],
            "started_by": t["started_by"].get(r["started_by"], r["started_by"]),
            "size_class": t["size_classes"].get(r["size_class"], r["size_class"]),
            "interest": _money(r["interest"]),
            "fee": _money(r["fee"]),
        }
        rows.append([values.get(c) if values.get(c) is not None else "" for c in columns])
    return rows
