"""`tandem export audit|evidence-pack` and `tandem api-token`, driven as a user would."""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from datetime import date
from pathlib import Path

from sqlmodel import Session, select
from typer.testing import CliRunner

from deployments.cli import app
from models.core import audit
from models.core.calendar import today_local
from models.reviews.sweep import due_relationship_ids, resolve_scope, review_batch
from models.tables import ApiToken, Document
from tests.models.reviews.review_data import active_relationship, all_principles, invoice, scores

runner = CliRunner()
TODAY = today_local().isoformat()


def tandem(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_audit_export_neutralizes_formulas_in_csv_and_writes_parseable_jsonl(
    session: Session, tmp_path: Path
) -> None:
    rel = active_relationship(session)
    evil = '=HYPERLINK("http://evil.example","x")'
    audit.record(
        session, actor="api:erp", action="payment.imported", entity="payment", entity_id="api",
        relationship_id=rel.id, reason=evil, data={"method": "api"},
    )  # fmt: skip
    audit.record(session, actor="@sum(1)", action="note", entity="x", entity_id="1", data={"n": "+1"})
    session.commit()
    out = tmp_path / "audit.csv"
    code, said = tandem("export", "audit", "--from", TODAY, "--to", TODAY, "--out", str(out))
    assert code == 0, said
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    mine = next(r for r in rows if r["action"] == "payment.imported")
    assert mine["reason"].startswith("'=") and mine["actor"] == "api:erp" and mine["method"] == "api"
    assert next(r for r in rows if r["action"] == "note")["actor"] == "'@sum(1)"
    code, said = tandem("export", "audit", "--from", TODAY, "--to", TODAY, "--relationship", str(rel.id),
                        "--format", "jsonl", "--out", str(tmp_path / "a.jsonl"))  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    assert code == 0 and lines and all(e["relationship_id"] == rel.id for e in lines)
    assert any((e["reason"] or "").startswith("=HYPERLINK") for e in lines)  # JSON keeps the value as it is
    code, said = tandem("export", "audit", "--from", TODAY, "--to", "2000-01-01", "--out", str(out))
    assert code == 1 and "--to" in said and "Traceback" not in said


def test_evidence_pack_has_map_charter_review_audit_and_a_true_manifest(
    session: Session, tmp_path: Path
) -> None:
    scope = resolve_scope("2026Q4", date(2027, 1, 5))
    rel = active_relationship(session)
    invoice(session, rel, "INV-9", delivered=date(2026, 10, 1), paid=date(2026, 11, 1))
    scores(session, rel, "2026Q4", "ours", all_principles(4))
    review_batch(session, due_relationship_ids(session, scope), scope)
    session.add(
        Document(relationship_id=rel.id, kind="charter", language="en", fmt="md", content="# Charter")
    )  # type: ignore[arg-type]
    session.commit()
    out = tmp_path / "pack.zip"
    code, said = tandem("export", "evidence-pack", "--relationship", str(rel.id), "--out", str(out))
    assert code == 0, said
    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
        index = json.loads(z.read("evidence-index.json"))
        names = set(z.namelist())
        for entry in manifest["files"]:
            assert hashlib.sha256(z.read(entry["path"])).hexdigest() == entry["sha256"], entry["path"]
    base = f"relationship-{rel.id}"
    assert names == {e["path"] for e in manifest["files"]} | {"manifest.json"}
    assert {f"{base}/evidence-map.en.md", f"{base}/documents/charter.en.md", f"{base}/reviews/2026Q4.en.md",
            f"{base}/reviews/2026Q4.kpis.json", f"{base}/audit.csv"} <= names  # fmt: skip
    assert index[f"{base}/documents/charter.en.md"]["clauses"][0] == "5.1"
    assert "5.11" in index[f"{base}/reviews/2026Q4.en.md"]["clauses"]
    code, said = tandem("export", "evidence-pack", "--relationship", "nope", "--out", str(out))
    assert code == 1 and "nope" in said


def test_api_tokens_are_shown_once_listed_without_secrets_and_revoked(session: Session) -> None:
    code, out = tandem("api-token", "create", "erp", "--scope", "read", "--scope", "payments:write", "--json")
    created = json.loads(out)
    assert (
        code == 0 and created["token"].startswith("tdm_") and created["scopes"] == ["payments:write", "read"]
    )
    stored = session.exec(select(ApiToken)).one()
    assert created["token"] not in json.dumps(stored.model_dump(mode="json"))  # only its hash is kept
    assert stored.token_sha256 == hashlib.sha256(created["token"].encode()).hexdigest()
    code, out = tandem("api-token", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and listed[0]["last_used_at"] is None and "token_sha256" not in listed[0]
    assert created["token"] not in out
    code, out = tandem("api-token", "create", "Bad Name", "--scope", "admin")
    assert code == 1 and "NAME" in out and "unknown scope 'admin'" in out and "Traceback" not in out
    code, out = tandem("api-token", "create", "erp", "--scope", "read")
    assert code == 1 and "exists" in out
    code, out = tandem("api-token", "revoke", created["public_id"])
    assert code == 0 and "revoked" in out
    assert json.loads(tandem("api-token", "list", "--json")[1]) == []
