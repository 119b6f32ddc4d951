"""Review periods: calendar quarters named like `2026Q4`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from models.core.errors import InputRejected, Problem

_PERIOD = re.compile(r"^(\d{4})Q([1-4])$")


@dataclass(frozen=True, order=True)
class Period:
    """One calendar quarter; its name sorts like the quarter itself."""

    year: int
    quarter: int

    @property
    def name(self) -> str:
        """Return the period's name, e.g. `2026Q4`."""
        return f"{self.year}Q{self.quarter}"

    @property
    def start(self) -> date:
        """Return the first day of the quarter."""
        return date(self.year, 3 * self.quarter - 2, 1)

    @property
    def end(self) -> date:
        """Return the last day of the quarter."""
        return self.shift(1).start - timedelta(days=1)

    def shift(self, quarters: int) -> Period:
        """Return the quarter `quarters` later (earlier if negative)."""
        index = self.year * 4 + self.quarter - 1 + quarters
        return Period(index // 4, index % 4 + 1)

    def __str__(self) -> str:
        return self.name


def parse_period(text: str, *, where: str = "period") -> Period:
    """Parse `2026Q4` into a Period, or raise InputRejected saying what is expected."""
    match = _PERIOD.match(text.strip().upper())
    if match is None:
        raise InputRejected([Problem(where, f"{text!r} is not a quarter like 2026Q4")])
    return Period(int(match.group(1)), int(match.group(2)))


def period_of(day: date) -> Period:
    """Return the quarter a date falls in."""
    return Period(day.year, (day.month - 1) // 3 + 1)


def last_complete_period(as_of: date) -> Period:
    """Return the latest quarter that ended before `as_of` (what a sweep on 1 January reviews)."""
    return period_of(as_of).shift(-1)
