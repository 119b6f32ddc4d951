"""Business days, dates in the organization's timezone, and the send window (quiet hours) of a timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from models.core.base import utcnow
from models.core.settings import get_settings


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


@dataclass(frozen=True)
class SendWindow:
    """When messages may go out in one timezone: business days outside quiet hours."""

    tz: ZoneInfo
    quiet_start: int
    quiet_end: int
    business_days: frozenset[int]

    def is_quiet_hour(self, hour: int) -> bool:
        """Return whether a local hour falls in quiet hours (which may wrap past midnight)."""
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= hour < self.quiet_end
        return hour >= self.quiet_start or hour < self.quiet_end

    def allows(self, at: datetime) -> bool:
        """Return whether a message may go out at this instant."""
        local = at.astimezone(self.tz)
        return local.isoweekday() in self.business_days and not self.is_quiet_hour(local.hour)

    def next_allowed(self, at: datetime) -> datetime:
        """Return `at` if allowed, else the start of the next allowed local hour, in UTC."""
        if not self.business_days:
            raise ValueError("no business days configured: nothing could ever be sent")
        if self.allows(at):
            return at.astimezone(UTC)
        local = at.astimezone(self.tz).replace(minute=0, second=0, microsecond=0)
        # At most 7 days x 24 hours to scan; hour steps on wall-clock time keep DST simple.
        for step in range(1, 24 * 8):
            candidate = _local_hour(local, step, self.tz)
            if self.allows(candidate):
                return candidate.astimezone(UTC)
        raise ValueError("quiet hours cover the whole day: nothing could ever be sent")


def _local_hour(start: datetime, hours: int, tz: ZoneInfo) -> datetime:
    naive = datetime.combine(start.date(), time(start.hour)) + timedelta(hours=hours)
    return naive.replace(tzinfo=tz)


def parse_business_days(text: str) -> frozenset[int]:
    """Parse ISO weekdays such as "1,2,3,4,5" (Monday is 1)."""
    days = frozenset(int(part) for part in text.replace(" ", "").split(",") if part)
    if not days or not days <= set(range(1, 8)):
        raise ValueError(f"business days must be ISO weekdays 1..7, not {text!r}")
    return days
