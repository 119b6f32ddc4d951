"""Reminder rules as data: the packaged YAML, validated strictly."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.core.data import load_data
from models.core.errors import InputRejected
from models.core.validation import problems_from
from models.tables.core import Tier

Weekdays = list[int]


def _weekdays(value: Weekdays) -> Weekdays:
    if not value or any(day not in range(1, 8) for day in value) or len(set(value)) != len(value):
        raise ValueError(f"weekdays must be distinct ISO days 1..7, not {value}")
    return sorted(value)


class TierRules(BaseModel):
    """When to remind and escalate for one governance tier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    due_soon_days: int = Field(ge=0, le=60)
    escalate_deputy_after_days: int = Field(ge=1, le=365)
    escalate_sponsor_after_days: int = Field(ge=1, le=365)
    partner_digest_weekdays: Weekdays

    _check_days = field_validator("partner_digest_weekdays")(_weekdays)

    @model_validator(mode="after")
    def _sponsor_after_deputy(self) -> TierRules:
        if self.escalate_sponsor_after_days <= self.escalate_deputy_after_days:
            raise ValueError("escalate_sponsor_after_days must be greater than escalate_deputy_after_days")
        return self


class PerPriority(BaseModel):
    """How many times a partner is reminded of one item, by the item's priority."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    must: int = Field(ge=0, le=10)
    should: int = Field(ge=0, le=10)
    could: int = Field(ge=0, le=10)

    def of(self, priority: str) -> int:
        """Return the cap of a priority (an unknown one is treated as must)."""
        return int(getattr(self, priority, self.must))


class ReminderRules(BaseModel):
    """Every tier's reminder rules plus the cadence of staff and team digests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    default_tier: Tier
    staff_digest_weekdays: Weekdays
    team_digest_weekdays: Weekdays
    partner_reminders_per_item: PerPriority
    partner_reminder_gap_days: int = Field(ge=1, le=60)
    notice_reserve_per_month: int = Field(ge=0, le=10)
    tiers: dict[Tier, TierRules]

    _check_days = field_validator("staff_digest_weekdays", "team_digest_weekdays")(_weekdays)

    @field_validator("tiers")
    @classmethod
    def _every_tier(cls, value: dict[Tier, TierRules]) -> dict[Tier, TierRules]:
        missing = [tier.value for tier in Tier if tier not in value]
        if missing:
            raise ValueError(f"rules missing for tier(s): {', '.join(missing)}")
        return value

    def for_tier(self, tier: str | None) -> TierRules:
        """Return the rules of a tier, or of the default tier when none is set yet."""
        return self.tiers[Tier(tier) if tier is not None and tier in Tier.__members__ else self.default_tier]


def parse_rules(data: Any, *, where: str = "reminder_rules.yaml") -> ReminderRules:
    """Validate rules data, raising InputRejected with every problem."""
    try:
        return ReminderRules.model_validate(data)
    except ValidationError as exc:
        raise InputRejected(problems_from(exc, where=where), summary="reminder rules rejected") from exc


@lru_cache(maxsize=1)
def load_rules() -> ReminderRules:
    """Load the packaged reminder rules."""
    return load_data("reminder_rules.yaml", ReminderRules)
