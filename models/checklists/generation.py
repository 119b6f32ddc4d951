"""Checklists: generate the proportionate items for a relationship and stage, and change their state."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.checklists.budget import reserve_for, year_use
from models.checklists.library import Item, Library, load_library
from models.checklists.proportionality import (
    Profile,
    Selection,
    YearLimit,
    applies_reason,
    applies_to_profile,
    propose_tier,
    select_items,
)
from models.core import audit
from models.core.base import id_of, utcnow
from models.core.calendar import add_business_days, today_local
from models.core.db import insert_ignore
from models.core.errors import Conflict, InputRejected, NotFound, Problem
from models.core.periods import period_of
from models.core.validation import normalize_email
from models.core.vocabulary import CHECKLIST_STAGES, CLAUSES, RelationshipRole
from models.tables import ChecklistGeneration, ChecklistItem, Contact, ItemStatus, Partner, Relationship

STAGES = CHECKLIST_STAGES
ITEM_KEY = ("relationship_id", "stage", "period", "item_key")


@dataclass(frozen=True)
class GenerationResult:
    """What one generation added and what the engine left out."""

    relationship_id: int
    stage: str
    period: str
    tier: str
    added: int
    total: int
    budget_minutes: int
    used_minutes: int
    left_out: list[dict[str, Any]]


def profile_of(rel: Relationship, partner: Partner) -> Profile:
    """Return the engine's view of a relationship (size class as frozen at signing)."""
    return Profile(
        size_class=rel.size_class,
        criticality=rel.criticality,
        dependency_ratio=rel.dependency_ratio,
        payment_term_days=rel.payment_term_days,
        country=partner.country,
        employees=partner.employees,
    )


def tier_of(rel: Relationship, partner: Partner) -> str:
    """Return the approved tier, else the proposed one, else what the rules propose now."""
    return rel.tier or rel.tier_proposed or propose_tier(profile_of(rel, partner)).tier


def team_owners(session: Session) -> dict[str, int]:
    """Return the first of our contacts in each team tag, in one query."""
    owners: dict[str, int] = {}
    query = (
        select(Contact.id, Contact.teams)
        .where(Contact.side == "ours", col(Contact.teams) != "", col(Contact.removed_at).is_(None))
        .order_by(col(Contact.id))
    )
    for contact_id, teams in session.exec(query):
        assert contact_id is not None  # a primary key
        for tag in teams.split(","):
            owners.setdefault(tag, contact_id)
    return owners


def owner_for(rel: Relationship, role: str, teams: dict[str, int]) -> int | None:
    """Resolve an item's owner role to a real contact of this relationship (None: the team's channel)."""
    return owner_map(rel, teams)(role)


def owner_map(rel: Relationship, teams: dict[str, int]) -> Callable[[str], int | None]:
    """Return a resolver of owner roles for one relationship (its people read once, for many items)."""
    # Each role's own column, except that a missing deputy or backup falls back to the main person.
    fixed = {role.value: getattr(rel, f"{role.value}_id") for role in RelationshipRole}
    fixed["deputy"] = rel.deputy_id or rel.manager_id
    fixed["backup_contact"] = rel.backup_contact_id or rel.partner_contact_id

    def resolve(role: str) -> int | None:
        return fixed[role] if role in fixed else teams.get(role.removeprefix("team:"))

    return resolve


def reusable_evidence(session: Session, partner_id: int) -> dict[str, ChecklistItem]:
    """Return evidence the partner already gave, by evidence key, across all its relationships."""
    return reusable_evidence_of(session, {partner_id}).get(partner_id, {})


def reusable_evidence_of(
    session: Session, partner_ids: Collection[int], keys: Collection[str] | None = None
) -> dict[int, dict[str, ChecklistItem]]:
    """Return, per partner, evidence already given (of `keys`, if given), the latest per key."""
    if not partner_ids or (keys is not None and not keys):
        return {}
    query = (
        select(Relationship.partner_id, ChecklistItem)
        .join(Relationship, col(Relationship.id) == ChecklistItem.relationship_id)
        .where(
            col(Relationship.partner_id).in_(list(partner_ids)),
            ChecklistItem.status == ItemStatus.done.value,
            col(ChecklistItem.evidence_key).is_not(None),
            col(ChecklistItem.reused_from_id).is_(None),
        )
        .order_by(col(ChecklistItem.done_at))
    )
    if keys is not None:
        query = query.where(col(ChecklistItem.evidence_key).in_(list(keys)))
    found: dict[int, dict[str, ChecklistItem]] = defaultdict(dict)
    for partner_id, item in session.exec(query):
        if item.evidence_key:
            found[partner_id][item.evidence_key] = item
    return found


