"""The partner's year: what a relationship has asked of its partner in the current relationship year.

A relationship year starts on the sponsor's approval (the signing date) and every twelve months
after it. Minutes count when an item is asked (its `asked_on`), in every stage, whatever became of
the item later: the partner spent the time reading the request either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func

from models.checklists.library import Item, Library
from models.core.base import id_of
from models.core.calendar import add_months
from models.tables import ChecklistItem, Relationship

LATER_STAGES = {
    "onboarding": ("governance", "exit"),
    "governance": ("exit",),
    "review": ("exit",),
    "exit": (),
}


@dataclass(frozen=True)
class Year:
    """One relationship year: its number (0 is the first) and its dates (end exclusive)."""

    index: int
    start: date
    end: date


def relationship_year(anchor: date, day: date) -> Year:
    """Return the relationship year a day falls in, counting years from the anchor (signing) date."""
    index = 0
    while add_months(anchor, 12 * (index + 1)) <= day:
        index += 1
    return Year(index, add_months(anchor, 12 * index), add_months(anchor, 12 * (index + 1)))


def anchor_of(rel: Relationship, day: date) -> date:
    """Return the day a relationship's years count from: its signing date, else the given day."""
    return rel.signed_on or day


@dataclass
class YearUse:
    """What one relationship asked of its partner so far in one relationship year."""

    year: Year
    budget: int
    minutes: int = 0
    keys: set[str] = field(default_factory=set)

    @property
    def left(self) -> int:
        """Return the minutes the year still allows (never below zero)."""
        return max(self.budget - self.minutes, 0)


def year_use(session: Session, rel: Relationship, day: date, library: Library, tier: str) -> YearUse:
    """Return the partner minutes and item keys asked in the relationship year of `day`."""
    return year_use_many(session, [(rel, tier)], day, library)[id_of(rel)]


def year_use_many(
    session: Session, rels: Sequence[tuple[Relationship, str]], day: date, library: Library
) -> dict[int, YearUse]:
    """Return each relationship's use of its current year, reading the items of a batch in one query."""
    uses: dict[int, YearUse] = {}
    for rel, tier in rels:
        year = relationship_year(anchor_of(rel, day), day)
        uses[id_of(rel)] = YearUse(year, library.year_budget(tier, year.index))
    if not uses:
        return {}
    oldest = min(u.year.start for u in uses.values())
    query = (
        sa_select(
            col(ChecklistItem.relationship_id),
            col(ChecklistItem.asked_on),
            col(ChecklistItem.item_key),
            func.sum(ChecklistItem.effort_minutes),
        )
        .where(col(ChecklistItem.relationship_id).in_(list(uses)), col(ChecklistItem.asked_on) >= oldest)
        .group_by(
            col(ChecklistItem.relationship_id), col(ChecklistItem.asked_on), col(ChecklistItem.item_key)
        )
    )
    for rid, asked_on, key, minutes in session.connection().execute(query):
        use = uses[rid]
        if asked_on is not None and use.year.start <= asked_on < use.year.end:
            use.minutes += int(minutes or 0)
            use.keys.add(key)
    return uses


def must_minutes(items: Iterable[Item], stage: str, applies: Any) -> int:
    """Return the partner minutes of a stage's must items that apply (`applies(item)` says which)."""
    return sum(
        i.effort_minutes
        for i in items
        if stage in i.stages and i.priority == "must" and i.burdens_partner and i.event is None and applies(i)
    )


def reserve_for(library: Library, stage: str, applies: Any) -> int:
    """Return the must-minutes the stages still to come will need, kept free while planning `stage`."""
    return sum(must_minutes(library.items, later, applies) for later in LATER_STAGES[stage])


def partner_year_view(
    session: Session, rel: Relationship, tier: str, library: Library, day: date
) -> dict[str, Any]:
    """Return what the partner sees of its year: minutes asked, the budget we committed to, the dates."""
    use = year_use(session, rel, day, library, tier)
    return {
        "minutes": use.minutes,
        "budget": use.budget,
        "year_number": use.year.index + 1,
        "starts_on": use.year.start,
        "ends_on": use.year.end - timedelta(days=1),
        "messages_per_month": library.messages_per_month[tier],
    }
