"""The proportionality engine: tiers by the rule table, budgets respected, ask once, idempotent generation."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models.checklists.generation import generate_checklist, items_of, mark_done
from models.checklists.library import clear_library_cache, load_library
from models.checklists.proportionality import Profile, propose_tier
from models.lifecycle.relationships import RelationshipOpen, open_relationship
from models.partners.importer import import_partners
from models.tables import ChecklistItem
from models.tables.core import Criticality

SAMPLE = Path(str(resources.files("deployments.samples") / "partners.csv"))
MICRO_CN = "CN:91320500MA1JG0001G"  # 8 staff, industry: micro
MEDIUM_CN = "CN:91440300MA5HX00036"  # 420 staff, 180m CNY: medium
STAGES = ("onboarding", "governance", "review", "exit")


@pytest.mark.parametrize(
    ("size", "criticality", "dependency", "tier"),
    [
        ("micro", "low", 0.1, "light"),
        ("micro", "medium", 0.6, "light"),
        ("micro", "high", 0.9, "standard"),  # never enhanced for a micro firm
        ("small", "low", 0.1, "light"),
        ("small", "low", 0.4, "light"),  # small-low rule
        ("medium", "low", 0.1, "light"),
        ("medium", "low", 0.4, "standard"),
        ("small", "medium", 0.2, "standard"),
        ("small", "medium", 0.5, "enhanced"),  # dependency at the threshold
        ("small", "medium", 0.49, "standard"),
        ("small", "high", 0.2, "standard"),
        ("medium", "high", 0.6, "enhanced"),
        ("large", "high", 0.0, "enhanced"),
        ("large", "medium", 0.1, "standard"),
    ],
)
def test_tier_rule_table(size: str, criticality: str, dependency: float, tier: str) -> None:
    decision = propose_tier(Profile(size_class=size, criticality=criticality, dependency_ratio=dependency))
    assert decision.tier == tier
    assert decision.reason["en"] and decision.reason["zh-CN"]
    assert "{" not in decision.reason["en"] + decision.reason["zh-CN"]


def _open(
    session: Session, ref: str, criticality: str, dependency: float, n: int, key: str | None = None
) -> int:
    rel = open_relationship(
        session,
        RelationshipOpen(
            partner=ref,
            manager="rm@ours.example",
            deputy="dep@ours.example",
            sponsor="vp@ours.example",
            partner_contact=f"pc{n}@partner{n}.example",
            backup_contact=f"bk{n}@partner{n}.example",
            criticality=Criticality(criticality),
            dependency_ratio=dependency,
            key=key,
        ),
        actor="test",
    )
    return rel.id  # type: ignore[return-value]


def _partner_side(session: Session, rel_id: int, stage: str) -> tuple[int, int]:
    items = [i for i in items_of(session, rel_id, stage=stage) if i.owner_side in ("partner", "joint")]
    return len(items), sum(i.effort_minutes for i in items)


@pytest.fixture
def portfolio(session: Session) -> Session:
    import_partners(session, SAMPLE, actor="test")
    session.commit()
    return session


def test_micro_low_is_markedly_lighter_than_medium_high_dependent(portfolio: Session) -> None:
    micro = _open(portfolio, MICRO_CN, "low", 0.1, 1)
    medium = _open(portfolio, MEDIUM_CN, "high", 0.6, 2)
    results = {}
    for rel in (micro, medium):
        for stage in STAGES:
            results[rel, stage] = generate_checklist(portfolio, rel, stage, actor="test")
    portfolio.commit()
    assert results[micro, "onboarding"].tier == "light" and results[medium, "onboarding"].tier == "enhanced"
    assert results[micro, "onboarding"].budget_minutes == 60
    assert results[medium, "onboarding"].budget_minutes == 300
    for stage in STAGES:
        micro_count, micro_minutes = _partner_side(portfolio, micro, stage)
        medium_count, medium_minutes = _partner_side(portfolio, medium, stage)
        assert micro_count < medium_count, stage
    onboarding_micro = _partner_side(portfolio, micro, "onboarding")
    onboarding_medium = _partner_side(portfolio, medium, "onboarding")
    assert onboarding_micro[1] * 2 <= onboarding_medium[1]  # at most half the partner's time
    assert onboarding_micro[1] <= 60  # about an hour at most for a micro firm


@pytest.mark.parametrize("criticality", ["low", "medium", "high"])
@pytest.mark.parametrize("dependency", [0.05, 0.35, 0.7])
def test_every_sample_checklist_stays_within_its_budget(
    portfolio: Session, criticality: str, dependency: float
) -> None:
    library = load_library()
    refs = [
        f"{c}:{r}"
        for c, r in [
            ("CN", "91320500MA1JG0001G"),
            ("CN", "91330100MA2YY0002L"),
            ("CN", "91440300MA5HX00036"),
            ("CN", "91320200MA1HL00096"),
            ("DE", "HRB 701234"),
            ("FR", "RCS 433 221 100"),
        ]
    ]
    for n, ref in enumerate(refs):
        rel = _open(portfolio, ref, criticality, dependency, n)
        for stage in STAGES:
            result = generate_checklist(portfolio, rel, stage, actor="test")
            used = _partner_side(portfolio, rel, stage)[1]
            assert used == result.used_minutes <= library.budget(result.tier, stage), (ref, stage)


def test_generating_twice_yields_the_same_items(portfolio: Session) -> None:
    rel = _open(portfolio, MEDIUM_CN, "high", 0.6, 1)
    first = generate_checklist(portfolio, rel, "onboarding", actor="test")
    portfolio.commit()
    before = sorted((i.item_key, i.due_on, i.owner_contact_id) for i in items_of(portfolio, rel))
    second = generate_checklist(portfolio, rel, "onboarding", actor="test")
    portfolio.commit()
    after = sorted((i.item_key, i.due_on, i.owner_contact_id) for i in items_of(portfolio, rel))
    assert first.added == len(before) > 0 and second.added == 0 and before == after


def test_library_upgrade_adds_new_items_and_leaves_answered_ones(
    portfolio: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = _open(portfolio, MEDIUM_CN, "high", 0.6, 1)
    generate_checklist(portfolio, rel, "onboarding", actor="test")
    answered = items_of(portfolio, rel, stage="onboarding")[0]
    mark_done(portfolio, answered.id, by="rm@ours.example", evidence="signed")  # type: ignore[arg-type]
    portfolio.commit()
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "acme.yaml").write_text(OVERLAY, encoding="utf-8")
    monkeypatch.setenv("TANDEM_LIBRARY_OVERLAY", str(overlay))
    from models.core.settings import get_settings

    get_settings.cache_clear()
    clear_library_cache()
    result = generate_checklist(portfolio, rel, "onboarding", actor="test")
    portfolio.commit()
    assert result.added == 1
    keys = {i.item_key for i in items_of(portfolio, rel, stage="onboarding")}
    assert "acme.onboarding.site-visit" in keys
    again = portfolio.get(ChecklistItem, answered.id)
    assert again is not None and again.status == "done" and again.evidence == "signed"
    clear_library_cache()


OVERLAY = """
id: acme.extra
clause: "5.6"
version: 1
locales: [en, zh-CN]
title: {en: "Acme additions", zh-CN: "Acme 补充"}
items:
  - id: acme.onboarding.site-visit
    clause: "5.6"
    stages: [onboarding]
    owner_side: ours
    owner_role: manager
    title: {en: "Visit the partner's site once", zh-CN: "实地走访伙伴一次"}
    guidance: {en: "Meet the team where they work.", zh-CN: "到伙伴工作现场与团队见面。"}
    evidence: {en: "Visit note.", zh-CN: "走访记录。"}
    effort_minutes: 0
    effort_basis: "Our visit; the partner shows us round as it would any customer."
    priority: should
    due_offset_days: 20