@dataclass(frozen=True)
class StagePlan:
    """One stage's planned checklist for a relationship profile: the selection and how to write it.

    The single generation and the review sweep both plan through `plan_stage` and write through
    `row` and `generation_row`; the sweep only caches a plan across relationships of one profile.
    """

    selection: Selection
    period: str
    start: date

    def row(
        self, relationship_id: int | None, item: Item, *, owner: int | None, reused: ChecklistItem | None
    ) -> dict[str, Any]:
        """Return one chosen item's checklist row for a relationship."""
        return item_row(
            relationship_id,
            item,
            stage=self.selection.stage,
            period=self.period,
            tier=self.selection.tier,
            start=self.start,
            owner=owner,
            reused=reused,
        )

    def rows(
        self,
        relationship_id: int | None,
        owners: Callable[[str], int | None],
        reused: dict[str, ChecklistItem],
    ) -> list[dict[str, Any]]:
        """Return every chosen item's row, owners resolved and given evidence reused."""
        return [
            self.row(
                relationship_id,
                c.item,
                owner=owners(c.item.owner_role),
                reused=reused.get(c.item.evidence_key) if c.item.evidence_key else None,
            )
            for c in self.selection.chosen
        ]

    def generation_row(self, relationship_id: int | None, *, now: datetime) -> dict[str, Any]:
        """Return the generation record of this plan (what was chosen and left out, and the budget)."""
        selection = self.selection
        return {
            "relationship_id": relationship_id,
            "stage": selection.stage,
            "period": self.period,
            "tier": selection.tier,
            "budget_minutes": selection.budget_minutes,
            "used_minutes": selection.used_minutes,
            "stage_started_on": self.start,
            "selected": [c.item.id for c in selection.chosen],
            "left_out": [{"item": c.item.id, "reason": c.reason} for c in selection.left_out],
            "library_versions": {},
            "generated_at": now,
            "updated_at": now,
        }


def plan_stage(
    library: Library,
    profile: Profile,
    *,
    tier: str,
    stage: str,
    period: str,
    start: date,
    year: YearLimit,
    reused: Mapping[str, int],
    existing: Sequence[str] = (),
    spent_minutes: int = 0,
) -> StagePlan:
    """Plan a stage's proportionate checklist: the one planner of single generation and the sweep."""
    selection = select_items(
        library,
        profile,
        tier=tier,
        stage=stage,
        spent_minutes=spent_minutes,
        existing=list(existing),
        reused=reused,
        year=year,
    )
    return StagePlan(selection, period, start)


def item_row(
    relationship_id: int | None,
    item: Item,
    *,
    stage: str,
    period: str,
    tier: str,
    start: date,
    owner: int | None,
    reused: ChecklistItem | None,
) -> dict[str, Any]:
    """Return the checklist row of one library item, as every path writes it."""
    row: dict[str, Any] = {
        "relationship_id": relationship_id,
        "stage": stage,
        "period": period,
        "item_key": item.id,
        "library_version": item.file_version,
        "clause": item.clause,
        "owner_side": item.owner_side,
        "owner_role": item.owner_role,
        "owner_contact_id": owner,
        "priority": item.priority,
        "required": item.is_required,
        "effort_minutes": item.effort_minutes if item.burdens_partner else 0,
        "asked_on": start,
        "due_on": add_business_days(start, item.due_offset_days),
        "title": dict(item.title),
        "reason": applies_reason(item, tier),
        "evidence_key": item.evidence_key,
        "status": ItemStatus.open.value,
        "created_at": utcnow(),
        "updated_at": utcnow(),
        # Every row carries every key: a multi-row INSERT takes its columns from the first row.
        "done_by": None,
        "done_at": None,
        "evidence": None,
        "evidence_link": None,
        "reused_from_id": None,
        "reminders": 0,
        "last_reminded_on": None,
    }
    if reused is not None:
        row.update(
            status=ItemStatus.done.value,
            done_by=reused.done_by,
            done_at=utcnow(),
            evidence=reused.evidence,
            evidence_link=reused.evidence_link,
            reused_from_id=reused.id,
            effort_minutes=0,
        )
        row["reason"] = {**row["reason"], "reused_from": reused.id}
    return row


