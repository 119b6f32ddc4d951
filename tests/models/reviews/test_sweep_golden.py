"""The rows a sweep writes on a fixed seeded database stay exactly those of the committed snapshot.

The snapshot (`sweep_golden.json`) was made from main before the sweep's checklist planner and bulk
writes were shared with single generation (issue 17). Regenerate it only for a deliberate change:
`WRITE_SWEEP_GOLDEN=1 pytest tests/models/reviews/test_sweep_golden.py`.

Normalised because legitimately volatile: surrogate `id`s (replaced by the row's natural key where
another row points at them: a review by relationship and period, an item by its key), and the
timestamps the sweep stamps with the clock (`created_at`, `updated_at`, `completed_at`,
`generated_at`, an audit event's `at`, a reused item's `done_at`) when later than the seeded time.
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select as core_select
from sqlmodel import Session, SQLModel

from benchmarks.review_sweep import _contact, _insert, _seed_chunk
from models.checklists.library import load_library
from models.reviews.sweep import batches, due_relationship_ids, resolve_scope, review_batch
from models.tables import ChecklistItem, Contact, Partner, Relationship

GOLDEN = Path(__file__).with_name("sweep_golden.json")
SEEDED_AT = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)  # before any clock the test runs at
SCOPE = resolve_scope("2026Q4", date(2027, 1, 4))
WRITTEN = ("relationship", "review", "review_action", "risk", "checklist_item", "checklist_generation")


def _seed(session: Session) -> None:
    """Twenty-four relationships as the benchmark seeds them, team owners, and evidence to reuse."""
    connection = session.connection()
    staff = [_contact(i, f"rm{i}@ours.example.com", "ours", "manager", "en", SEEDED_AT) for i in range(1, 61)]
    for i, team in ((61, "legal"), (62, "finance,procurement")):
        staff.append(
            {**_contact(i, f"{team[:5]}@ours.example.com", "ours", "staff", "en", SEEDED_AT), "teams": team}
        )
    _insert(connection, Contact, staff)
    _seed_chunk(connection, range(1, 25), random.Random(44004), SEEDED_AT, Partner, Contact, Relationship)
    keys = sorted({i.evidence_key for i in load_library().items if i.evidence_key})
    given = [_evidence(n, key) for n in range(4, 25, 4) for key in keys]
    _insert(connection, ChecklistItem, given)
    session.commit()


def _evidence(rel: int, key: str) -> dict[str, Any]:
    return {
        "relationship_id": rel,
        "stage": "onboarding",
        "period": "",
        "item_key": f"given-{key}",
        "library_version": 1,
        "clause": "5.3",
        "owner_side": "partner",
        "owner_role": "partner_contact",
        "priority": "must",
        "required": True,
        "effort_minutes": 10,
        "asked_on": date(2025, 1, 2),
        "due_on": date(2025, 1, 16),
        "title": {"en": key},
        "reason": {},
        "evidence_key": key,
        "status": "done",
        "done_by": f"owner{rel}@p{rel}.example.com",
        "done_at": SEEDED_AT,
        "evidence": f"{key} on file",
        "reminders": 0,
        "created_at": SEEDED_AT,
        "updated_at": SEEDED_AT,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return "<clock>" if value > SEEDED_AT else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


def _snapshot(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Return every written table's rows as plain data, ids replaced by natural keys, sorted."""
    tables = SQLModel.metadata.tables
    rows = {name: [dict(r._mapping) for r in session.execute(core_select(tables[name]))] for name in WRITTEN}
    reviews = {r["id"]: f"{r['relationship_id']}/{r['period']}" for r in rows["review"]}
    items = {
        r["id"]: f"{r['relationship_id']}/{r['stage']}/{r['period']}/{r['item_key']}"
        for r in rows["checklist_item"]
    }
    for row in rows["review_action"]:
        row["review_id"] = reviews[row["review_id"]]
    for row in rows["checklist_item"]:
        row["reused_from_id"] = items.get(row["reused_from_id"])
    audit = [dict(r._mapping) for r in session.execute(core_select(tables["audit_event"]))]
    for row in audit:
        if row["entity"] == "review":
            row["entity_id"] = reviews[int(row["entity_id"])]
    rows["audit_event"] = audit
    out = {}
    for name, found in rows.items():
        plain = [{k: _plain(v) for k, v in row.items() if k != "id"} for row in found]
        out[name] = sorted(plain, key=lambda r: json.dumps(r, sort_keys=True, ensure_ascii=False))
    return out


def _lines(found: dict[str, list[dict[str, Any]]]) -> str:
    """Write one row a line, so a change shows as a readable diff."""
    tables = [
        f"{json.dumps(name)}: [\n"
        + ",\n".join(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows)
        + "\n]"
        for name, rows in sorted(found.items())
    ]
    return "{\n" + ",\n".join(tables) + "\n}\n"


def test_sweep_writes_the_rows_of_the_snapshot(session: Session) -> None:
    _seed(session)
    ids = due_relationship_ids(session, SCOPE)
    assert len(ids) == 24
    for group in batches(ids, 10):  # several batches: the plans cached across them are exercised
        review_batch(session, group, SCOPE)
        session.commit()
    found = json.loads(json.dumps(_snapshot(session), sort_keys=True, ensure_ascii=False))
    if os.environ.get("WRITE_SWEEP_GOLDEN"):
        GOLDEN.write_text(_lines(found), encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for name in expected:
        assert len(found[name]) == len(expected[name]), name
        for got, want in zip(found[name], expected[name], strict=True):
            assert got == want, name
