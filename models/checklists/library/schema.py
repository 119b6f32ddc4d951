"""Shapes of the checklist content library: YAML files, items, budgets and item conditions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PlainSerializer,
    PlainValidator,
    PositiveInt,
    StringConstraints,
    field_validator,
)

from models.core.conditions import Condition as Condition  # re-exported: the library's conditions
from models.core.conditions import FactKind, FactSchema, all_hold

# Re-exported: the library's names are the vocabulary's.
from models.core.vocabulary import (
    CHECKLIST_STAGES,
    ChecklistStage,
    CriticalityName,
    Language,
    RelationshipRole,
    TierName,
)
from models.core.vocabulary import CLAUSES as CLAUSES
from models.core.vocabulary import CRITICALITIES as CRITICALITIES
from models.core.vocabulary import PARTNER_ROLES as RELATIONSHIP_PARTNER_ROLES
from models.core.vocabulary import SIZE_CLASSES as SIZE_CLASSES
from models.core.vocabulary import TIERS as TIERS
from models.core.vocabulary import Clause as Clause
from models.core.vocabulary import OwnerSide as OwnerSide
from models.core.vocabulary import Priority as Priority
from models.core.vocabulary import SizeClass as SizeClass

Stage = ChecklistStage
Tier = TierName
Criticality = CriticalityName
Locale = Language
# Events that ask an item when they happen instead of at every stage (see ItemSpec.event).
Event = Literal["key_person_change"]
# How often a review item is asked: at every review, or at the first review of a relationship year.
Every = Literal["review", "year"]
EVENT_TEXT: dict[str, str] = {"key_person_change": "our manager or deputy changes"}

STAGES = CHECKLIST_STAGES
# Owner roles are the relationship's roles, named as everywhere else (models/core/vocabulary.py).
FIXED_ROLES = frozenset(role.value for role in RelationshipRole)
PARTNER_ROLES = frozenset(role.value for role in RELATIONSHIP_PARTNER_ROLES)

_ID = r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$"
Identifier = Annotated[str, StringConstraints(pattern=_ID, max_length=120)]
LocalizedText = dict[str, str]


# ---------------------------------------------------------------- conditions

# What a library condition may test, in the one condition language (models.core.conditions).
LIBRARY_FACTS = FactSchema(
    {
        "dependency_ratio": FactKind(number=float, low=0, high=1),  # a share of the partner's revenue
        "payment_term_days": FactKind(number=int, low=0),
        "employees": FactKind(number=int, low=0),
        "country": FactKind(country=True),  # any ISO 3166 alpha-2 code
        "criticality": FactKind(choices=frozenset(CRITICALITIES)),
        "size_class": FactKind(choices=frozenset(SIZE_CLASSES)),
    },
    noun="field",
)


def parse_condition(text: str) -> Condition:
    """Parse `<field> <op> <value>` into a Condition, or raise ValueError saying what is wrong."""
    return LIBRARY_FACTS.parse(text)


ConditionField = Annotated[Condition, PlainValidator(LIBRARY_FACTS.parse), PlainSerializer(str)]


# ---------------------------------------------------------------- YAML shapes


class Strict(BaseModel):
    """Base of every library shape: unknown fields are errors, parsed values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Applies(Strict):
    """Where an item applies; an omitted key means no restriction."""

    tiers: tuple[Tier, ...] | None = None
    size_classes: tuple[SizeClass, ...] | None = None
    criticality: tuple[Criticality, ...] | None = None
    conditions: tuple[ConditionField, ...] = ()

    def matches(
        self,
        *,
        tier: str | None = None,
        size_class: str | None = None,
        criticality: str | None = None,
        facts: Mapping[str, object] | None = None,
    ) -> bool:
        """Return whether these restrictions admit the given profile (None = not checked)."""
        checks = (
            (self.tiers, tier),
            (self.size_classes, size_class),
            (self.criticality, criticality),
        )
        if any(
            allowed is not None and value is not None and value not in allowed for allowed, value in checks
        ):
            return False
        if facts is None:
            return True
        return all_hold(self.conditions, facts)


