"""What an open checklist item calls for on a given day: due soon, overdue, escalated, and to whom."""

from __future__ import annotations

from datetime import date
from enum import StrEnum


class EntryState(StrEnum):
    """What an open checklist item calls for on a given day."""

    due_soon = "due_soon"
    overdue = "overdue"
    escalated = "escalated"
    # A partner's item it was reminded of as often as the rules allow: now our manager's to follow up.
    handed_over = "handed_over"


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