def generate_checklist(
    session: Session,
    relationship_id: int,
    stage: str,
    *,
    actor: str,
    period: str = "",
    start_on: date | None = None,
    library: Library | None = None,
) -> GenerationResult:
    """Create the stage's proportionate items; rerunning adds only new applicable items."""
    if stage not in STAGES:
        raise InputRejected([Problem("stage", f"unknown stage {stage!r}; use {', '.join(STAGES)}")])
    rel = session.get(Relationship, relationship_id)
    if rel is None:
        raise NotFound(f"no relationship {relationship_id}")
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    library = library or load_library()
    tier = tier_of(rel, partner)
    existing = list(
        session.exec(
            select(ChecklistItem).where(
                ChecklistItem.relationship_id == relationship_id,
                ChecklistItem.stage == stage,
                ChecklistItem.period == period,
            )
        )
    )
    generation = session.exec(
        select(ChecklistGeneration).where(
            ChecklistGeneration.relationship_id == relationship_id,
            ChecklistGeneration.stage == stage,
            ChecklistGeneration.period == period,
        )
    ).first()
    start = start_on or (generation.stage_started_on if generation else today_local())
    reused = reusable_evidence(session, id_of(partner))
    profile = profile_of(rel, partner)
    plan = plan_stage(
        library,
        profile,
        tier=tier,
        stage=stage,
        period=period,
        start=start,
        year=year_limit(session, rel, library, profile, tier=tier, stage=stage, on=start),
        reused={key: item.id for key, item in reused.items() if item.id is not None},
        existing=[i.item_key for i in existing],
        spent_minutes=sum(i.effort_minutes for i in existing),
    )
    selection = plan.selection
    rows = plan.rows(rel.id, owner_map(rel, team_owners(session)), reused)
    added = insert_ignore(session, ChecklistItem, rows, unique=list(ITEM_KEY))
    _record_generation(session, plan, rel, generation=generation)
    if added:
        audit.record(
            session,
            actor=actor,
            action="checklist.generated",
            entity="relationship",
            entity_id=rel.id,
            relationship_id=rel.id,
            data={
                "stage": stage,
                "period": period,
                "tier": tier,
                "added": added,
                "used_minutes": selection.used_minutes,
                "budget": selection.budget_minutes,
            },
        )
    return GenerationResult(
        relationship_id=relationship_id,
        stage=stage,
        period=period,
        tier=tier,
        added=added,
        total=len(existing) + added,
        budget_minutes=selection.budget_minutes,
        used_minutes=selection.used_minutes,
        left_out=[{"item": c.item.id, "reason": c.reason} for c in selection.left_out],
    )


def year_limit(
    session: Session,
    rel: Relationship,
    library: Library,
    profile: Profile,
    *,
    tier: str,
    stage: str,
    on: date,
) -> YearLimit:
    """Return what the relationship year of `on` still allows a stage, keeping the later stages' musts."""
    use = year_use(session, rel, on, library, tier)
    reserve = reserve_for(library, stage, applies_to_profile(tier, profile))
    return YearLimit(budget=use.budget, left=use.left, reserve=reserve, asked=frozenset(use.keys))


def cancel_partner_items(
    session: Session, rel: Relationship, *, reason: str, actor: str, keep_stage: str | None = None
) -> int:
    """Withdraw every open item the partner answers (alone or with us) of a relationship; return how many.

    Exit (keeping the exit's own items) and rejection call it: what we asked of a partner we are
    leaving is no longer asked.
    """
    query = select(ChecklistItem).where(
        ChecklistItem.relationship_id == rel.id,
        ChecklistItem.status == ItemStatus.open.value,
        col(ChecklistItem.owner_side).in_(("partner", "joint")),
    )
    if keep_stage is not None:
        query = query.where(ChecklistItem.stage != keep_stage)
    items = list(session.exec(query))
    now = utcnow()
    for item in items:
        item.status, item.waived_reason, item.done_at = ItemStatus.cancelled.value, reason, now
        session.add(item)
    if items:
        audit.record(
            session,
            actor=actor,
            action="checklist.items_cancelled",
            entity="relationship",
            entity_id=rel.id,
            relationship_id=rel.id,
            reason=reason,
            data={"items": [i.id for i in items]},
        )
    return len(items)


def raise_event_items(
    session: Session, rel: Relationship, event: str, *, actor: str, on: date | None = None
) -> list[str]:
    """Ask the items the library ties to an event, now (once per quarter); return their keys.

    They go on their stage's checklist, for a review the one of the quarter the event falls in, so
    that quarter's review sees whether they were done.
    """
    library = load_library()
    items = [i for i in library.items if i.event == event]
    partner = session.get(Partner, rel.partner_id)
    if not items or partner is None:
        return []
    day = on or today_local()
    tier, teams = tier_of(rel, partner), team_owners(session)
    rows = [
        item_row(
            rel.id,
            item,
            stage=item.stages[0],
            period=period_of(day).name if item.stages[0] == "review" else "",
            tier=tier,
            start=day,
            owner=owner_for(rel, item.owner_role, teams),
            reused=None,
        )
        for item in items
    ]
    for row in rows:
        row["reason"] = {**row["reason"], "event": event}
    if not insert_ignore(session, ChecklistItem, rows, unique=list(ITEM_KEY)):
        return []
    keys = [row["item_key"] for row in rows]
    audit.record(
        session,
        actor=actor,
        action="checklist.event_items",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        data={"event": event, "items": keys, "on": day.isoformat()},
    )
    return keys


