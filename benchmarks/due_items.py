"""Benchmark: select the due items among N checklist items on SQLite; print one JSON line.

Run: python -m benchmarks.due_items --items 1000000
Target (issue 5): under 1 second for the selection the reminder sweep runs (open items due by the horizon,
in live relationships). The database is built with raw executemany inserts; building is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Date, Float, Integer, Table
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import JSON

ITEMS_PER_RELATIONSHIP = 100
OPEN_SHARE = 0.15


def _defaults(table: Table, now: str, today: str) -> list[Any]:
    """Return one value per column: the column default, else a type-shaped value (None if nullable)."""
    row: list[Any] = []
    for column in table.columns:
        kind = column.type
        if column.name == "id" or column.nullable:
            row.append(None)
        elif isinstance(column.default, ScalarElementColumnDefault):
            row.append(column.default.arg)
        elif isinstance(kind, JSON):
            row.append("{}")
        elif isinstance(kind, Date):
            row.append(today)
        elif isinstance(kind, (Integer, Float, Boolean)):
            row.append(0)
        else:
            row.append(now if "Date" in type(kind).__name__ else "")
    return row


def _filler(table: Table, now: str, today: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """Return a fast row builder: defaults computed once, given values placed by column position."""
    base = _defaults(table, now, today)
    position = {c.name: i for i, c in enumerate(table.columns)}

    def fill(values: Mapping[str, Any]) -> tuple[Any, ...]:
        row = base.copy()
        for name, value in values.items():
            row[position[name]] = value
        return tuple(row)

    return fill


def _insert(connection: sqlite3.Connection, table: Table, rows: Iterator[tuple[Any, ...]]) -> None:
    marks = ", ".join("?" for _ in table.columns)
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    connection.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)


def build(path: str, items: int, today: date) -> None:
    """Create the schema (real migrations) and fill it with partners, contacts, relationships, items."""
    from models.core.db import table_of, upgrade_schema
    from models.tables import ChecklistItem, Contact, Partner, Relationship

    upgrade_schema()
    now, day = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), today.isoformat()
    relationships = max(1, items // ITEMS_PER_RELATIONSHIP)
    rng = random.Random(44004)
    tables = {t: table_of(t) for t in (Partner, Contact, Relationship, ChecklistItem)}
    fill = {t: _filler(table, now, day) for t, table in tables.items()}
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    _insert(
        connection,
        tables[Partner],
        (
            fill[Partner](
                {
                    "id": r + 1,
                    "legal_name": f"Partner {r}",
                    "registration_id": f"R{r}",
                    "country": "CN",
                    "industry": "software_it",
                    "currency": "CNY",
                    "preferred_language": "zh-CN",
                }
            )
            for r in range(relationships)
        ),
    )
    _insert(
        connection,
        tables[Contact],
        (
            fill[Contact](
                {
                    "id": c + 1,
                    "email": f"c{c}@example.org",
                    "side": "ours" if c % 4 < 3 else "partner",
                    "language": "en",
                    "channels_masked": "[]",
                }
            )
            for c in range(relationships * 4)
        ),
    )
    tiers = ("light", "standard", "enhanced")
    _insert(
        connection,
        tables[Relationship],
        (
            fill[Relationship](
                {
                    "id": r + 1,
                    "key": f"rel-{r}",
                    "partner_id": r + 1,
                    "manager_id": 4 * r + 1,
                    "deputy_id": 4 * r + 2,
                    "sponsor_id": 4 * r + 3,
                    "partner_contact_id": 4 * r + 4,
                    "stage": "exited" if r % 20 == 0 else "active",
                    "tier": tiers[r % 3],
                    "size_class": "small",
                    "size_scheme": "CN-2011-300",
                }
            )
            for r in range(relationships)
        ),
    )

    def items_rows() -> Iterator[tuple[Any, ...]]:
        roles = ("manager", "partner_contact", "team:finance", "deputy")
        for n in range(items):
            is_open = rng.random() < OPEN_SHARE
            # Closed items lie in the past; open ones from a month overdue to a year ahead.
            offset = rng.randint(-30, 335) if is_open else rng.randint(-700, -1)
            yield fill[ChecklistItem](
                {
                    "id": n + 1,
                    "relationship_id": n // ITEMS_PER_RELATIONSHIP + 1,
                    "stage": "active",
                    "period": "",
                    "item_key": f"item-{n % ITEMS_PER_RELATIONSHIP}",
                    "clause": "5.1",
                    "owner_side": "ours",
                    "owner_role": roles[n % 4],
                    "priority": "normal",
                    "due_on": (today + timedelta(days=offset)).isoformat(),
                    "title": json.dumps({"en": f"Item {n}", "zh-CN": f"事项 {n}"}),
                    "status": "open" if is_open else "done",
                }
            )

    _insert(connection, tables[ChecklistItem], items_rows())
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()


def main() -> None:
    """Build N items, then time the sweep's selection (and, for reference, the whole digest plan)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as home:
        path = f"{home}/due.db"
        os.environ.update({"TANDEM_HOME": home, "TANDEM_DATABASE_URL": f"sqlite:///{path}"})
        today = date(2026, 3, 2)
        started = time.perf_counter()
        build(path, args.items, today)
        build_seconds = time.perf_counter() - started

        from models.core.db import session_scope
        from notifications.reminders import due_item_rows, plan_reminders
        from notifications.rules import load_rules

        horizon = today + timedelta(days=max(t.due_soon_days for t in load_rules().tiers.values()) + 1)
        timings, rows = [], 0
        for _ in range(3):  # the first run reads the file cold from the page cache
            with session_scope() as session:
                started = time.perf_counter()
                rows = len(due_item_rows(session, horizon=horizon))
                timings.append(time.perf_counter() - started)
        with session_scope() as session:
            started = time.perf_counter()
            planner = plan_reminders(session, datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
            plan_seconds = time.perf_counter() - started
    result = {
        "benchmark": "due_items",
        "items": args.items,
        "due_rows": rows,
        "select_seconds_first": round(timings[0], 3),
        "select_seconds_best": round(min(timings), 3),
        "plan_seconds": round(plan_seconds, 3),
        "digests": len(planner.digests),
        "build_seconds": round(build_seconds, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
