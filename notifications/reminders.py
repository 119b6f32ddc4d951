"""The reminder sweep: read open items due soon or overdue, build one digest per recipient per day, queue.

Rules come from `reminder_rules.yaml` (per tier). Only open items are read, so a done or waived item
stops its reminders at once; a digest queued before the item closed is re-checked at delivery.

Reminders to a partner stop: each item is reminded at most as often as its priority allows, a week
apart; then, once overdue, it goes to our relationship manager instead. A partner's digest goes out
only on a day with no other message to it and while its month has room (the tier's messages a month,
notices first); otherwise its items wait for the next digest day. An exiting partner is not reminded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from models.checklists.due import EntryState, entry_state, escalation_level
from models.checklists.library import load_library
from models.core.base import id_of, utcnow
from models.core.settings import get_settings
from models.core.vocabulary import RelationshipRole
from models.portal.links import portal_url_for
from models.tables import ChecklistItem, Contact, Partner, Relationship
from models.tables.checklist import ItemStatus
from models.tables.core import Side, Stage
from notifications.outbox import MessageCalendar, queue, reminder_kind, send_window
from notifications.rules import ReminderRules, load_rules

_STRENGTH = {
    EntryState.due_soon: 0,
    EntryState.overdue: 1,
    EntryState.escalated: 2,
    EntryState.handed_over: 2,
}
_ROLE_FIELDS = {role.value: role.column for role in RelationshipRole}
_INACTIVE_STAGES = (Stage.exited.value,)


@dataclass
class Digest:
    """Everything one recipient (a contact or a team) is reminded of on one day."""

    recipient_id: int | None
    team: str | None
    local_day: date
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    partner_tiers: set[str | None] = field(default_factory=set)
    reminded: set[int] = field(default_factory=set)  # partner items whose reminder count this digest uses

    def add(self, entry: dict[str, Any]) -> None:
        """Add an entry, keeping the strongest state when an item arrives twice (owner and escalation)."""
        current = self.entries.get(entry["item_id"])
        if current is None or _STRENGTH[EntryState(entry["state"])] > _STRENGTH[EntryState(current["state"])]:
            self.entries[entry["item_id"]] = entry

    def groups(self) -> list[dict[str, Any]]:
        """Return the entries grouped by relationship: overdue first, then by due date."""
        by_rel: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for entry in self.entries.values():
            by_rel[entry["relationship_id"]].append(entry)
        return [
            {
                "relationship_id": rel_id,
                "partner_name": entries[0]["partner_name"],
                "manager_id": entries[0]["manager_id"],
                "entries": sorted(entries, key=lambda e: (-_STRENGTH[EntryState(e["state"])], e["due_on"])),
            }
            for rel_id, entries in sorted(by_rel.items())
        ]


@dataclass
class SweepReport:
    """What one reminder sweep found and queued."""

    as_of: str
    dry_run: bool
    items: int = 0
    recipients: int = 0
    queued: int = 0
    already_queued: int = 0
    not_today: int = 0
    unreachable: int = 0
    escalations: int = 0
    handed_over: int = 0
    deferred: int = 0
    digests: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        return dict(self.__dict__)


def due_item_rows(session: Session, *, horizon: date) -> list[Row[Any]]:
    """Select open items due on or before the horizon in live relationships (one indexed query)."""
    query = (
        sa_select(
            col(ChecklistItem.id),
            col(ChecklistItem.relationship_id),
            col(ChecklistItem.item_key),
            col(ChecklistItem.title),
            col(ChecklistItem.due_on),
            col(ChecklistItem.owner_role),
            col(ChecklistItem.owner_side),
            col(ChecklistItem.owner_contact_id),
            col(ChecklistItem.priority),
            col(ChecklistItem.reminders),
            col(ChecklistItem.last_reminded_on),
            col(Relationship.tier),
            col(Relationship.stage),
            col(Relationship.manager_id),
            col(Relationship.deputy_id),
            col(Relationship.sponsor_id),
            col(Relationship.partner_contact_id),
            col(Relationship.backup_contact_id),
            col(Partner.legal_name),
        )
        .join(Relationship, col(Relationship.id) == col(ChecklistItem.relationship_id))
        .join(Partner, col(Partner.id) == col(Relationship.partner_id))
        .where(
            col(ChecklistItem.status) == ItemStatus.open.value,
            col(ChecklistItem.due_on) <= horizon,
            col(Relationship.stage).not_in(_INACTIVE_STAGES),
        )
    )
    return list(session.execute(query))


def _owner(row: Row[Any]) -> tuple[int | None, str | None]:
    """Return who owes an item: a contact id, or a team tag for `team:NAME` roles."""
    if row.owner_contact_id is not None:
        return row.owner_contact_id, None
    role = row.owner_role or ""
    if role.startswith("team:"):
        return None, role.split(":", 1)[1].strip().lower()
    # An unknown role falls to the manager: an item nobody is reminded of would be silently lost.
    return getattr(row, _ROLE_FIELDS.get(role, "manager_id")) or row.manager_id, None


class _Planner:
    """Builds the day's digests from due item rows (pure apart from the contact lookups given)."""

    def __init__(self, rules: ReminderRules, as_of: datetime, contacts: dict[int, Contact]) -> None:
        self.rules, self.as_of, self.contacts = rules, as_of, contacts
        self.digests: dict[tuple[int | None, str | None], Digest] = {}
        self.escalations = 0
        self.handed_over = 0
        self.rows = 0
        self._days: dict[str | None, date] = {}

    def local_day(self, contact_id: int | None) -> date:
        """Return the recipient's date at the sweep instant (teams use the organization's)."""
        tz = self.contacts[contact_id].timezone if contact_id in self.contacts else None
        if tz not in self._days:
            self._days[tz] = self.as_of.astimezone(send_window(tz).tz).date()
        return self._days[tz]

    def digest(self, contact_id: int | None, team: str | None) -> Digest:
        """Return (creating) the digest of one recipient."""
        key = (contact_id, team)
        if key not in self.digests:
            self.digests[key] = Digest(contact_id, team, self.local_day(contact_id))
        return self.digests[key]

    def add_row(self, row: Row[Any]) -> None:
        """Place one due item in its owner's digest and, if overdue long enough, in escalation digests."""
        tier_rules = self.rules.for_tier(row.tier)
        owner_id, team = _owner(row)
        today = self.local_day(owner_id)
        found = entry_state(row.due_on, today, due_soon_days=tier_rules.due_soon_days)
        if found is None:
            return
        state, days = found
        owner_name = self._name(owner_id, team)
        base = self._entry(row, state, days, owner_name)
        if row.owner_side == Side.partner.value:
            self._partner_row(row, base, owner_id, today)
            return
        digest = self.digest(owner_id, team)
        digest.add(base)
        digest.partner_tiers.add(row.tier)
        if state != EntryState.overdue:
            return
        level = escalation_level(
            days,
            deputy_after=tier_rules.escalate_deputy_after_days,
            sponsor_after=tier_rules.escalate_sponsor_after_days,
        )
        targets = [] if level is None else [row.deputy_id or row.manager_id]
        if level == "sponsor":
            targets.append(row.sponsor_id)
        for contact_id in dict.fromkeys(targets):
            if contact_id == owner_id:
                continue
            self.digest(contact_id, None).add({**base, "state": EntryState.escalated.value, "level": level})
            self.escalations += 1

    def _partner_row(self, row: Row[Any], base: dict[str, Any], owner_id: int | None, today: date) -> None:
        """Remind the partner of its item while the cap allows, then hand an overdue one to our manager."""
        exiting = row.stage == Stage.exiting.value
        cap = 0 if exiting else self.rules.partner_reminders_per_item.of(row.priority)
        gap = self.rules.partner_reminder_gap_days
        rested = row.last_reminded_on is None or (today - row.last_reminded_on).days >= gap
        if row.reminders < cap and rested:
            digest = self.digest(owner_id, None)
            digest.add({**base, "priority": row.priority, "reminders_left": cap - row.reminders - 1})
            digest.partner_tiers.add(row.tier)
            digest.reminded.add(row.id)
            return
        if base["state"] != EntryState.overdue.value or row.reminders < cap or row.priority == "could":
            return  # resting between reminders, or optional: nobody chases an optional item
        handed = {**base, "state": EntryState.handed_over.value, "reminded": row.reminders}
        self.digest(row.manager_id, None).add(handed)
        self.handed_over += 1

    def _name(self, contact_id: int | None, team: str | None) -> str:
        if team is not None:
            return team
        contact = self.contacts.get(contact_id) if contact_id is not None else None
        return (contact.name or contact.email) if contact is not None else "?"

    def _entry(self, row: Row[Any], state: EntryState, days: int, owner: str) -> dict[str, Any]:
        return {
            "item_id": row.id,
            "relationship_id": row.relationship_id,
            "partner_name": row.legal_name,
            "manager_id": row.manager_id,
            "titles": dict(row.title or {}),
            "item_key": row.item_key,
            "due_on": row.due_on.isoformat(),
            "days": days,
            "state": state.value,
            "owner_name": owner,
        }

    def on_cadence(self, digest: Digest) -> bool:
        """Return whether this recipient gets reminders today (partners: by tier; staff, teams: weekdays)."""
        weekday = digest.local_day.isoweekday()
        if digest.team is not None:
            return weekday in self.rules.team_digest_weekdays
        if self.partner_contact(digest) is None:
            return weekday in self.rules.staff_digest_weekdays
        # A partner in several relationships follows the most frequent cadence among them.
        days = set().union(*(self.rules.for_tier(t).partner_digest_weekdays for t in digest.partner_tiers))
        return weekday in days

    def partner_contact(self, digest: Digest) -> int | None:
        """Return the partner contact a digest goes to (None: it goes to our staff or a team)."""
        contact = self.contacts.get(digest.recipient_id) if digest.recipient_id is not None else None
        return contact.id if contact is not None and contact.side == Side.partner.value else None

    def has_room(self, partner_contact: int, digest: Digest, calendar: MessageCalendar) -> bool:
        """Return whether a partner's digest fits its day and its month's message budget."""
        per_month = load_library().messages_per_month
        # A partner in several relationships gets the largest of their tiers' monthly budgets.
        cap = max(per_month.get(t or self.rules.default_tier, 0) for t in digest.partner_tiers)
        reserve = self.rules.notice_reserve_per_month
        day = digest.local_day
        return calendar.reminder_room(partner_contact, day, per_month=cap, reserve=reserve)


