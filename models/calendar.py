"""Business days and dates in the organization's timezone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

from models.base import utcnow
from models.settings import get_settings


def today_local(now: datetime | None = None) -> date:
    """Return today's date in the organization's timezone."""
    return (now or utcnow()).astimezone(get_settings().tz).date()


@lru_cache(maxsize=4096)  # pure, and a sweep asks the same few (start, days) pairs thousands of times
def add_business_days(start: date, days: int) -> date:
    """Return the date `days` business days (Monday to Friday) after `start`."""
    current = start
    # A start on a weekend counts from the next Monday, so day 0 is a working day too.
    while current.weekday() >= 5:
        current += timedelta(days=1)
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def add_months(start: date, months: int) -> date:
    """Return the same day `months` later, clamped to the month's end."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise ValueError(f"cannot add {months} months to {start}")
