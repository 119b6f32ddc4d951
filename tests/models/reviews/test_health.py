"""Health score and trend from known KPIs; missing scores are left out; a lower partner score is a finding."""

from __future__ import annotations

from typing import Any

import pytest

from models.core.errors import InputRejected
from models.reviews.health import HealthWeights, components, health_score, health_weights, poor_streak, trend
from models.reviews.scorecards import PRINCIPLES, compare, parse_scores


def kpis(**changes: Any) -> dict[str, Any]:
    """Return KPIs of a relationship that does everything right, with some values changed."""
    data: dict[str, Any] = {
        "payments": {"late_share": 0.0, "days_to_pay_worst": 40, "due_days": 60},
        "checklist": {"completion": 1.0, "overdue_items": 0, "burden_ratio": 0.5},
        "response": {"response_days_avg": 2.0},
        "scorecards": {"partner_avg": 5.0, "ours_avg": 5.0},
    }
    for path, value in changes.items():
        section, key = path.split("__")
        data[section][key] = value
    return data


def test_perfect_relationship_scores_100() -> None:
    assert health_score(components(kpis())) == 100


def test_late_payments_cost_their_weight() -> None:
    # Half the invoices late (timeliness 0.5) and worst at 90 of 60 days (0.5): weights 25 and 10 of 100.
    parts = components(kpis(payments__late_share=0.5, payments__days_to_pay_worst=90))
    assert parts["payment_timeliness"] == 0.5 and parts["days_to_pay"] == 0.5
    assert health_score(parts) == round(100 - 12.5 - 5)


def test_missing_partner_scores_are_left_out_not_counted_as_zero() -> None:
    parts = components(
        kpis(scorecards__partner_avg=None, payments__late_share=None, payments__days_to_pay_worst=None)
    )
    assert parts["partner_scorecard"] is None and parts["payment_timeliness"] is None
    assert health_score(parts) == 100
    model = health_weights()
    low = components(kpis(scorecards__partner_avg=None, scorecards__ours_avg=1.0))
    present = sum(w for name, w in model.weights.items() if name != "partner_scorecard")
    assert health_score(low) == round(100 * (present - model.weights["our_scorecard"]) / present)
    assert health_score({}) is None


def test_weights_come_from_data_and_unknown_components_are_refused() -> None:
    data = health_weights().model_dump()
    data["weights"] = {"payment_timeliness": 1}
    only_payments = HealthWeights.model_validate(data)
    assert health_score(components(kpis(payments__late_share=0.25), only_payments), only_payments) == 75
    data["weights"] = {"vibes": 1}
    with pytest.raises(ValueError, match="vibes"):
        HealthWeights.model_validate(data)


def test_trend_and_poor_streak_over_past_periods() -> None:
    assert trend(70, []) == ("new", None)
    assert trend(70, [None, 90]) == ("down", -20)  # the last scored period counts
    assert trend(72, [70]) == ("flat", 2)
    assert trend(80, [70]) == ("up", 10)
    assert poor_streak(40, [45, 30, 80]) == 3
    assert poor_streak(40, [60, 30]) == 1
    assert poor_streak(60, [30, 30]) == 0


def test_partner_scoring_us_lower_than_we_score_ourselves_is_a_finding() -> None:
    ours = dict.fromkeys(PRINCIPLES, 4)
    partner = {**dict.fromkeys(PRINCIPLES, 4), "5.7": 2, "5.9": 5}
    del partner["5.12"]
    result = compare(ours, partner)
    assert result["partner_rates_us_lower"] == ["5.7"]
    row = next(r for r in result["rows"] if r["principle"] == "5.7")
    assert (row["ours"], row["partner"], row["gap"], row["partner_lower"]) == (4, 2, -2, True)
    assert result["missing_partner"] == ["5.12"] and result["missing_ours"] == []
    assert result["ours_avg"] == 4.0 and result["partner_avg"] == round((4 * 9 + 2 + 5) / 11, 2)


def test_scores_yaml_is_validated_strictly() -> None:
    good = parse_scores("scores:\n  '5.1': 4\n  '5.10': {score: 2, comment: slow answers}\n")
    assert [(s.principle, s.score, s.comment) for s in good] == [
        ("5.1", 4, None),
        ("5.10", 2, "slow answers"),
    ]
    with pytest.raises(InputRejected) as caught:
        parse_scores("scores:\n  5.10: 4\n  '5.13': 3\n  '5.2': 6\n  '5.3': {score: 3, note: x}\n")
    text = str(caught.value)
    assert "must be quoted" in text and "unknown principle" in text and "1 to 5" in text and "note" in text
    with pytest.raises(InputRejected, match="top-level key"):
        parse_scores("- 4\n")
