"""Tests for the checklist content library: shipped content, strict validation, conditions."""

from __future__ import annotations

import itertools
from importlib import resources
from pathlib import Path

import pytest
import yaml

from models.checklists.library import (
    CLAUSES,
    CRITICALITIES,
    SIZE_CLASSES,
    STAGES,
    TIERS,
    Library,
    check_library,
    load_library,
    parse_condition,
    partner_must_minutes,
    validate_library,
)
from models.core.errors import InputRejected
from models.core.settings import LANGUAGES, get_settings

CONTENT = Path(str(resources.files("models.checklists.library") / "content"))

MSME_PROTECTIONS = [
    "tandem.5.1.name-our-deputy",
    "tandem.5.1.partner-backup-contact",
    "tandem.5.1.handover-on-key-person-change",
    "tandem.5.2.accept-equivalent-code-of-conduct",
    "tandem.5.2.accept-equivalent-data-protection",
    "tandem.5.2.accept-equivalent-quality-evidence",
    "tandem.5.3.economic-dependency-ratio",
    "tandem.5.4.sponsor-contact-shared",
    "tandem.5.5.reuse-iso9001",
    "tandem.5.5.simple-dispute-path",
    "tandem.5.6.capacity-building-offer",
    "tandem.5.7.payment-within-legal-limit",
    "tandem.5.7.no-pay-when-paid",
    "tandem.5.7.pay-undisputed-part",
    "tandem.5.7.no-forced-commercial-bills",
    "tandem.5.7.protect-partner-ip",
    "tandem.5.9.ask-once",
    "tandem.5.9.share-forecasts",
    "tandem.5.10.joint-risk-register",
    "tandem.5.10.dependency-risk",
    "tandem.5.10.late-payment-risk",
    "tandem.5.10.volume-swing-risk",
    "tandem.5.11.two-way-scorecard",
    "tandem.5.11.partner-rates-us",
    "tandem.5.12.exit-plan-at-onboarding",
    "tandem.5.12.dependency-scaled-notice",
    "tandem.5.12.final-payment-on-time",
    "tandem.5.12.return-data-ip-tooling",
]


@pytest.fixture(scope="module")
def library() -> Library:
    """Load the shipped library without any overlay."""
    library, problems = check_library(None, overlay=None)
    assert problems == []
    assert library is not None
    return library


def _item(item_id: str, clause: str = "5.5", **changes: object) -> dict[str, object]:
    """Return a valid item for a test file, with some fields changed or removed (None)."""
    item: dict[str, object] = {
        "id": item_id,
        "clause": clause,
        "stages": ["governance"],
        "owner_side": "joint",
        "owner_role": "manager",
        "title": {"en": "Agree a charter", "zh-CN": "商定章程"},
        "partner_title": {"en": "Confirm our charter", "zh-CN": "确认章程"},
        "guidance": {"en": "Keep it short.", "zh-CN": "保持简短。"},
        "evidence": {"en": "Charter stored.", "zh-CN": "章程已存档。"},
        "send": {"en": "A reply.", "zh-CN": "回复即可。"},
        "next": {"en": "We store it.", "zh-CN": "我们会存档。"},
        "effort_minutes": 5,
        "effort_basis": "Read one page and reply.",
        "priority": "should",
        "due_offset_days": 10,
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not None}