def _record_generation(
    session: Session, plan: StagePlan, rel: Relationship, *, generation: ChecklistGeneration | None
) -> None:
    if generation is None:
        row = plan.generation_row(rel.id, now=utcnow())
        insert_ignore(session, ChecklistGeneration, [row], unique=["relationship_id", "stage", "period"])
        return
    selection = plan.selection
    generation.used_minutes = selection.used_minutes
    generation.selected = sorted(set(generation.selected) | {c.item.id for c in selection.chosen})
    generation.left_out = [{"item": c.item.id, "reason": c.reason} for c in selection.left_out]
    session.add(generation)


def items_of(
    session: Session, relationship_id: int, *, stage: str | None = None, period: str | None = None
) -> list[ChecklistItem]:
    """Return a relationship's checklist items in clause order."""
    query = select(ChecklistItem).where(ChecklistItem.relationship_id == relationship_id)
    if stage is not None:
        query = query.where(ChecklistItem.stage == stage)
    if period is not None:
        query = query.where(ChecklistItem.period == period)
    items = list(session.exec(query))
    return sorted(items, key=lambda i: (STAGES.index(i.stage), int(i.clause.split(".")[1]), i.id or 0))


def open_required(
    session: Session, relationship_id: int, stage: str, period: str = ""
) -> list[ChecklistItem]:
    """Return the required items of a stage that are still open."""
    return [
        i
        for i in items_of(session, relationship_id, stage=stage, period=period)
        if i.required and i.status == ItemStatus.open.value
    ]


def _item(session: Session, item_id: int) -> ChecklistItem:
    item = session.get(ChecklistItem, item_id)
    if item is None:
        raise NotFound(f"no checklist item {item_id}")
    return item


def _known_contact(session: Session, email: str, where: str = "by") -> Contact:
    try:
        address = normalize_email(email)
    except ValueError as exc:
        raise InputRejected([Problem(where, str(exc))]) from exc
    contact = session.exec(select(Contact).where(Contact.email == address)).first()
    if contact is None:
        raise InputRejected([Problem(where, f"{address} is not a known contact")])
    if contact.removed_at is not None:
        raise InputRejected([Problem(where, f"{address} has been removed")])
    return contact


