"""The ISO 44001 evidence pack for a set of relationships: one zip an auditor can check file by file.

Per relationship: the evidence map (every checklist item by clause 5.1-5.12, its state and evidence),
the stored governance documents (the charter, as written at governance set-up), every completed
review's pack and KPIs, and the relationship's audit extract. At the top: `evidence-index.json`,
which says which clause and ISO 44001 requirement each file evidences, and `manifest.json` with
the SHA-256 and size of every other file.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from models.checklists.generation import evidence_map, tier_of
from models.core.base import id_of, utcnow
from models.core.vocabulary import CLAUSES
from models.integration.exports import write_audit
from models.lifecycle.relationships import find_relationship
from models.reviews.sweep import review_public
from models.tables import AuditEvent, Document, Partner, Relationship, Review, ReviewStatus
from notifications.documents import render_document, render_pack

# What each kind of file evidences: ISO 44004 clauses, and the ISO 44001 requirement (the lifecycle
# stage or management-system part) an auditor checks it against.
EVIDENCES: dict[str, dict[str, Any]] = {
    "evidence_map": {
        "clauses": list(CLAUSES),
        "iso44001": "operational process across the lifecycle: each requirement traced to an item",
    },
    "charter": {
        "clauses": ["5.1", "5.4", "5.5", "5.7", "5.9", "5.10", "5.12"],
        "iso44001": "working together: joint governance, roles, escalation, exit strategy",
    },
    "review": {
        "clauses": ["5.7", "5.8", "5.11"],
        "iso44001": "staying together: performance measured both ways, joint review, actions",
    },
    "review_kpis": {
        "clauses": ["5.7", "5.11"],
        "iso44001": "performance evaluation: monitoring and measurement (days-to-pay, burden, response)",
    },
    "document": {  # a stored document of another kind than the charter
        "clauses": ["5.5"],
        "iso44001": "documented information of the relationship's governance",
    },
    "audit": {
        "clauses": ["5.1", "5.5"],
        "iso44001": "documented information: who did what and when, through which way in",
    },
}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _documents(session: Session, rel_id: int) -> list[Document]:
    query = select(Document).where(Document.relationship_id == rel_id).order_by(col(Document.id))
    return list(session.exec(query))


def _reviews(session: Session, rel_id: int) -> list[Review]:
    query = select(Review).where(Review.relationship_id == rel_id, Review.status != ReviewStatus.open.value)
    return list(session.exec(query.order_by(col(Review.period))))


def relationship_files(session: Session, rel: Relationship, *, lang: str) -> dict[str, tuple[str, bytes]]:
    """Return one relationship's files: path -> (kind, content)."""
    base = f"relationship-{rel.id}"
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    data = evidence_map(session, id_of(rel), lang)
    data.update(
        relationship=rel.model_dump(mode="json"),
        partner=partner.model_dump(mode="json"),
        tier=tier_of(rel, partner),
    )
    files = {
        f"{base}/evidence-map.{lang}.md": (
            "evidence_map",
            render_document("evidence_map", lang, "md", data).encode(),
        ),
        f"{base}/evidence-map.json": ("evidence_map", _json(data)),
    }
    for doc in _documents(session, id_of(rel)):
        period = f"-{doc.period}" if doc.period else ""
        files[f"{base}/documents/{doc.kind}{period}.{doc.language}.{doc.fmt}"] = (
            doc.kind,
            doc.content.encode(),
        )
    for review in _reviews(session, id_of(rel)):
        context = review_public(session, str(rel.id), review.period)
        pack = render_pack(context, language=lang, fmt="md")
        files[f"{base}/reviews/{review.period}.{lang}.md"] = ("review", pack.encode())
        kpis = {k: getattr(review, k) for k in ("period", "as_of", "status", "health", "trend", "kpis")}
        files[f"{base}/reviews/{review.period}.kpis.json"] = ("review_kpis", _json(kpis))
    stream = io.StringIO(newline="")
    events = session.exec(
        select(AuditEvent).where(AuditEvent.relationship_id == rel.id).order_by(col(AuditEvent.id))
    )
    write_audit(stream, events, "csv")
    files[f"{base}/audit.csv"] = ("audit", stream.getvalue().encode())
    return files


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=_plain).encode()


def _plain(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def build_pack(session: Session, refs: Iterable[str], *, lang: str = "en") -> tuple[bytes, dict[str, Any]]:
    """Build the zip for relationships named by id or key; return its bytes and its manifest."""
    rels = [find_relationship(session, ref) for ref in refs]
    files: dict[str, tuple[str, bytes]] = {}
    for rel in {r.id: r for r in rels}.values():
        files |= relationship_files(session, rel, lang=lang)
    index = {
        path: {"kind": kind, **EVIDENCES.get(kind, EVIDENCES["document"])}
        for path, (kind, _) in files.items()
    }
    files["evidence-index.json"] = ("index", _json(index))
    manifest = {
        "generated_at": utcnow().isoformat(),
        "relationships": sorted({id_of(r) for r in rels}),
        "language": lang,
        "files": [{"path": p, "sha256": _digest(c), "bytes": len(c)} for p, (_, c) in sorted(files.items())],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, (_, content) in sorted(files.items()):
            archive.writestr(path, content)
        archive.writestr("manifest.json", _json(manifest))
    return out.getvalue(), manifest
