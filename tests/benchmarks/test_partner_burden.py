"""The partner-burden benchmark's goals, as behaviour: a silent light-tier partner over a whole year.

The same simulation as `python -m benchmarks.partner_burden`, on a smaller portfolio (one partner
that stays, one that exits in month 9) and the test's own database. Counts only, never time.
"""

from __future__ import annotations

import pytest

from benchmarks import partner_burden
from models.core.settings import get_settings

pytestmark = pytest.mark.slow  # a whole simulated year, about half a minute


@pytest.fixture
def organization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_TIMEZONE", partner_burden.TIMEZONE)
    monkeypatch.setenv("TANDEM_ORGANIZATION_NAME", "BigCo Manufacturing")
    get_settings.cache_clear()


def test_a_light_partner_who_never_answers_keeps_within_the_promise(organization: None) -> None:
    portfolio = partner_burden.seed(2, tiers=("light",))
    light = partner_burden.live(portfolio, "never_answers", years=1)["light"]
    assert light["tiers_given"] == ["light"] and light["exits"] == 1
    assert light["onboarding_minutes"] <= 60 and light["year1_minutes"] <= 120
    assert light["max_messages_per_month"] <= 4 and light["max_messages_per_day"] == 1
    assert light["messages_after_exit"] == 0  # the exit notice only
    assert light["items_asked_more_than_twice"] == 0
    assert light["clauses_covered"] == 12