"""


def test_ask_once_reuses_evidence_from_another_relationship(portfolio: Session) -> None:
    first = _open(portfolio, MEDIUM_CN, "high", 0.6, 1)
    generate_checklist(portfolio, first, "onboarding", actor="test")
    keyed = [i for i in items_of(portfolio, first, stage="onboarding") if i.evidence_key]
    assert keyed, "the library has ask-once items at onboarding"
    for item in keyed:
        mark_done(portfolio, item.id, by="pc1@partner1.example", evidence=f"file {item.evidence_key}")  # type: ignore[arg-type]
    portfolio.commit()
    second = _open(portfolio, MEDIUM_CN, "high", 0.6, 2, key="second-unit")
    generate_checklist(portfolio, second, "onboarding", actor="test")
    portfolio.commit()
    reused = {i.evidence_key: i for i in items_of(portfolio, second, stage="onboarding") if i.evidence_key}
    for item in keyed:
        again = reused[item.evidence_key]
        assert again.status == "done" and again.reused_from_id == item.id
        assert again.evidence == f"file {item.evidence_key}" and again.effort_minutes == 0
    stored = portfolio.exec(select(ChecklistItem).where(ChecklistItem.relationship_id == second)).all()
    assert all(i.status == "open" for i in stored if not i.evidence_key)
