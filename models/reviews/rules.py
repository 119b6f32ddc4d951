"""Review rules as data: conditions on a review's findings that raise actions, strictly validated."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PlainSerializer,
    PlainValidator,
    field_validator,
    model_validator,
)

from models.core.conditions import NUMBER, Condition, FactSchema
from models.core.data import load_data, parse_content
from models.core.validation import Text
from models.core.vocabulary import OurRoleName, OwnerSide

FACTS: tuple[str, ...] = (
    "health",
    "health_drop",
    "poor_streak",
    "late_share",
    "invoices_late",
    "invoices_late_by_law",
    "term_beyond_cap",
    "term_needs_justification",
    "invoices_noncash_stretch",
    "requests_open",
    "requests_overdue",
    "days_to_pay_worst",
    "overdue_items",
    "overdue_ours",
    "burden_ratio",
    "response_days_avg",
    "dependency_ratio",
    "key_person_flags",
    "partner_rates_us_lower",
    "missing_partner_scores",
)
ActionKind = Literal[
    "escalate_to_sponsor",
    "propose_exit_review",
    "add_risk",
    "discuss_at_review",
    "reduce_burden",
    "request_scores",
]
OwnerRole = OurRoleName  # a review action is owned by one of our people
# The partner's payment and confirmation requests are protected (no retaliation, e.g. Art. 20 of the
# Chinese SME payment regulation): a rule may read them only to act for the partner.
PROTECTED_FACTS = frozenset({"requests_open", "requests_overdue"})
ACTIONS_FOR_THE_PARTNER = frozenset({"escalate_to_sponsor", "discuss_at_review"})
Facts = Mapping[str, float | int | None]

# Every fact is a number; the one condition language (models.core.conditions) parses and tests them.
REVIEW_FACTS = FactSchema(dict.fromkeys(FACTS, NUMBER))
FactCondition = Condition  # a review rule's condition: `fact op number`
ConditionField = Annotated[Condition, PlainValidator(REVIEW_FACTS.parse), PlainSerializer(str)]


def parse_fact_condition(value: Any) -> Condition:
    """Parse `fact op number`, refusing unknown facts and anything that is not a number."""
    return REVIEW_FACTS.parse(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskSpec(_Strict):
    """The risk register entry an `add_risk` action writes."""

    key: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=60)
    created_by_side: OwnerSide
    likelihood: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)
    title: Text
    mitigation: Text


class ActionSpec(_Strict):
    """What a rule does when it fires."""

    kind: ActionKind
    owner_role: OwnerRole
    due_days: NonNegativeInt
    title: Text
    risk: RiskSpec | None = None

    @field_validator("title")
    @classmethod
    def _known_placeholders(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            for _, name, _, _ in string.Formatter().parse(text):
                if name is not None and name not in FACTS:
                    raise ValueError(f"title names unknown fact {{{name}}}")
        return value

    @model_validator(mode="after")
    def _risk_only_for_add_risk(self) -> ActionSpec:
        if (self.kind == "add_risk") != (self.risk is not None):
            raise ValueError("an add_risk action needs `risk`, and only it may have one")
        return self


class Rule(_Strict):
    """One rule: when every condition holds, raise the action."""

    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=60)
    when: tuple[ConditionField, ...] = Field(min_length=1)
    action: ActionSpec

    @model_validator(mode="after")
    def _no_retaliation(self) -> Rule:
        titles = self.action.title.values()
        named = {name for text in titles for _, name, _, _ in string.Formatter().parse(text) if name}
        protected = sorted(({c.fact for c in self.when} | named) & PROTECTED_FACTS)
        if protected and self.action.kind not in ACTIONS_FOR_THE_PARTNER:
            raise ValueError(
                f"{', '.join(protected)} record the partner's protected requests: a rule reading them may "
                f"only {' or '.join(sorted(ACTIONS_FOR_THE_PARTNER))}, not {self.action.kind}"
            )
        return self


class RuleBook(_Strict):
    """The review rule table."""

    version: int = Field(ge=1)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleBook:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule id(s) used twice: {', '.join(dupes)}")
        return self


@dataclass(frozen=True)
class Fired:
    """A rule that fired for one review, with its title filled in."""

    rule_id: str
    kind: str
    owner_role: str
    due_days: int
    title: dict[str, str]
    facts: dict[str, Any]
    risk: RiskSpec | None


def parse_rules(text: str, *, source: str = "review_rules.yaml") -> RuleBook:
    """Validate a rules YAML text, raising InputRejected with every problem."""
    return parse_content(text, RuleBook, source=source, summary="review rules rejected")


@lru_cache(maxsize=4)
def load_rules(path: Path | None = None) -> RuleBook:
    """Load the shipped rules (or a file given for testing)."""
    if path is not None:
        return parse_rules(path.read_text(encoding="utf-8"), source=path.name)
    return load_data("review_rules.yaml", RuleBook)


def _shown(facts: Facts) -> dict[str, Any]:
    """Return the facts as action titles show them: '-' for missing, floats without trailing zeros."""
    values = {}
    for name in FACTS:
        value = facts.get(name)
        values[name] = "-" if value is None else f"{value:g}" if isinstance(value, float) else value
    return values


def evaluate(facts: Facts, rules: RuleBook | None = None) -> list[Fired]:
    """Return the rules whose conditions all hold for these findings, in rule order."""
    book = rules or load_rules()
    fired = []
    shown: dict[str, Any] | None = None
    for rule in book.rules:
        if all(c.holds(facts) for c in rule.when):
            used = {c.fact: facts.get(c.fact) for c in rule.when}
            shown = shown if shown is not None else _shown(facts)
            fired.append(
                Fired(
                    rule_id=rule.id,
                    kind=rule.action.kind,
                    owner_role=rule.action.owner_role,
                    due_days=rule.action.due_days,
                    title={lang: text.format_map(shown) for lang, text in rule.action.title.items()},
                    facts=used,
                    risk=rule.action.risk,
                )
            )
    return fired
