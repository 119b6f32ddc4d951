"""The proportionality engine: a governance tier from size, criticality and dependency, and a
checklist that fits the tier's partner-effort budget, with a reason for every item in or out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.checklists.library import EVENT_TEXT, Item, Library
from models.checklists.library.schema import ConditionField
from models.core.conditions import all_hold
from models.core.data import load_data
from models.core.glossary import criticality_label, size_label
from models.core.vocabulary import DEFAULT_PAYMENT_TERM_DAYS, PRIORITIES, Language, TierName

PRIORITY_ORDER = {p: n for n, p in enumerate(PRIORITIES)}


class TierRule(BaseModel):
    """One row of the tier rule table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    when: tuple[ConditionField, ...]  # the relationship's facts, in the library's condition language
    tier: TierName
    reason: dict[Language, str]

    def matches(self, profile: Profile) -> bool:
        """Return whether every condition of the rule holds for the profile."""
        return all_hold(self.when, profile.facts())


class _RuleTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    rules: tuple[TierRule, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Profile:
    """What the engine knows of a relationship."""

    size_class: str
    criticality: str
    dependency_ratio: float
    payment_term_days: int = DEFAULT_PAYMENT_TERM_DAYS
    country: str = ""
    employees: int = 0

    def facts(self) -> dict[str, object]:
        """Return the facts library conditions are evaluated against."""
        return {
            "size_class": self.size_class,
            "criticality": self.criticality,
            "dependency_ratio": self.dependency_ratio,
            "payment_term_days": self.payment_term_days,
            "country": self.country,
            "employees": self.employees,
        }


@dataclass(frozen=True)
class TierDecision:
    """The proposed tier, the rule that chose it and why, in both languages."""

    tier: str
    rule_id: str
    reason: dict[str, str]
    rules_version: int

    def to_dict(self) -> dict[str, Any]:
        """Return the decision as JSON-ready data."""
        return {
            "tier": self.tier,
            "rule": self.rule_id,
            "reason": self.reason,
            "rules_version": self.rules_version,
        }


@lru_cache(maxsize=1)
def tier_rules() -> _RuleTable:
    """Load and validate the shipped tier rule table."""
    return load_data("tier_rules.yaml", _RuleTable)


def propose_tier(profile: Profile) -> TierDecision:
    """Return the governance tier the rule table gives a relationship, with its reason."""
    table = tier_rules()
    rule = next(r for r in table.rules if r.matches(profile))  # the last rule matches everything
    reason: dict[str, str] = {
        lang: text.format(
            size_class=size_label(profile.size_class, lang),
            criticality=criticality_label(profile.criticality, lang),
            dependency_pct=f"{profile.dependency_ratio:.0%}",
        )
        for lang, text in rule.reason.items()
    }
    return TierDecision(tier=rule.tier, rule_id=rule.id, reason=reason, rules_version=table.version)


@dataclass(frozen=True)
class Choice:
    """One library item the engine considered, and what it decided."""

    item: Item
    selected: bool
    reason: str
    counted_minutes: int = 0


@dataclass(frozen=True)
class YearLimit:
    """What the relationship year still allows while one stage is planned."""

    budget: int  # the year's whole budget
    left: int  # minutes the year still allows
    reserve: int = 0  # must-minutes kept for the stages still to come (the exit, always)
    asked: frozenset[str] = frozenset()  # item keys already asked this year (for `every: year`)


@dataclass
class Selection:
    """A proportionate checklist for one stage: what is in, what is out and why."""

    tier: str
    stage: str
    budget_minutes: int
    used_minutes: int = 0
    chosen: list[Choice] = field(default_factory=list)
    left_out: list[Choice] = field(default_factory=list)


def _why_not(item: Item, tier: str, profile: Profile) -> str | None:
    if item.event is not None:
        return f"asked when {EVENT_TEXT[item.event]}"
    a = item.applies
    if a.tiers is not None and tier not in a.tiers:
        return f"not for the {tier} tier"
    if a.size_classes is not None and profile.size_class not in a.size_classes:
        return f"not for {profile.size_class} partners"
    if a.criticality is not None and profile.criticality not in a.criticality:
        return f"not at {profile.criticality} criticality"
    failed = [str(c) for c in a.conditions if not c.holds(profile.facts())]
    return f"condition not met: {', '.join(failed)}" if failed else None


def applies_to_profile(tier: str, profile: Profile) -> Callable[[Item], bool]:
    """Return a test of whether a library item applies to a relationship of this tier and profile."""
    return lambda item: _why_not(item, tier, profile) is None


def applies_reason(item: Item, tier: str) -> dict[str, Any]:
    """Return why an applicable item is asked: clause, tier and the conditions that held."""
    return {
        "clause": item.clause,
        "tier": tier,
        "priority": item.priority,
        "conditions": [str(c) for c in item.applies.conditions],
        "protects_msme": item.protects_msme,
    }


def select_items(
    library: Library,
    profile: Profile,
    *,
    tier: str,
    stage: str,
    spent_minutes: int = 0,
    existing: Iterable[str] = (),
    reused: Mapping[str, int] | None = None,
    year: YearLimit | None = None,
) -> Selection:
    """Choose the items of a stage: all applicable musts, then shoulds and coulds while the budget lasts.

    `existing` are item ids already on the checklist (kept as they are; their effort is in
    `spent_minutes`); `reused` maps evidence keys the partner already gave to the item that holds them.
    With `year`, the stage also plans within what the relationship year has left, keeping its
    reserve for the stages still to come: a must that does not fit is deferred (at a review, to a
    later one) or dropped, with the reason, like every item left out.
    """
    have, reused = set(existing), reused or {}
    stage_budget = library.budget(tier, stage)
    year_room = None if year is None else max(year.left - year.reserve, 0)
    effective = stage_budget if year_room is None else min(stage_budget, spent_minutes + year_room)
    selection = Selection(tier=tier, stage=stage, budget_minutes=effective, used_minutes=spent_minutes)
    new = 0  # minutes this call adds; `year.left` already counts the existing items
    candidates = sorted(library.items_for(stage=stage), key=lambda i: PRIORITY_ORDER[i.priority])
    for item in candidates:
        if item.id in have:
            continue
        why_not = _why_not(item, tier, profile) or _once_a_year(item, stage, year)
        if why_not is not None:
            selection.left_out.append(Choice(item, False, why_not))
            continue
        if item.evidence_key and item.evidence_key in reused:
            selection.chosen.append(Choice(item, True, "already given: evidence reused (ask once)"))
            continue
        cost = item.effort_minutes if item.burdens_partner else 0
        room = None if year_room is None else year_room - new
        over = _over_budget(item, cost, selection, stage_budget=stage_budget, year=year, year_room=room)
        if over is not None:
            selection.left_out.append(Choice(item, False, over))
            continue
        new += cost
        selection.used_minutes += cost
        selection.chosen.append(Choice(item, True, f"{item.priority} for the {tier} tier", cost))
    return selection


def _once_a_year(item: Item, stage: str, year: YearLimit | None) -> str | None:
    """Say why a yearly review item is not asked now (it was already asked this relationship year)."""
    if stage == "review" and item.every == "year" and year is not None and item.id in year.asked:
        return "asked once a year: already asked in this relationship year"
    return None


def _over_budget(
    item: Item,
    cost: int,
    selection: Selection,
    *,
    stage_budget: int,
    year: YearLimit | None,
    year_room: int | None,
) -> str | None:
    """Return why an item's minutes do not fit the stage or the year, or None if they fit."""
    used, tier, stage = selection.used_minutes, selection.tier, selection.stage
    if item.priority != "must" and used + cost > stage_budget:
        return f"over the partner-effort budget ({used}+{cost} > {stage_budget} min for {tier}/{stage})"
    if year is None or year_room is None or cost <= year_room:
        return None
    room = (
        f"the relationship year has {year.left} of its {year.budget} min left"
        f"{f' and keeps {year.reserve} for the stages to come' if year.reserve else ''}; {cost} needed"
    )
    if item.priority != "must":
        return f"over what the year allows: {room}"
    return f"deferred to a later review: {room}" if stage == "review" else f"dropped: {room}"
