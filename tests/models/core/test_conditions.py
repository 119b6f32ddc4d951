"""The one condition language: grammar, kinds and the messages of a bad condition."""

from __future__ import annotations

import pytest

from models.core.conditions import NUMBER, FactKind, FactSchema, all_hold

SCHEMA = FactSchema(
    {
        "ratio": FactKind(number=float, low=0, high=1),
        "days": NUMBER,
        "size": FactKind(choices=frozenset({"micro", "small"})),
        "country": FactKind(country=True),
    }
)


@pytest.mark.parametrize(
    ("text", "facts", "expected", "shown"),
    [
        ("ratio >= 0.5", {"ratio": 0.5}, True, "ratio >= 0.5"),
        ("days > 15", {"days": 15}, False, "days > 15"),
        ("days > 15", {"days": None}, False, "days > 15"),
        ("size in [micro, small]", {"size": "small"}, True, "size in [micro, small]"),
        ("size == 'micro'", {"size": "small"}, False, "size == micro"),
        ("country != cn", {"country": "cn"}, False, "country != CN"),
    ],
)
def test_conditions_parse_hold_and_print(
    text: str, facts: dict[str, object], expected: bool, shown: str
) -> None:
    condition = SCHEMA.parse(text)
    assert condition.holds(facts) is expected and str(condition) == shown
    assert SCHEMA.parse(shown) == condition  # what it prints parses back to itself


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mood > 1", "unknown fact 'mood'"),
        ("days > lots", "is not '<fact> <op> <number>'"),
        ("ratio > 2", "cannot be above 1"),
        ("size > micro", "only ==, != and in"),
        ("size in [huge]", "must be one of micro, small"),
        ("days in [1]", "`in` is not allowed"),
        ("size in micro", "takes a list"),
    ],
)
def test_bad_conditions_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SCHEMA.parse(text)


def test_no_conditions_always_hold() -> None:
    assert all_hold((), {}) and not all_hold((SCHEMA.parse("days > 1"),), {})