def _contacts_for(session: Session, rows: Iterable[Row[Any]]) -> dict[int, Contact]:
    ids: set[int] = set()
    for row in rows:
        ids |= {row.owner_contact_id, row.manager_id, row.deputy_id, row.sponsor_id}
        ids |= {row.partner_contact_id, row.backup_contact_id}
    ids.discard(None)
    found: dict[int, Contact] = {}
    id_list = sorted(ids)
    for start in range(0, len(id_list), 500):
        chunk = id_list[start : start + 500]
        found.update({id_of(c): c for c in session.exec(select(Contact).where(col(Contact.id).in_(chunk)))})
    return found


def _titled(groups: list[dict[str, Any]], language: str, *, partner: bool) -> list[dict[str, Any]]:
    """Title each entry in the reader's language; a partner reads its items in its own voice."""
    library = load_library() if partner else None
    for group in groups:
        for entry in group["entries"]:
            spec = library.by_id.get(entry["item_key"]) if library is not None else None
            titles = entry["titles"]
            entry["title"] = (
                spec.partner_ask(language)
                if spec is not None
                else titles.get(language) or titles.get("en") or entry["item_key"]
            )
    return groups


def _name_our_side(groups: list[dict[str, Any]], contacts: dict[int, Contact]) -> None:
    """Tell a partner who asks: our organization and its manager for each relationship."""
    buyer = get_settings().organization_name
    for group in groups:
        manager = contacts.get(group["manager_id"])
        group["buyer"] = buyer
        group["manager_name"] = (manager.name or manager.email) if manager else ""
        group["manager_email"] = manager.email if manager else ""


