"""Checklist items: state changes with audit, waiver rules, rendering and the evidence map."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from models.checklists.generation import (
    checklist_view,
    evidence_map,
    generate_checklist,
    items_of,
    mark_done,
    mark_not_applicable,
    open_required,
    waive,
)
from models.core.audit import events_for
from models.core.errors import Conflict, InputRejected
from models.lifecycle.relationships import RelationshipOpen, open_relationship
from models.partners.registry import PartnerCreate, add_partner
from models.tables import ChecklistItem
from notifications.documents import render_document
from notifications.render import markdown_text


@pytest.fixture
def rel_id(session: Session) -> int:
    add_partner(
        session,
        PartnerCreate(
            legal_name="<script>alert(1)</script> {{ 7*7 }} 小微",
            registration_id="X1",
            country="CN",
            industry="software_it",
            employees=12,
            annual_revenue=2_000_000,
            currency="CNY",
            preferred_language="zh-CN",
        ),
        actor="test",
    )
    rel = open_relationship(
        session,
        RelationshipOpen(
            partner="X1",
            manager="rm@ours.example",
            deputy="dep@ours.example",
            sponsor="vp@ours.example",
            partner_contact="boss@x1.example",
            criticality="medium",
            dependency_ratio=0.2,
        ),
        actor="test",
    )
    generate_checklist(session, rel.id, "onboarding", actor="test")  # type: ignore[arg-type]
    session.commit()
    return rel.id  # type: ignore[return-value]


def _first(session: Session, rel_id: int, **where: str) -> ChecklistItem:
    return next(
        i
        for i in items_of(session, rel_id, stage="onboarding")
        if all(getattr(i, k) == v for k, v in where.items())
    )


def test_owners_resolve_to_real_contacts(session: Session, rel_id: int) -> None:
    items = items_of(session, rel_id, stage="onboarding")
    by_role = {i.owner_role: i.owner_contact_id for i in items}
    assert by_role.get("manager") is not None and by_role.get("partner_contact") is not None
    assert all(i.due_on.weekday() < 5 for i in items)  # due on business days


def test_done_records_who_when_evidence_and_audit(session: Session, rel_id: int) -> None:
    item = _first(session, rel_id, owner_side="partner")
    mark_done(session, item.id, by="BOSS@x1.example", evidence="营业执照", link="https://x1.example/l.pdf")  # type: ignore[arg-type]
    session.commit()
    assert item.status == "done" and item.done_by == "boss@x1.example" and item.done_at is not None
    actions = [e.action for e in events_for(session, relationship_id=rel_id)]
    assert "checklist.item.done" in actions
    with pytest.raises(Conflict):
        mark_done(session, item.id, by="boss@x1.example")  # type: ignore[arg-type]


def test_done_rejects_unknown_person_and_bad_link(session: Session, rel_id: int) -> None:
    item = _first(session, rel_id, owner_side="partner")
    with pytest.raises(InputRejected, match="not a known contact"):
        mark_done(session, item.id, by="stranger@else.example")  # type: ignore[arg-type]
    with pytest.raises(InputRejected, match="http"):
        mark_done(session, item.id, by="boss@x1.example", link="javascript:alert(1)")  # type: ignore[arg-type]
    assert session.get(ChecklistItem, item.id).status == "open"  # type: ignore[union-attr]


def test_waive_needs_reason_and_the_manager(session: Session, rel_id: int) -> None:
    item = _first(session, rel_id, owner_side="partner")
    with pytest.raises(InputRejected, match="reason"):
        waive(session, item.id, by="rm@ours.example", reason=" ")  # type: ignore[arg-type]
    with pytest.raises(InputRejected, match="not this relationship's manager"):
        waive(session, item.id, by="boss@x1.example", reason="no")  # type: ignore[arg-type]
    waive(session, item.id, by="rm@ours.example", reason="partner gave an equivalent policy")  # type: ignore[arg-type]
    other = next(i for i in items_of(session, rel_id, stage="onboarding") if i.status == "open")
    mark_not_applicable(session, other.id, by="dep@ours.example", reason="no such site")  # type: ignore[arg-type]
    session.commit()
    assert item.status == "waived" and item.waived_reason == "partner gave an equivalent policy"
    assert other.status == "not_applicable"
    audit = {(e.action, e.reason) for e in events_for(session, relationship_id=rel_id)}
    assert ("checklist.item.waived", "partner gave an equivalent policy") in audit


def test_open_required_shrinks_as_items_close(session: Session, rel_id: int) -> None:
    required = open_required(session, rel_id, "onboarding")
    assert required
    for item in required:
        mark_done(session, item.id, by="rm@ours.example")  # type: ignore[arg-type]
    assert open_required(session, rel_id, "onboarding") == []


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_checklist_renders_in_both_languages_and_escapes_partner_text(
    session: Session, rel_id: int, lang: str
) -> None:
    view = checklist_view(session, rel_id, stage="onboarding", lang=lang)
    md = render_document("checklist", lang, "md", view)
    html = render_document("checklist", lang, "html", view)
    assert "<script>" not in md + html and "&lt;script&gt;" in html and "\\<script\\>" in md
    assert "{{ 7*7 }}" in html and "49" not in md.split("\n")[0]
    heading = "事项清单" if lang == "zh-CN" else "Checklist"
    assert md.startswith(f"# {heading}") and "<table>" in html
    first = view["groups"][0]["items"][0]
    assert markdown_text(first["title_text"]) in md
    assert f"clause {first['clause']}" in md or f"条款 {first['clause']}" in md


def test_evidence_map_covers_every_clause(session: Session, rel_id: int) -> None:
    for stage in ("governance", "review", "exit"):
        generate_checklist(session, rel_id, stage, actor="test")
    item = _first(session, rel_id, owner_side="partner")
    mark_done(session, item.id, by="boss@x1.example", evidence="ISO 9001 certificate")  # type: ignore[arg-type]
    data = evidence_map(session, rel_id)
    assert [c["clause"] for c in data["clauses"]] == [f"5.{n}" for n in range(1, 13)]
    assert all(c["total"] > 0 for c in data["clauses"])
    done = [i for c in data["clauses"] for i in c["items"] if i["status"] == "done"]
    assert done[0]["evidence"] == "ISO 9001 certificate"
    assert session.exec(select(ChecklistItem)).first() is not None