def _close(session: Session, item: ChecklistItem, **values: Any) -> ChecklistItem:
    """Close an open item, unless another request closed it first (compare-and-set on the status)."""
    # One UPDATE ... WHERE status = 'open': of two requests racing (a double click, two tabs), the
    # database lets exactly one change the row; the other sees no row changed and is refused.
    changed = session.exec(
        update(ChecklistItem)
        .where(col(ChecklistItem.id) == item.id, col(ChecklistItem.status) == ItemStatus.open.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(item)
    if changed != 1:
        raise Conflict(f"item {item.id} is already {item.status}")
    return item


def mark_done(
    session: Session, item_id: int, *, by: str, evidence: str | None = None, link: str | None = None
) -> ChecklistItem:
    """Mark an open item done by a known person, with an evidence note or link."""
    item = _item(session, item_id)
    person = _known_contact(session, by)
    if item.status != ItemStatus.open.value:
        raise Conflict(f"item {item_id} is already {item.status}")
    if link and not link.startswith(("https://", "http://")):
        raise InputRejected([Problem("link", "evidence link must start with http:// or https://")])
    _close(
        session,
        item,
        status=ItemStatus.done.value,
        done_by=person.email,
        done_at=utcnow(),
        evidence=evidence or None,
        evidence_link=link or None,
    )
    audit.record(
        session,
        actor=person.email,
        action="checklist.item.done",
        entity="checklist_item",
        entity_id=item.id,
        relationship_id=item.relationship_id,
        data={"item": item.item_key, "evidence": evidence, "link": link},
    )
    return item


def _close_by_manager(
    session: Session, item_id: int, *, by: str, reason: str, status: ItemStatus, action: str
) -> ChecklistItem:
    item = _item(session, item_id)
    if not reason or not reason.strip():
        raise InputRejected([Problem("reason", "a reason is required")])
    person = _known_contact(session, by)
    rel = session.get(Relationship, item.relationship_id)
    assert rel is not None
    if person.id not in (rel.manager_id, rel.deputy_id):
        raise InputRejected([Problem("by", f"{person.email} is not this relationship's manager or deputy")])
    if item.status != ItemStatus.open.value:
        raise Conflict(f"item {item_id} is already {item.status}")
    values = {"waived_reason": reason.strip(), "done_by": person.email, "done_at": utcnow()}
    _close(session, item, status=status.value, **values)
    audit.record(
        session,
        actor=person.email,
        action=action,
        entity="checklist_item",
        entity_id=item.id,
        relationship_id=item.relationship_id,
        reason=reason.strip(),
        data={"item": item.item_key},
    )
    return item


def waive(session: Session, item_id: int, *, by: str, reason: str) -> ChecklistItem:
    """Waive an open item: needs a reason and the manager (or deputy standing in)."""
    return _close_by_manager(
        session, item_id, by=by, reason=reason, status=ItemStatus.waived, action="checklist.item.waived"
    )


def mark_not_applicable(session: Session, item_id: int, *, by: str, reason: str) -> ChecklistItem:
    """Mark an open item not applicable: needs a reason and the manager (or deputy)."""
    return _close_by_manager(
        session,
        item_id,
        by=by,
        reason=reason,
        status=ItemStatus.not_applicable,
        action="checklist.item.not_applicable",
    )


def item_public(item: ChecklistItem, library: Library | None = None, lang: str = "en") -> dict[str, Any]:
    """Return an item as plain data, with its guidance from the library when it still has it."""
    data = item.model_dump(mode="json")
    spec = (library or load_library()).by_id.get(item.item_key)
    data["title_text"] = item.title.get(lang) or item.title.get("en", item.item_key)
    data["guidance"] = spec.guidance.get(lang, "") if spec else ""
    data["evidence_expected"] = spec.evidence.get(lang, "") if spec else ""
    # What the partner reads: the item in its own voice, what to send, what happens next.
    data["ask"] = spec.partner_ask(lang) if spec else data["title_text"]
    data["send"] = spec.send.get(lang, "") if spec and spec.send else ""
    data["next"] = spec.next.get(lang, "") if spec and spec.next else ""
    return data


def evidence_map(session: Session, relationship_id: int, lang: str = "en") -> dict[str, Any]:
    """Return, for each clause 5.1 to 5.12, the relationship's items, states and evidence."""
    library = load_library()
    by_clause: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items_of(session, relationship_id):
        by_clause[item.clause].append(item_public(item, library, lang))
    titles = {f.clause: f.title for f in library.files if not f.overlay}
    clauses = []
    for clause in CLAUSES:
        items = by_clause.get(clause, [])
        closed = sum(1 for i in items if i["status"] != ItemStatus.open.value)
        clauses.append(
            {
                "clause": clause,
                "title": titles.get(clause, {}).get(lang, clause),
                "items": items,
                "closed": closed,
                "total": len(items),
            }
        )
    return {
        "relationship_id": relationship_id,
        "language": lang,
        "clauses": clauses,
        "generated_at": utcnow().isoformat(),
    }


def checklist_view(
    session: Session,
    relationship_id: int,
    *,
    stage: str | None = None,
    period: str | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    """Return a checklist grouped by principle, with the budget and what was left out, for display."""
    rel = session.get(Relationship, relationship_id)
    if rel is None:
        raise NotFound(f"no relationship {relationship_id}")
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    library = load_library()
    items = [
        item_public(i, library, lang) for i in items_of(session, relationship_id, stage=stage, period=period)
    ]
    titles = {f.clause: f.title for f in library.files if not f.overlay}
    groups = [
        {
            "clause": c,
            "title": titles.get(c, {}).get(lang, c),
            "items": [i for i in items if i["clause"] == c],
        }
        for c in CLAUSES
    ]
    query = select(ChecklistGeneration).where(ChecklistGeneration.relationship_id == relationship_id)
    if stage is not None:
        query = query.where(ChecklistGeneration.stage == stage)
    generations = list(session.exec(query))
    return {
        "relationship": rel.model_dump(mode="json"),
        "partner": partner.model_dump(mode="json"),
        "stage": stage or "all",
        "period": period or "",
        "tier": tier_of(rel, partner),
        "groups": [g for g in groups if g["items"]],
        "items": items,
        "budget_minutes": sum(g.budget_minutes for g in generations),
        "used_minutes": sum(i["effort_minutes"] for i in items if not i["reused_from_id"]),
        "left_out": [x for g in generations for x in g.left_out],
    }