def plan_reminders(session: Session, as_of: datetime, rules: ReminderRules | None = None) -> _Planner:
    """Read due items and build every recipient's digest for the day of `as_of`."""
    rules = rules or load_rules()
    max_soon = max(t.due_soon_days for t in rules.tiers.values())
    # +1 day: recipients east of the organization may already be on tomorrow.
    horizon = as_of.astimezone(get_settings().tz).date() + timedelta(days=max_soon + 1)
    rows = due_item_rows(session, horizon=horizon)
    planner = _Planner(rules, as_of, _contacts_for(session, rows))
    for row in rows:
        planner.add_row(row)
    planner.rows = len(rows)
    return planner


def sweep(session: Session, *, as_of: datetime | None = None, dry_run: bool = False) -> SweepReport:
    """Queue today's reminder digests (one per recipient per day); safe to rerun."""
    as_of = as_of or utcnow()
    planner = plan_reminders(session, as_of)
    report = SweepReport(as_of=as_of.isoformat(), dry_run=dry_run, items=planner.rows)
    report.escalations, report.handed_over = planner.escalations, planner.handed_over
    calendar = _partner_calendar(session, planner)
    reminded: dict[date, list[int]] = defaultdict(list)
    for digest in planner.digests.values():
        if not planner.on_cadence(digest):
            report.not_today += 1
            continue
        partner = planner.partner_contact(digest)
        if partner is not None and not planner.has_room(partner, digest, calendar):
            # The day already has a message, or the month is full: the items wait for a later digest.
            report.deferred += 1
            continue
        report.recipients += 1
        if _queue_digest(session, planner, digest, report) and partner is not None:
            calendar.add(partner, digest.local_day, reminder=True)
            reminded[digest.local_day] += sorted(digest.reminded)
    _count_reminders(session, reminded)
    session.flush()
    return report


