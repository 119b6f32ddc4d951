"""Pure reminder logic: quiet hours and business days, item states, escalation thresholds, rules data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from models.checklists.due import EntryState, entry_state, escalation_level
from models.core.calendar import SendWindow, parse_business_days
from models.core.errors import InputRejected
from notifications.rules import load_rules, parse_rules

SHANGHAI = SendWindow(
    ZoneInfo("Asia/Shanghai"), quiet_start=20, quiet_end=8, business_days=frozenset(range(1, 6))
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daytime_on_a_business_day_is_allowed_as_is() -> None:
    at = utc(2026, 3, 3, 2, 30)  # Tuesday 10:30 in Shanghai
    assert SHANGHAI.next_allowed(at) == at


def test_night_waits_for_eight_the_next_morning_local() -> None:
    assert SHANGHAI.next_allowed(utc(2026, 3, 3, 13, 0)) == utc(2026, 3, 4, 0, 0)  # Tue 21:00 -> Wed 08:00
    assert SHANGHAI.next_allowed(utc(2026, 3, 3, 18, 0)) == utc(2026, 3, 4, 0, 0)  # Wed 02:00 -> 08:00


def test_weekend_waits_for_monday_morning_local() -> None:
    assert SHANGHAI.next_allowed(utc(2026, 3, 7, 3, 0)) == utc(2026, 3, 9, 0, 0)  # Sat 11:00 -> Mon 08:00
    # Friday 21:00 local is quiet and the next two days are the weekend.
    assert SHANGHAI.next_allowed(utc(2026, 3, 6, 13, 0)) == utc(2026, 3, 9, 0, 0)


def test_quiet_hours_inside_one_day_and_none_at_all() -> None:
    lunch = SendWindow(ZoneInfo("UTC"), quiet_start=12, quiet_end=14, business_days=frozenset(range(1, 8)))
    assert lunch.next_allowed(utc(2026, 3, 3, 12, 30)) == utc(2026, 3, 3, 14, 0)
    always = SendWindow(ZoneInfo("UTC"), quiet_start=0, quiet_end=0, business_days=frozenset(range(1, 8)))
    assert always.next_allowed(utc(2026, 3, 7, 3, 0)) == utc(2026, 3, 7, 3, 0)


def test_business_days_are_parsed_strictly() -> None:
    assert parse_business_days("1, 2,3") == {1, 2, 3}
    with pytest.raises(ValueError):
        parse_business_days("0,8")


def test_item_states_by_due_date() -> None:
    today = date(2026, 3, 3)
    assert entry_state(date(2026, 3, 6), today, due_soon_days=3) == (EntryState.due_soon, 3)
    assert entry_state(date(2026, 3, 7), today, due_soon_days=3) is None
    assert entry_state(date(2026, 3, 3), today, due_soon_days=0) == (EntryState.due_soon, 0)
    assert entry_state(date(2026, 2, 24), today, due_soon_days=3) == (EntryState.overdue, 7)


@pytest.mark.parametrize(
    ("tier", "days", "expected"),
    [
        ("light", 13, None),
        ("light", 14, "deputy"),
        ("light", 30, "sponsor"),
        ("standard", 6, None),
        ("standard", 7, "deputy"),
        ("standard", 21, "sponsor"),
        ("enhanced", 3, "deputy"),
        ("enhanced", 9, "deputy"),
        ("enhanced", 10, "sponsor"),
    ],
)
def test_escalation_thresholds_per_tier_come_from_the_rules(
    tier: str, days: int, expected: str | None
) -> None:
    rules = load_rules().for_tier(tier)
    found = escalation_level(
        days, deputy_after=rules.escalate_deputy_after_days, sponsor_after=rules.escalate_sponsor_after_days
    )
    assert found == expected


def test_partner_cadence_follows_the_tier_and_default_tier_applies_without_one() -> None:
    rules = load_rules()
    assert rules.for_tier("light").partner_digest_weekdays == [1]
    assert len(rules.for_tier("standard").partner_digest_weekdays) == 2
    assert rules.for_tier("enhanced").partner_digest_weekdays == [1, 2, 3, 4, 5]
    assert rules.for_tier(None) == rules.for_tier(rules.default_tier.value)


def test_rules_are_validated_strictly_with_every_problem() -> None:
    data = load_rules().model_dump(mode="json")
    data["tiers"]["light"]["surprise"] = 1
    data["staff_digest_weekdays"] = [0]
    with pytest.raises(InputRejected) as caught:
        parse_rules(data)
    assert "tiers.light.surprise" in str(caught.value) and "staff_digest_weekdays" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["tiers"].pop("enhanced"), "enhanced"),
        (lambda d: d["tiers"]["light"].update(escalate_sponsor_after_days=2), "greater than"),
        (lambda d: d["tiers"]["standard"].update(partner_digest_weekdays=[1, 1]), "distinct"),
    ],
)
def test_rules_refuse_missing_tiers_inverted_escalation_and_bad_weekdays(
    change: object, message: str
) -> None:
    data = load_rules().model_dump(mode="json")
    change(data)  # type: ignore[operator]
    with pytest.raises(InputRejected, match=message):
        parse_rules(data)