def _write(folder: Path, name: str, items: list[dict[str, object]], **header: object) -> Path:
    """Write one library file with the given items into a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, object] = {
        "id": "tandem.5.5",
        "clause": "5.5",
        "version": 1,
        "locales": ["en", "zh-CN"],
        "title": {"en": "Governance and process", "zh-CN": "治理和过程"},
        "items": items,
    }
    data.update(header)
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _problems_text(folder: Path, overlay: Path | None = None) -> list[str]:
    return [str(p) for p in check_library(folder, overlay=overlay)[1]]


# ---------------------------------------------------------------- shipped content


def test_shipped_library_loads_through_the_package(library: Library) -> None:
    assert len(library.files) == 12
    assert len(library.items) >= 90
    assert load_library() is load_library()  # cached
    assert sorted(p.name for p in CONTENT.glob("*.yaml"))[0] == "5.01-relationship-management.yaml"


def test_every_clause_has_at_least_six_items(library: Library) -> None:
    for clause in CLAUSES:
        assert len(library.items_for(clause=clause)) >= 6, clause


def test_every_stage_is_well_covered(library: Library) -> None:
    for stage in STAGES:
        assert len(library.items_for(stage=stage)) >= 12, stage


def test_every_item_has_both_languages(library: Library) -> None:
    for item in library.items:
        for text in (item.title, item.guidance, item.evidence):
            for lang in LANGUAGES:
                assert text[lang].strip(), (item.id, lang)
        assert item.title["en"] != item.title["zh-CN"]


def test_items_know_their_file_and_version(library: Library) -> None:
    item = library.by_id["tandem.5.5.governance-charter"]
    assert item.source_file == "5.05-governance.yaml"
    assert library.version_of(item.id) == 3
    assert item.is_required
    assert all(
        i.clause == "5.5" and "governance" in i.stages
        for i in library.items_for(stage="governance", clause="5.5")
    )


@pytest.mark.parametrize("item_id", MSME_PROTECTIONS)
def test_msme_protecting_items_are_present(library: Library, item_id: str) -> None:
    assert library.by_id[item_id].protects_msme


def test_accept_equivalent_items_share_evidence_keys(library: Library) -> None:
    keys = {item.evidence_key for item in library.items}
    assert {
        "cert.quality",
        "cert.iso9001",
        "policy.code-of-conduct",
        "policy.data-protection",
    } <= keys


def test_exit_stage_covers_the_full_exit(library: Library) -> None:
    exit_ids = {item.id for item in library.items_for(stage="exit")}
    assert {
        "tandem.5.12.handover",
        "tandem.5.12.return-data-ip-tooling",
        "tandem.5.12.final-payment-on-time",
        "tandem.5.12.lessons-learned",
        "tandem.5.12.sign-off-both-sides",
    } <= exit_ids
    assert library.by_id["tandem.5.12.sign-off-both-sides"].owner_side == "joint"


def test_reviews_ask_only_what_a_review_needs(library: Library) -> None:
    # Standing practices are agreed once at set-up; the standard risks are registered at governance,
    # where review rules raise them again from the figures; and what the review measures itself
    # (days-to-pay, request burden, response time) is set up once so that every review can measure
    # it. Asking them every quarter gave a manager of 200 partners 2,600 more items a quarter to tick.
    review = {i.id for i in library.items_for(stage="review")}
    for item_id in (
        "tandem.5.1.system-of-record",
        "tandem.5.5.request-budget",
        "tandem.5.7.pay-undisputed-part",
        "tandem.5.7.no-forced-commercial-bills",
        "tandem.5.8.credit-partner-ideas",
        "tandem.5.9.batched-digest",
        "tandem.5.9.ask-once",
        "tandem.5.10.dependency-risk",
        "tandem.5.10.late-payment-risk",
        "tandem.5.10.volume-swing-risk",
        "tandem.5.11.days-to-pay",
        "tandem.5.11.request-burden",
        "tandem.5.11.responsiveness",
    ):
        assert item_id not in review
        assert {"onboarding", "governance"} & set(library.by_id[item_id].stages), item_id
    assert {"tandem.5.11.joint-review", "tandem.5.11.partner-rates-us", "tandem.5.11.agree-actions"} <= review


def test_payment_items_belong_to_finance(library: Library) -> None:
    for item_id in (
        "tandem.5.7.payment-within-legal-limit",
        "tandem.5.7.pay-undisputed-part",
        "tandem.5.12.final-payment-on-time",
    ):
        assert library.by_id[item_id].owner_role == "team:finance"


def test_commercial_bill_item_applies_only_in_china(library: Library) -> None:
    item = library.by_id["tandem.5.7.no-forced-commercial-bills"]
    assert item.applies_to(facts={"country": "CN"})
    assert not item.applies_to(facts={"country": "DE"})


def test_light_onboarding_is_well_under_budget(library: Library) -> None:
    worst = max(
        partner_must_minutes(
            library.items, tier="light", stage="onboarding", size_class=size, criticality=crit
        )[0]
        for size, crit in itertools.product(SIZE_CLASSES, CRITICALITIES)
    )
    assert worst <= 55 < library.budget("light", "onboarding")


def test_every_tier_and_stage_fits_its_budget(library: Library) -> None:
    for tier, stage, size, crit in itertools.product(TIERS, STAGES, SIZE_CLASSES, CRITICALITIES):
        minutes, _ = partner_must_minutes(
            library.items, tier=tier, stage=stage, size_class=size, criticality=crit
        )
        assert minutes <= library.budget(tier, stage), (tier, stage, size, crit)
    assert library.review_cadence_months["light"] == 6


def test_lighter_tiers_ask_less(library: Library) -> None:
    def total(tier: str) -> int:
        return sum(
            partner_must_minutes(
                library.items, tier=tier, stage=stage, size_class="small", criticality="high"
            )[0]
            for stage in STAGES
        )

    assert total("light") < total("standard") <= total("enhanced")


# ---------------------------------------------------------------- rejection


def test_custom_library_folder_loads(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter")])
    library = load_library(tmp_path, overlay=None)
    assert [item.id for item in library.items] == ["tandem.5.5.charter"]
    assert library.by_id["tandem.5.5.charter"].source_file == "a.yaml"


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", colour="blue")])
    with pytest.raises(InputRejected) as caught:
        load_library(tmp_path, overlay=None)
    [problem] = caught.value.problems
    assert problem.where == "a.yaml: tandem.5.5.charter"
    assert "unknown field 'colour'" in problem.message


def test_missing_field_and_wrong_type_are_rejected(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "a.yaml",
        [
            _item("tandem.5.5.one", priority=None),
            _item("tandem.5.5.two", effort_minutes="a lot"),
        ],
    )
    problems = _problems_text(tmp_path)
    assert any("a.yaml: tandem.5.5.one: missing field 'priority'" in p for p in problems)
    assert any(p.startswith("a.yaml: tandem.5.5.two: effort_minutes") for p in problems)


def test_duplicate_id_across_files_names_both_files(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter")])
    _write(tmp_path, "b.yaml", [_item("tandem.5.5.charter")])
    problems = _problems_text(tmp_path)
    assert problems == ["b.yaml: tandem.5.5.charter: duplicate item id, also in a.yaml"]


def test_missing_translation_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", guidance={"en": "Keep it short."})])
    problems = _problems_text(tmp_path)
    assert problems == ["a.yaml: tandem.5.5.charter: guidance: missing zh-CN translation"]


def test_empty_translation_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", title={"en": "Charter", "zh-CN": " "})])
    assert _problems_text(tmp_path) == ["a.yaml: tandem.5.5.charter: title: missing zh-CN translation"]


def test_file_must_declare_both_locales(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter")], locales=["en"])
    problems = _problems_text(tmp_path)
    assert "a.yaml: locales must include zh-CN" in problems


@pytest.mark.parametrize("clause", ["5.13", "4.1", 5.1])
def test_bad_item_clause_is_rejected(tmp_path: Path, clause: object) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", clause=clause)])
    [problem] = check_library(tmp_path, overlay=None)[1]
    assert problem.where == "a.yaml: tandem.5.5.charter"
    assert "clause" in problem.message


def test_item_clause_must_match_file_clause(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", clause="5.6")])
    assert _problems_text(tmp_path) == [
        "a.yaml: tandem.5.5.charter: item clause 5.6 differs from file clause 5.5"
    ]


def test_bad_condition_is_rejected(tmp_path: Path) -> None:
    applies = {"conditions": ["dependency_ratio > lots"]}
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", applies=applies)])
    [problem] = check_library(tmp_path, overlay=None)[1]
    assert problem.where == "a.yaml: tandem.5.5.charter"
    assert "applies.conditions.0" in problem.message
    assert "dependency_ratio" in problem.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stages", ["kickoff"]),
        ("stages", []),
        ("owner_role", "boss"),
        ("owner_role", "team:Legal"),
        ("priority", "nice"),
        ("applies", {"tiers": ["premium"]}),
    ],
)
def test_bad_vocabulary_is_rejected(tmp_path: Path, field: str, value: object) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", **{field: value})])
    [problem] = check_library(tmp_path, overlay=None)[1]
    assert problem.where == "a.yaml: tandem.5.5.charter"
    assert field in problem.message or "owner_role" in problem.message


def test_owner_roles_are_the_relationships_role_names(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", owner_role="partner_backup")])
    [problem] = check_library(tmp_path, overlay=None)[1]
    assert "use manager, deputy, sponsor, partner_contact, backup_contact or team:<tag>" in problem.message
    backup = _item(
        "tandem.5.5.charter", owner_role="backup_contact", owner_side="partner", partner_title=None
    )
    _write(tmp_path, "a.yaml", [backup])
    assert check_library(tmp_path, overlay=None)[1] == []


def test_item_id_must_start_with_file_id(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("acme.charter")])
    assert _problems_text(tmp_path) == [
        "a.yaml: acme.charter: item id must start with the file id 'tandem.5.5.'"
    ]


def test_file_id_must_match_clause_and_version_must_be_positive(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.6.charter")], id="tandem.5.6", version=0)
    problems = _problems_text(tmp_path)
    assert any(p.startswith("a.yaml: version") for p in problems)
    _write(tmp_path, "a.yaml", [_item("tandem.5.6.charter")], id="tandem.5.6")
    assert "a.yaml: file id 'tandem.5.6' should be 'tandem.5.5'" in _problems_text(tmp_path)


def test_ours_items_cost_the_partner_nothing(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", owner_side="ours")])
    assert "must be 0 for ours items" in _problems_text(tmp_path)[0]


def test_yaml_syntax_error_is_reported_with_other_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    _write(tmp_path, "b.yaml", [_item("tandem.5.5.charter", extra=1)])
    problems = _problems_text(tmp_path)
    assert problems[0].startswith("a.yaml: YAML syntax error")
    assert problems[1] == "b.yaml: tandem.5.5.charter: unknown field 'extra'"


def test_all_problems_are_collected_not_just_the_first(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "a.yaml",
        [
            _item("tandem.5.5.one", stages=["kickoff"]),
            _item("tandem.5.5.two", title={"en": "Two"}),
            _item("tandem.5.5.three", colour="red"),
        ],
    )
    wheres = [p.where for p in check_library(tmp_path, overlay=None)[1]]
    assert wheres == [
        "a.yaml: tandem.5.5.one",
        "a.yaml: tandem.5.5.two",
        "a.yaml: tandem.5.5.three",
    ]


def test_over_budget_must_items_are_rejected(tmp_path: Path) -> None:
    heavy = _item(
        "tandem.5.5.heavy",
        stages=["onboarding"],
        priority="must",
        effort_minutes=61,
        applies={"tiers": ["light"], "conditions": ["employees > 5"]},
    )
    _write(tmp_path, "a.yaml", [heavy])
    problems = _problems_text(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("budgets.yaml: tier light, stage onboarding: ")
    assert "tandem.5.5.heavy" in problems[0]


def test_custom_folder_may_bring_its_own_budgets(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter")])
    (tmp_path / "budgets.yaml").write_text("version: 1\nbudgets: {}\n", encoding="utf-8")
    problems = _problems_text(tmp_path)
    assert "budgets.yaml: missing field 'budgets.light'" in problems
    assert "budgets.yaml: missing field 'review_cadence_months'" in problems


# ---------------------------------------------------------------- overlay


def test_overlay_adds_items_with_any_clause(tmp_path: Path) -> None:
    _write(
        tmp_path / "overlay",
        "acme.yaml",
        [_item("acme.halal-certificate", clause="5.2", stages=["onboarding"])],
        id="acme.extra",
    )
    library = load_library(overlay=tmp_path / "overlay")
    item = library.by_id["acme.halal-certificate"]
    assert item.source_file == "acme.yaml"
    assert len(library.items) == len(load_library(overlay=None).items) + 1
    assert library.files[-1].overlay


def test_overlay_comes_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "overlay", "acme.yaml", [_item("acme.extra-step")], id="acme.extra")
    monkeypatch.setenv("TANDEM_LIBRARY_OVERLAY", str(tmp_path / "overlay"))
    get_settings.cache_clear()
    assert "acme.extra-step" in load_library().by_id
    assert validate_library() == []


def test_overlay_is_validated_the_same_way(tmp_path: Path) -> None:
    _write(
        tmp_path / "overlay",
        "acme.yaml",
        [
            _item("tandem.5.5.governance-charter"),
            _item("acme.two", clause="5.13"),
            _item("acme.three", guidance={"en": "Only English."}),
        ],
        id="acme.extra",
    )
    with pytest.raises(InputRejected) as caught:
        load_library(overlay=tmp_path / "overlay")
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith("acme.yaml: acme.two: clause") for p in problems)
    assert "acme.yaml: acme.three: guidance: missing zh-CN translation" in problems
    assert (
        "acme.yaml: tandem.5.5.governance-charter: duplicate item id, also in 5.05-governance.yaml"
    ) in problems


def test_missing_overlay_folder_is_a_problem(tmp_path: Path) -> None:
    problems = validate_library(overlay=tmp_path / "nowhere")
    assert [p.message for p in problems] == ["overlay folder does not exist"]


# ---------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("condition", "facts", "expected"),
    [
        ("dependency_ratio > 0.3", {"dependency_ratio": 0.5}, True),
        ("dependency_ratio > 0.3", {"dependency_ratio": 0.3}, False),
        ("dependency_ratio >= 0.3", {"dependency_ratio": 0.3}, True),
        ("payment_term_days > 60", {"payment_term_days": 90}, True),
        ("payment_term_days <= 60", {"payment_term_days": 61}, False),
        ("employees < 10", {"employees": 9}, True),
        ("employees != 10", {"employees": 10}, False),
        ("country == CN", {"country": "CN"}, True),
        ("country == cn", {"country": "cn"}, True),
        ("country == 'CN'", {"country": "DE"}, False),
        ("country != CN", {"country": "DE"}, True),
        ("criticality == high", {"criticality": "high"}, True),
        ("size_class != micro", {"size_class": "micro"}, False),
        ("employees > 5", {}, False),
    ],
)
def test_condition_evaluation(condition: str, facts: dict[str, object], expected: bool) -> None:
    assert parse_condition(condition).holds(facts) is expected


@pytest.mark.parametrize(
    "text",
    [
        "dependency_ratio > 1.5",
        "turnover > 5",
        "employees >> 5",
        "employees > ten",
        "country > CN",
        "country == China",
        "criticality == extreme",
        "employees > 2.5",
        "",
    ],
)
def test_bad_conditions_do_not_parse(text: str) -> None:
    with pytest.raises(ValueError):
        parse_condition(text)


def test_condition_refuses_a_non_numeric_fact() -> None:
    with pytest.raises(TypeError):
        parse_condition("employees > 5").holds({"employees": "many"})


def test_applies_combines_restrictions_and_conditions(library: Library) -> None:
    item = library.by_id["tandem.5.3.dependency-escalation"]
    assert item.applies_to(tier="light", facts={"dependency_ratio": 0.4})
    assert not item.applies_to(tier="light", facts={"dependency_ratio": 0.1})
    charter = library.by_id["tandem.5.5.governance-charter"]
    assert not charter.applies_to(tier="light")
    assert charter.applies_to(tier="standard", size_class="micro", criticality="low")


def test_items_are_checked_even_when_the_file_top_is_broken(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter", colour="red")], version="one")
    problems = _problems_text(tmp_path)
    assert any(p.startswith("a.yaml: version") for p in problems)
    assert "a.yaml: tandem.5.5.charter: unknown field 'colour'" in problems


def test_unquoted_clause_gets_a_helpful_message(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_item("tandem.5.5.charter")], clause=5.1)
    assert 'a.yaml: clause: write the clause as a quoted string, e.g. "5.10"' in _problems_text(tmp_path)