def _partner_calendar(session: Session, planner: _Planner) -> MessageCalendar:
    """Read the messages already planned this month for the partners the sweep would remind."""
    ids = [i for d in planner.digests.values() if (i := planner.partner_contact(d)) is not None]
    if not ids:
        return MessageCalendar()
    day = planner.as_of.date()
    start = day.replace(day=1) - timedelta(days=1)  # a recipient west of us may still be on yesterday
    return MessageCalendar.load(session, ids, start=start, end=day + timedelta(days=40))


def _count_reminders(session: Session, reminded: dict[date, list[int]]) -> None:
    """Count one more reminder, on its day, for each partner item a queued digest carried."""
    for day, ids in reminded.items():
        for first in range(0, len(ids), 500):
            session.connection().execute(
                update(ChecklistItem)
                .where(col(ChecklistItem.id).in_(ids[first : first + 500]))
                .values(reminders=ChecklistItem.reminders + 1, last_reminded_on=day)
            )


def _portal_url(session: Session, recipient: Contact | None, relationship_id: int) -> str | None:
    if recipient is None or recipient.side != "partner":
        return None
    rel = session.get(Relationship, relationship_id)
    return portal_url_for(session, recipient, rel) if rel is not None else None


def _queue_digest(session: Session, planner: _Planner, digest: Digest, report: SweepReport) -> bool:
    """Queue one recipient's digest; return whether this call queued it (not a dry run, not a repeat)."""
    recipient = planner.contacts.get(digest.recipient_id) if digest.recipient_id else None
    language = recipient.language if recipient is not None else get_settings().default_language
    partner = recipient is not None and recipient.side == Side.partner.value
    groups = _titled(digest.groups(), language, partner=partner)
    summary = {
        "recipient": f"contact {digest.recipient_id}" if digest.recipient_id else f"team {digest.team}",
        "day": digest.local_day.isoformat(),
        "items": len(digest.entries),
        "relationships": len(groups),
    }
    if report.dry_run:
        report.digests.append({**summary, "status": "would queue"})
        return False
    if digest.recipient_id is not None and recipient is None:
        report.unreachable += 1
        report.digests.append({**summary, "status": "unreachable"})
        return False
    for group in groups:
        # A partner answers through its personal portal link, one per relationship (no account needed).
        group["portal_url"] = _portal_url(session, recipient, group["relationship_id"])
    if partner:
        _name_our_side(groups, planner.contacts)
    context = {
        "side": "partner" if partner else "ours",
        "recipient_name": (recipient.name or recipient.email) if recipient is not None else digest.team,
        "as_of": digest.local_day.isoformat(),
        "total": len(digest.entries),
        "groups": groups,
        "portal_url": None,
    }
    message, created = queue(
        session,
        kind=reminder_kind(groups),
        context=context,
        recipient=recipient,
        team=digest.team if recipient is None else None,
        period=digest.local_day.isoformat(),
        language=language,
        item_ids=sorted(digest.entries),
        now=planner.as_of,
    )
    if message is None:
        report.unreachable += 1
        status = "unreachable"
    elif created:
        report.queued += 1
        status = f"queued #{message.id}"
    else:
        report.already_queued += 1
        status = f"already queued #{message.id}"
    report.digests.append({**summary, "status": status})
    return bool(message is not None and created)
