"""Health score (0 to 100) of a relationship from its KPIs and scorecards (weights as data), and its trend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt

from models.core.data import load_data

Component = Literal[
    "payment_timeliness",
    "days_to_pay",
    "checklist_completion",
    "overdue_items",
    "partner_burden",
    "responsiveness",
    "partner_scorecard",
    "our_scorecard",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scales(_Strict):
    """Where each component reaches 0."""

    days_to_pay_zero_at_factor: PositiveFloat
    overdue_items_zero_at: PositiveInt
    burden_zero_at_ratio: PositiveFloat = Field(gt=1)
    response_target_days: NonNegativeInt
    response_zero_at_days: PositiveInt


class Trend(_Strict):
    """How a change in health is named."""

    flat_within_points: NonNegativeInt
    history_periods: PositiveInt


class HealthWeights(_Strict):
    """The health model: component weights, scales, trend naming and thresholds."""

    version: PositiveInt
    weights: dict[Component, PositiveFloat] = Field(min_length=1)
    scales: Scales
    trend: Trend
    poor_below: int = Field(ge=0, le=100)
    scorecard_gap_points: PositiveInt


@lru_cache(maxsize=1)
def health_weights() -> HealthWeights:
    """Load and validate the shipped health model."""
    return load_data("health_weights.yaml", HealthWeights)


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def _falling(value: float, *, good_until: float, zero_at: float) -> float:
    """Return 1 up to `good_until`, falling linearly to 0 at `zero_at`."""
    if value <= good_until:
        return 1.0
    return _clamp(1 - (value - good_until) / (zero_at - good_until))


def _scorecard(avg: float | None) -> float | None:
    return None if avg is None else _clamp((avg - 1) / 4)


def components(kpis: Mapping[str, Any], model: HealthWeights | None = None) -> dict[str, float | None]:
    """Return each health component on 0..1, or None where the period has no data for it."""
    model = model or health_weights()
    s = model.scales
    pay, items, resp, cards = kpis["payments"], kpis["checklist"], kpis["response"], kpis["scorecards"]
    due = max(pay["due_days"], 1)
    worst = pay["days_to_pay_worst"]
    return {
        "payment_timeliness": None if pay["late_share"] is None else _clamp(1 - pay["late_share"]),
        "days_to_pay": None
        if worst is None
        else _falling(worst, good_until=due, zero_at=due * s.days_to_pay_zero_at_factor),
        "checklist_completion": items["completion"],
        "overdue_items": _clamp(1 - items["overdue_items"] / s.overdue_items_zero_at),
        "partner_burden": None
        if items["burden_ratio"] is None
        else _falling(items["burden_ratio"], good_until=1, zero_at=s.burden_zero_at_ratio),
        "responsiveness": None
        if resp["response_days_avg"] is None
        else _falling(
            resp["response_days_avg"], good_until=s.response_target_days, zero_at=s.response_zero_at_days
        ),
        "partner_scorecard": _scorecard(cards["partner_avg"]),
        "our_scorecard": _scorecard(cards["ours_avg"]),
    }


def health_score(parts: Mapping[str, float | None], model: HealthWeights | None = None) -> int | None:
    """Return the weighted health 0..100 over the components that have data (None if none has)."""
    model = model or health_weights()
    present = {name: w for name, w in model.weights.items() if parts.get(name) is not None}
    if not present:
        return None
    total = sum(present.values())
    return round(100 * sum(w * float(parts[name] or 0) for name, w in present.items()) / total)


def trend(
    current: int | None, history: Sequence[int | None], model: HealthWeights | None = None
) -> tuple[str, int | None]:
    """Return the trend (new, up, down, flat) and the change since the last scored period."""
    model = model or health_weights()
    previous = next((h for h in history if h is not None), None)  # history is newest first
    if current is None or previous is None:
        return "new", None
    delta = current - previous
    if abs(delta) < model.trend.flat_within_points:
        return "flat", delta
    return ("up" if delta > 0 else "down"), delta


def poor_streak(
    current: int | None, history: Sequence[int | None], model: HealthWeights | None = None
) -> int:
    """Return how many periods in a row, ending now, scored poor (newest-first history)."""
    model = model or health_weights()
    streak = 0
    for value in [current, *history]:
        if value is None or value >= model.poor_below:
            break
        streak += 1
    return streak
