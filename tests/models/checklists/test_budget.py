"""The partner's time is the budget: per stage, per relationship year, realistic minutes, yearly items."""

from __future__ import annotations

from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import yaml
from sqlmodel import Session

from models.checklists.budget import relationship_year, year_use
from models.checklists.generation import generate_checklist
from models.checklists.library import check_library, load_library
from models.checklists.proportionality import Profile, YearLimit, select_items
from models.tables import ChecklistGeneration
from tests.models.reviews.review_data import active_relationship
from tests.support import factories as f

LIGHT = Profile(size_class="micro", criticality="low", dependency_ratio=0.1, country="CN")
STANDARD = Profile(size_class="small", criticality="medium", dependency_ratio=0.2, country="CN")
ENHANCED = Profile(size_class="medium", criticality="high", dependency_ratio=0.4, country="CN")


def test_the_budget_is_the_promise_as_data() -> None:
    library = load_library()
    assert library.budget("light", "onboarding") == 60
    assert (library.year_budget("light", 0), library.year_budget("light", 1)) == (120, 60)
    assert library.year_budget("light", 3) == 60
    assert library.messages_per_month == {"light": 4, "standard": 6, "enhanced": 8}


def test_relationship_years_count_from_the_signing_date() -> None:
    signed = date(2027, 1, 4)
    assert relationship_year(signed, signed).index == 0
    assert relationship_year(signed, date(2028, 1, 3)).index == 0
    year = relationship_year(signed, date(2028, 1, 4))
    assert (year.index, year.start, year.end) == (1, date(2028, 1, 4), date(2029, 1, 4))
    leap = relationship_year(date(2028, 2, 29), date(2029, 2, 28))
    assert leap.index == 1 and leap.start == date(2029, 2, 28)


def test_standard_onboarding_is_clearly_lighter_than_enhanced() -> None:
    library = load_library()
    standard = select_items(library, STANDARD, tier="standard", stage="onboarding")
    enhanced = select_items(library, ENHANCED, tier="enhanced", stage="onboarding")
    asked = {c.item.id for c in standard.chosen if c.counted_minutes}
    asked_enhanced = {c.item.id for c in enhanced.chosen if c.counted_minutes}
    assert standard.used_minutes * 2 < enhanced.used_minutes
    assert asked < asked_enhanced and len(asked_enhanced) - len(asked) >= 5
    assert "tandem.5.9.mutual-confidentiality" in asked_enhanced - asked  # an NDA takes reading time
    assert library.by_id["tandem.5.9.mutual-confidentiality"].effort_minutes >= 30


def test_every_item_says_why_its_minutes_and_partner_items_what_to_send_and_what_next() -> None:
    for item in load_library().items:
        assert len(item.effort_basis) >= 10, item.id
        if item.burdens_partner:
            assert item.send and item.next, item.id
            assert item.send["zh-CN"] and item.next["zh-CN"], item.id
        if item.owner_side == "joint":
            assert item.partner_title, item.id
        if item.burdens_partner:  # what the partner reads never names our software
            for text in (item.title, item.partner_title or {}, item.send or {}, item.next or {}):
                assert not any("Tandem" in value for value in text.values()), item.id


def test_chinese_buyers_ask_the_vat_taxpayer_type_and_invoice_type_at_onboarding() -> None:
    library = load_library()
    vat = library.by_id["tandem.5.7.vat-and-invoice-type"]
    assert "一般纳税人" in vat.send["zh-CN"] and "数电票" in vat.send["zh-CN"]  # type: ignore[index]
    chinese = {c.item.id for c in select_items(library, LIGHT, tier="light", stage="onboarding").chosen}
    german = Profile(size_class="micro", criticality="low", dependency_ratio=0.1, country="DE")
    german_ids = {c.item.id for c in select_items(library, german, tier="light", stage="onboarding").chosen}
    assert vat.id in chinese and vat.id not in german_ids


def test_a_used_up_year_defers_review_musts_with_the_reason_and_still_covers_the_clauses() -> None:
    library = load_library()
    # The yearly dependency question was asked at onboarding; 5 of the year's minutes are free.
    asked = frozenset({"tandem.5.3.economic-dependency-ratio"})
    year = YearLimit(budget=120, left=20, reserve=15, asked=asked)
    selection = select_items(library, LIGHT, tier="light", stage="review", year=year)
    assert selection.used_minutes <= 5 and selection.budget_minutes == 5
    reasons = {c.item.id: c.reason for c in selection.left_out}
    deferred = reasons["tandem.5.11.light-review-check-in"]
    assert deferred.startswith("deferred to a later review: the relationship year has 20 of its 120 min left")
    assert "keeps 15 for the stages to come" in deferred
    assert "tandem.5.11.partner-rates-us" in {c.item.id for c in selection.chosen}  # 5 minutes still fit


def test_a_yearly_item_is_asked_once_a_relationship_year() -> None:
    library = load_library()
    item = library.by_id["tandem.5.4.annual-leadership-meeting"]
    assert item.every == "year"
    asked = YearLimit(budget=800, left=600, asked=frozenset({item.id}))
    fresh = YearLimit(budget=800, left=600)
    once = select_items(library, ENHANCED, tier="enhanced", stage="review", year=asked)
    first = select_items(library, ENHANCED, tier="enhanced", stage="review", year=fresh)
    assert item.id in {c.item.id for c in first.chosen}
    assert {c.item.id: c.reason for c in once.left_out}[item.id] == (
        "asked once a year: already asked in this relationship year"
    )


def test_generation_plans_within_what_the_year_has_left(session: Session) -> None:
    rel = active_relationship(session, employees=8, tier="light")
    rel.signed_on = date(2027, 1, 4)
    day = date(2027, 10, 4)
    # 110 of the year's 120 minutes were asked already (onboarding, governance, a review).
    f.item(session, rel, due_on=day, stage="onboarding", asked_on=date(2027, 1, 4), effort_minutes=60)
    f.item(session, rel, due_on=day, stage="governance", asked_on=date(2027, 2, 1), effort_minutes=50)
    session.commit()
    use = year_use(session, rel, day, load_library(), "light")
    assert (use.minutes, use.left, use.year.index) == (110, 10, 0)
    result = generate_checklist(session, rel.id, "review", actor="test", period="2027Q3", start_on=day)  # type: ignore[arg-type]
    session.commit()
    assert result.used_minutes == 0 and result.budget_minutes == 0  # 10 left, 15 kept for an exit
    assert any(x["reason"].startswith("deferred to a later review") for x in result.left_out)
    generation = session.get(ChecklistGeneration, 1)
    assert generation is not None and generation.budget_minutes == 0
    # A year later the budget is the later years' one, and the review fits again.
    next_year = day + timedelta(days=190)
    later = generate_checklist(session, rel.id, "review", actor="test", period="2028Q1", start_on=next_year)  # type: ignore[arg-type]
    assert 0 < later.used_minutes <= 25


def test_a_library_whose_musts_exceed_the_year_is_refused(tmp_path: Path) -> None:
    shipped = Path(str(resources.files("models.checklists.library")))
    budgets = yaml.safe_load((shipped / "budgets.yaml").read_text(encoding="utf-8"))
    budgets["year_minutes"]["light"] = {"first": 50, "later": 10}
    for path in (shipped / "content").glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "budgets.yaml").write_text(yaml.safe_dump(budgets), encoding="utf-8")
    problems = [str(p) for p in check_library(tmp_path, overlay=None)[1]]
    assert any("tier light" in p and "first year allows 50 min" in p for p in problems), problems
    assert any("tier light" in p and "exit must-items" in p and "later year allows 10" in p for p in problems)
