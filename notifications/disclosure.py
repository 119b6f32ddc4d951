"""The annual disclosure report rendered: HTML (en, zh-CN) and a spreadsheet-safe CSV of the same figures."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

from models.core.data import load_yaml
from models.core.settings import LANGUAGES
from notifications.render import render

# A cell a spreadsheet would read as a formula (OWASP "CSV injection"): quote it as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@lru_cache(maxsize=1)
def labels() -> dict[str, dict[str, Any]]:
    """Load the report's words per language, refusing a language that lacks a key another has."""
    text = (resources.files("notifications") / "disclosure_labels.yaml").read_text(encoding="utf-8")
    data: dict[str, dict[str, Any]] = load_yaml(text)
    shape = _keys(data[LANGUAGES[0]])
    for lang in LANGUAGES:
        if _keys(data[lang]) != shape:
            raise ValueError(
                f"disclosure_labels.yaml: {lang} differs in keys: {sorted(_keys(data[lang]) ^ shape)}"
            )
    return data


def _keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in tree.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= _keys(value, f"{prefix}{key}.")
    return out


def disclosure_html(data: dict[str, Any], *, language: str) -> str:
    """Render the disclosure report as one HTML page."""
    return render("documents/sme_payments.html.j2", {**data, "lang": language, "t": labels()[language]})


def safe_cell(value: object) -> str:
    """Return a value as CSV text a spreadsheet will show, never run: formulas are neutralized."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def disclosure_csv(data: dict[str, Any], *, language: str) -> str:
    """Return the report as CSV: a total row per law, then one row per invoice it sums (UTF-8 with BOM)."""
    t = labels()[language]
    columns = list(t["columns"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(t["columns"][c]) for c in columns])
    for section in data["sections"]:
        writer.writerows(_safe(row) for row in _section_rows(section, columns, t, language))
    return "\ufeff" + out.getvalue()  # the BOM makes Excel read UTF-8 (Chinese names)


def _safe(row: Iterable[object]) -> list[str]:
    return [safe_cell(v) for v in row]


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
