"""The glossary: one set of Chinese terms aligned with GB/T 43834-2024, used by every text people read."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from models.checklists.library import check_library
from models.core.glossary import check_text, clause_title, flag_text, glossary, tier_label
from models.lifecycle.relationships import key_person_flags
from models.tables import Relationship

ROOT = Path(__file__).resolve().parents[3]
# Everything people read: message and document templates, web pages and their words, and every
# content file with Chinese text (the checklist library, tier rules, review rules, risks, laws).
SCANNED = (
    "notifications/templates/**/*.j2",
    "deployments/web/templates/*.j2",
    "deployments/web/strings.yaml",
    "models/**/*.yaml",
    "notifications/*.yaml",
)


def texts() -> list[Path]:
    found = sorted({p for pattern in SCANNED for p in ROOT.glob(pattern)})
    return [p for p in found if p.name != "glossary.yaml"]


def test_the_scan_covers_templates_library_and_web_strings() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in texts()}
    assert "deployments/web/strings.yaml" in names
    assert "models/checklists/library/content/5.04-leadership.yaml" in names
    assert "notifications/templates/messages/zh-CN/welcome.txt.j2" in names
    assert "notifications/templates/documents/_labels.zh-CN.j2" in names
    assert len(names) > 100


def test_no_text_uses_a_term_outside_the_glossary() -> None:
    findings = [
        f"{path.relative_to(ROOT)}:{number}: {found.word} (use {found.use}): …{found.context}…"
        for path in texts()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for found in check_text(line)
    ]
    assert findings == [], "\n".join(findings)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("与合作伙伴的协作关系", []),  # the standard's word for a partner is allowed
        ("合作关系", ["合作"]),
        ("面向中小微企业", []),
        ("面向小微企业", ["小微企业"]),  # leaves out medium-sized firms
        ("《保障中小企业款项支付条例》", []),  # a law's own name
        ("由发起人批准", ["发起人"]),
        ("治理级别与治理层级", ["治理级别", "治理层级"]),
        ("高层负责人批准治理等级", []),
    ],
)
def test_the_check_knows_allowed_terms_from_avoided_ones(text: str, words: list[str]) -> None:
    assert [f.word for f in check_text(text)] == words


def test_clause_titles_are_the_standards_table_of_contents() -> None:
    assert clause_title("5.4", "zh-CN") == "协作的领导作用"
    assert clause_title("5.7", "zh-CN") == "信任与互惠互利承诺"
    assert clause_title("5.11", "zh-CN") == "关系测量和优化"
    library, problems = check_library(None, overlay=None)
    assert problems == [] and library is not None
    for file in library.files:
        assert file.title["zh-CN"] == clause_title(file.clause, "zh-CN")
        assert file.title["en"] == clause_title(file.clause, "en")


def test_one_word_for_each_tier_and_the_flags_read_chinese() -> None:
    assert [tier_label(t, "zh-CN") for t in ("light", "standard", "enhanced")] == ["轻量", "标准", "加强"]
    assert tier_label("light", "en") == "light" and tier_label(None, "zh-CN") == ""
    assert flag_text("ours: no deputy manager", "zh-CN") == "我方：未指定关系经理的副手"
    # Every warning the key-person check can raise has its Chinese words.
    lone = Relationship(manager_id=1, sponsor_id=1, partner_contact_id=2)
    same = Relationship(manager_id=1, sponsor_id=3, deputy_id=1, partner_contact_id=2, backup_contact_id=2)
    raised = set(key_person_flags(lone)) | set(key_person_flags(same))
    assert raised == set(glossary().key_person_flags)


def test_the_glossary_ships_with_the_package() -> None:
    assert (resources.files("models.core") / "glossary.yaml").is_file()
