"""Pure reminder logic: quiet hours and business days, and what an open item calls for on a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class EntryState(StrEnum):
    """What an open checklist item calls for on a given day."""

    due_soon = "due_soon"
    overdue = "overdue"
    escalated = "escalated"


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


def entry_state(due_on: date, today: date, *, due_soon_days: int) -> tuple[EntryState, int] | None:
    """Return what an open item calls for its owner today (due soon or overdue) with the day count."""
    days_to_due = (due_on - today).days
    if days_to_due < 0:
        return EntryState.overdue, -days_to_due
    if days_to_due <= due_soon_days:
        return EntryState.due_soon, days_to_due
    return None


def escalation_level(days_overdue: int, *, deputy_after: int, sponsor_after: int) -> str | None:
    """Return who an item this many days overdue is escalated to: "sponsor", "deputy" or None."""
    if days_overdue >= sponsor_after:
        return "sponsor"
    if days_overdue >= deputy_after:
        return "deputy"
    return None
