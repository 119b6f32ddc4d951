"""The one condition language of Tandem's rule files: library items, tier rules and review rules.

Grammar, one condition a string; a rule holds when all of its conditions hold:

    condition := fact op value
    fact      := a lower_snake name the file's `FactSchema` knows
    op        := ">=" | "<=" | ">" | "<" | "==" | "!="   numbers; words take only == and !=
               | "in"                                    a word in a list: `size_class in [micro, small]`
    value     := number | word (quotes optional) | "[" word ("," word)* "]"

A fact with no value (None) makes its condition false: a review without scores asks for none.
Each file names its facts and their kinds once (`FactSchema`); parsing refuses unknown facts,
values of the wrong kind and words outside a fact's choices, with a message saying which.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from models.core.validation import COMPARISONS

_SYNTAX = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|==|!=|>|<|\sin\s)\s*(.+?)\s*$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
Value = float | int | str | tuple[str, ...]


@dataclass(frozen=True)
class FactKind:
    """What values one fact takes: a number (with bounds) or a word (from choices, or a country code)."""

    number: type[int] | type[float] | None = None  # None: the fact is a word
    low: float | None = None
    high: float | None = None
    choices: frozenset[str] | None = None
    country: bool = False  # an ISO 3166 alpha-2 code, compared in capitals


NUMBER = FactKind(number=float)


@dataclass(frozen=True)
class Condition:
    """One parsed `fact op value` test."""

    fact: str
    op: str
    value: Value
    kind: FactKind

    def holds(self, facts: Mapping[str, object]) -> bool:
        """Return whether the facts satisfy this condition; a fact without a value never does."""
        fact = facts.get(self.fact)
        if fact is None:
            return False
        if self.kind.number is not None:
            if isinstance(fact, bool) or not isinstance(fact, int | float):
                raise TypeError(f"fact {self.fact!r} must be a number, got {fact!r}")
            return bool(COMPARISONS[self.op](fact, self.value))
        text = str(fact).upper() if self.kind.country else str(fact)
        if isinstance(self.value, tuple):  # `in`
            return text in self.value
        return bool(COMPARISONS[self.op](text, self.value))

    def __str__(self) -> str:
        if isinstance(self.value, tuple):
            return f"{self.fact} in [{', '.join(self.value)}]"
        if isinstance(self.value, float):
            return f"{self.fact} {self.op} {self.value:g}"
        return f"{self.fact} {self.op} {self.value}"


@dataclass(frozen=True)
class FactSchema:
    """The facts one rule file may test, and their kinds; parses that file's conditions."""

    kinds: Mapping[str, FactKind]
    noun: str = "fact"  # how the file's messages call a fact

    def parse(self, text: object) -> Condition:
        """Parse `fact op value`, or raise ValueError saying what is wrong."""
        if isinstance(text, Condition):
            return text
        match = _SYNTAX.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"condition {text!r} is not '<{self.noun}> <op> <value>'")
        name, op, raw = match.group(1), match.group(2).strip(), match.group(3)
        kind = self.kinds.get(name)
        if kind is None:
            known = ", ".join(self.kinds)
            raise ValueError(f"condition {text!r}: unknown {self.noun} {name!r} (known: {known})")
        if kind.number is not None:
            if op == "in":
                raise ValueError(f"condition {text!r}: {name} is a number, so `in` is not allowed")
            if not _NUMBER.fullmatch(raw):
                raise ValueError(f"condition {text!r} is not '<{self.noun}> <op> <number>'")
            return Condition(name, op, _number(name, raw, kind), kind)
        if op == "in":
            words = _list(str(text), raw)
            return Condition(name, op, tuple(_word(text, name, w, kind) for w in words), kind)
        if op not in ("==", "!="):
            raise ValueError(f"condition {text!r}: {name} is text, so only ==, != and in are allowed")
        return Condition(name, op, _word(text, name, raw.strip("'\""), kind), kind)


def all_hold(conditions: tuple[Condition, ...] | list[Condition], facts: Mapping[str, object]) -> bool:
    """Return whether every condition holds (no conditions: true)."""
    return all(c.holds(facts) for c in conditions)


def _number(name: str, raw: str, kind: FactKind) -> float | int:
    assert kind.number is not None
    try:
        value: float | int = kind.number(raw)
    except ValueError as exc:
        raise ValueError(f"{name} needs a {kind.number.__name__} value, got {raw!r}") from exc
    if kind.low is not None and value < kind.low:
        raise ValueError(f"{name} cannot be below {kind.low:g}, got {raw}")
    if kind.high is not None and value > kind.high:
        raise ValueError(f"{name} cannot be above {kind.high:g}, got {raw}")
    return value


def _list(text: str, raw: str) -> list[str]:
    if not (raw.startswith("[") and raw.endswith("]")):
        raise ValueError(f"condition {text!r}: `in` takes a list like [micro, small]")
    words = [w.strip().strip("'\"") for w in raw[1:-1].split(",")]
    if not all(words):
        raise ValueError(f"condition {text!r}: the list has an empty entry")
    return words


def _word(text: object, name: str, raw: str, kind: FactKind) -> str:
    if kind.country:
        if not re.fullmatch(r"[A-Za-z]{2}", raw):
            raise ValueError(f"condition {text!r}: {name} must be a 2-letter code like CN")
        return raw.upper()
    if kind.choices is not None and raw not in kind.choices:
        raise ValueError(f"condition {text!r}: {name} must be one of {', '.join(sorted(kind.choices))}")
    return raw
