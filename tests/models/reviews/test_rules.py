"""Review rules as data: which findings raise which actions, and strict validation of the rule file."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from models.core.errors import InputRejected
from models.reviews.rules import FACTS, evaluate, load_rules, parse_rules


def facts(**values: Any) -> dict[str, Any]:
    """Return findings of a healthy relationship, with some values changed."""
    base: dict[str, Any] = dict.fromkeys(FACTS, 0)
    base.update(health=80, health_drop=None, dependency_ratio=0.2, burden_ratio=0.5, response_days_avg=2)
    base.update(values)
    return base


def fired(**values: Any) -> list[str]:
    return [f.rule_id for f in evaluate(facts(**values))]


def test_a_healthy_relationship_raises_nothing() -> None:
    assert fired() == []


def test_health_drop_of_15_points_escalates_to_the_sponsor() -> None:
    assert fired(health_drop=14) == []
    (action,) = evaluate(facts(health_drop=15))
    assert action.kind == "escalate_to_sponsor" and action.owner_role == "sponsor"
    assert "15" in action.title["en"] and "15" in action.title["zh-CN"]


def test_late_under_the_payment_law_escalates() -> None:
    assert fired(invoices_late=2, invoices_late_by_law=0) == []  # a large partner: its contract only
    (action,) = evaluate(facts(invoices_late=2, invoices_late_by_law=2))
    assert action.rule_id == "escalate-late-by-law" and action.kind == "escalate_to_sponsor"
    assert "2 invoice(s)" in action.title["en"] and "legal limit" not in action.title["en"]


def test_term_findings_noncash_stretch_and_unanswered_requests_raise_their_actions() -> None:
    assert fired(term_beyond_cap=1) == ["escalate-term-beyond-cap"]
    assert fired(term_needs_justification=1) == ["justify-long-term"]
    assert fired(invoices_noncash_stretch=1) == ["escalate-noncash-stretch"]
    assert fired(requests_open=3) == []  # asking is the partner's right, not a finding
    (action,) = evaluate(facts(requests_open=3, requests_overdue=1))
    assert action.rule_id == "escalate-requests-unanswered" and action.owner_role == "sponsor"


@pytest.mark.parametrize("kind", ["propose_exit_review", "reduce_burden", "request_scores"])
def test_no_rule_may_act_against_a_partner_for_its_protected_requests(kind: str) -> None:
    data = shipped()
    data["rules"][0]["when"] = ["requests_open >= 2"]
    data["rules"][0]["action"]["kind"] = kind
    with pytest.raises(InputRejected) as caught:
        parse_rules(yaml.safe_dump(data, allow_unicode=True))
    assert "protected requests" in str(caught.value)
    # A title may not name them either when the action is not for the partner.
    data = shipped()
    data["rules"][0]["action"].update(kind=kind, title={"en": "asked {requests_open} times", "zh-CN": "x"})
    with pytest.raises(InputRejected):
        parse_rules(yaml.safe_dump(data, allow_unicode=True))


def test_three_poor_periods_propose_an_exit_review() -> None:
    assert fired(poor_streak=2) == []
    assert fired(poor_streak=3) == ["propose-exit-review"]


def test_high_dependency_with_a_key_person_flag_adds_a_risk_we_create() -> None:
    assert fired(dependency_ratio=0.6, key_person_flags=0) == []
    assert fired(dependency_ratio=0.5, key_person_flags=1) == []
    (action,) = evaluate(facts(dependency_ratio=0.6, key_person_flags=1))
    assert action.kind == "add_risk" and action.risk is not None
    assert action.risk.key == "dependency-key-person" and action.risk.created_by_side == "ours"


def test_gaps_burden_and_missing_scores_raise_their_actions() -> None:
    assert fired(partner_rates_us_lower=2) == ["discuss-scorecard-gaps"]
    assert fired(burden_ratio=1.2) == ["reduce-burden"]
    assert fired(missing_partner_scores=12) == ["request-partner-scores"]


def test_unknown_facts_never_hold() -> None:
    assert fired(health_drop=None, poor_streak=None) == []


def shipped() -> dict[str, Any]:
    return load_rules().model_dump(mode="json")


def _risk_rule(data: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in data["rules"] if r["action"]["kind"] == "add_risk")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rules"][0].update(when=["mood >= 3"]), "unknown fact 'mood'"),
        (lambda d: d["rules"][0].update(when=["health_drop >= lots"]), "is not '<fact> <op> <number>'"),
        (lambda d: d["rules"][0].update(when=[]), "at least 1"),
        (lambda d: d["rules"][0]["action"].update(kind="fire_partner"), "kind"),
        (
            lambda d: d["rules"][0]["action"].update(title={"en": "x {mood}", "zh-CN": "x"}),
            "unknown fact {mood}",
        ),
        (lambda d: d["rules"][0]["action"].update(title={"en": "only English"}), "en and zh-CN"),
        (lambda d: _risk_rule(d)["action"].update(risk=None), "needs `risk`"),
        (lambda d: _risk_rule(d)["action"]["risk"].update(likelihood=9), "less than or equal to 5"),
        (lambda d: d["rules"][1].update(id=d["rules"][0]["id"]), "used twice"),
        (lambda d: d["rules"][0].update(extra=1), "Extra inputs"),
    ],
)
def test_the_rule_file_is_validated_strictly(change: Any, message: str) -> None:
    data = shipped()
    change(data)
    with pytest.raises(InputRejected) as caught:
        parse_rules(yaml.safe_dump(data, allow_unicode=True))
    assert message in str(caught.value)