class ItemSpec(Strict):
    """One checklist item as written in a library file."""

    id: Identifier
    clause: Clause
    stages: tuple[Stage, ...] = Field(min_length=1)
    owner_side: OwnerSide
    owner_role: str
    title: LocalizedText
    # Shown to the partner for a joint item (its `title` is written for our staff); a partner item's
    # own title is already in the partner's voice.
    partner_title: LocalizedText | None = None
    guidance: LocalizedText
    evidence: LocalizedText
    # For partner and joint items, in the partner's voice: what to send or bring, what happens next.
    send: LocalizedText | None = None
    next: LocalizedText | None = None
    applies: Applies = Applies()
    effort_minutes: NonNegativeInt
    # Why the minutes are what they are: what the partner actually has to find, read, write or sign.
    effort_basis: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=400)]
    priority: Priority
    due_offset_days: NonNegativeInt
    required: bool | None = None
    protects_msme: bool = False
    evidence_key: Identifier | None = None
    # Asked when the event happens (on its stage's checklist of that quarter), never by generation.
    event: Event | None = None
    every: Every = "review"

    @field_validator("stages")
    @classmethod
    def _distinct_stages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("stages are listed twice")
        return value

    @field_validator("owner_role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value in FIXED_ROLES or re.fullmatch(r"team:[a-z][a-z0-9-]*", value):
            return value
        names = ", ".join(role.value for role in RelationshipRole)
        raise ValueError(f"unknown owner_role {value!r}: use {names} or team:<tag> with a lowercase tag")

    @property
    def is_required(self) -> bool:
        """Return whether the item must be done to complete its stage."""
        return self.priority == "must" if self.required is None else self.required

    @property
    def burdens_partner(self) -> bool:
        """Return whether the partner spends effort on this item."""
        return self.owner_side in ("partner", "joint")

    def partner_ask(self, lang: str) -> str:
        """Return the item's title as the partner reads it."""
        text = self.partner_title or self.title
        return text.get(lang) or text.get("en", self.id)


class Item(ItemSpec):
    """A checklist item as loaded, with the file it came from."""

    source_file: str
    file_version: PositiveInt

    def applies_to(
        self,
        *,
        tier: str | None = None,
        size_class: str | None = None,
        criticality: str | None = None,
        facts: Mapping[str, object] | None = None,
    ) -> bool:
        """Return whether the item applies to a relationship with this profile."""
        return self.applies.matches(tier=tier, size_class=size_class, criticality=criticality, facts=facts)


class FileHeader(Strict):
    """The top of a library file; its items are validated one by one."""

    id: Identifier
    clause: Clause
    version: PositiveInt
    locales: tuple[Locale, ...] = Field(min_length=1)
    title: LocalizedText
    items: list[Any] = Field(min_length=1)


class StageBudget(Strict):
    """Partner minutes allowed per stage."""

    onboarding: NonNegativeInt
    governance: NonNegativeInt
    review: NonNegativeInt
    exit: NonNegativeInt


class TierBudgets(Strict):
    """Partner minutes allowed per tier."""

    light: StageBudget
    standard: StageBudget
    enhanced: StageBudget


class TierMonths(Strict):
    """Months between periodic reviews per tier."""

    light: PositiveInt
    standard: PositiveInt
    enhanced: PositiveInt


class TierCounts(Strict):
    """One positive count per tier."""

    light: PositiveInt
    standard: PositiveInt
    enhanced: PositiveInt


class YearMinutes(Strict):
    """Partner minutes allowed in a relationship year: the first, and each later one."""

    first: PositiveInt
    later: PositiveInt


class TierYears(Strict):
    """Partner minutes per relationship year, per tier."""

    light: YearMinutes
    standard: YearMinutes
    enhanced: YearMinutes


class BudgetsSpec(Strict):
    """The budgets file: partner effort per tier, stage and year, messages a month, review cadence."""

    version: PositiveInt
    budgets: TierBudgets
    year_minutes: TierYears
    messages_per_month: TierCounts
    review_cadence_months: TierMonths
