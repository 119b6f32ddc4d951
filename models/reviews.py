"""The periodic review sweep as plain functions: find due relationships, then review them a batch at a time.

Every write is keyed (review per relationship and period, action per review and rule, risk per
relationship and key, checklist item per relationship, stage, period and item), so a rerun after a
crash, or two sweeps at once, converge on one review per relationship and period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from models.base import utcnow
from models.calendar import add_business_days, add_months, today_local
from models.checklists import _row as checklist_row  # same rows as generate_checklist, made in bulk
from models.checklists import owner_for, profile_of, team_owners, tier_of
from models.errors import NotFound
from models.health import components, health_score, health_weights, poor_streak, trend
from models.kpis import checklist_kpis, jurisdiction_for, payment_kpis, response_kpis
from models.library import Item, Library, load_library
from models.payments import from_minor
from models.periods import Period, last_complete_period, parse_period
from models.proportionality import Selection, select_items
from models.relationships import find_relationship
from models.review_rules import FACTS, Fired, evaluate
from models.scorecards import compare
from models.settings import get_settings
from models.tables import (
    AuditEvent,
    ChecklistGeneration,
    ChecklistItem,
    Contact,
    ItemStatus,
    Partner,
    Payment,
    Relationship,
    Review,
    ReviewAction,
    ReviewStatus,
    Risk,
    ScorecardEntry,
)
from models.tables.core import Stage

ACTOR = "flow:quarterly-review"
MEETING_AFTER_BUSINESS_DAYS = 10  # time for both sides to read the pack before meeting
CHUNK = 2000  # rows per executemany call


@dataclass(frozen=True)
class SweepScope:
    """Which period a sweep reviews and the date it measures at."""

    period: Period
    as_of: date


@dataclass
class Prepared:
    """One relationship's review, computed and stored, as plain data for its pack and messages."""

    review_id: int
    relationship_id: int
    context: dict[str, Any]
    escalated: bool
    recipients: dict[str, dict[str, Any]] = field(default_factory=dict)


def resolve_scope(period: str | None, as_of: date | None) -> SweepScope:
    """Default as-of to today and the period to the last complete quarter before it."""
    day = as_of or today_local()
    return SweepScope(parse_period(period) if period else last_complete_period(day), day)


def due_relationship_ids(session: Session, scope: SweepScope) -> list[int]:
    """Return active relationships whose review is due by the period's end and not yet done for it."""
    finished = select(Review.relationship_id).where(
        Review.period == scope.period.name, Review.status != ReviewStatus.open.value
    )
    query = (
        select(Relationship.id)
        .where(
            Relationship.stage == Stage.active.value,
            or_(
                col(Relationship.next_review_on).is_(None),
                col(Relationship.next_review_on) <= scope.period.end,
            ),
            col(Relationship.id).not_in(finished),
        )
        .order_by(col(Relationship.id))
    )
    return [int(i) for i in session.exec(query)]


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    """Split ids into batches of at most `size`, in order."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def insert_many(session: Session, table: Any, rows: list[dict[str, Any]], *, unique: list[str]) -> None:
    """Insert rows, skipping any that clash with a unique key, as one cached executemany statement.

    `insert_ignore` builds a multi-VALUES statement that SQLAlchemy compiles anew per call, which
    costs more than the insert itself at thousands of rows; executemany compiles once.
    """
    if not rows:
        return
    first = rows[0].keys()
    full = rows
    if any(row.keys() != first for row in rows):  # executemany needs the same keys in every row
        keys = sorted({k for row in rows for k in row})
        full = [{k: row.get(k) for k in keys} for row in rows]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table.__table__).on_conflict_do_nothing(index_elements=unique)
    for start in range(0, len(full), CHUNK):
        session.execute(statement, full[start : start + CHUNK])


# ---------------------------------------------------------------- the batch


def review_batch(
    session: Session, relationship_ids: Sequence[int], scope: SweepScope, *, actor: str = ACTOR
) -> list[Prepared]:
    """Review a batch of relationships for one period: claim, checklist, KPIs, health, actions."""
    rels = _load_relationships(session, relationship_ids)
    if not rels:
        return []
    reviews = _claim_reviews(session, rels, scope)
    open_rels = [(r, p) for r, p in rels if reviews[r.id].status == ReviewStatus.open.value]  # type: ignore[index]
    if not open_rels:
        return []
    library = load_library()
    generate_review_checklists(session, open_rels, scope, library=library, actor=actor)
    facts = _BatchFacts.load(session, [r.id for r, _ in open_rels], scope)  # type: ignore[misc]
    contacts = _contacts(session, open_rels)
    prepared = [
        _review_one(rel, partner, reviews[rel.id], facts, contacts, scope, library)  # type: ignore[index]
        for rel, partner in open_rels
    ]
    _store(session, prepared, open_rels, scope, library, actor=actor)
    return prepared


def _load_relationships(session: Session, ids: Sequence[int]) -> list[tuple[Relationship, Partner]]:
    query = (
        select(Relationship, Partner)
        .join(Partner, col(Partner.id) == Relationship.partner_id)
        .where(col(Relationship.id).in_(list(ids)), Relationship.stage == Stage.active.value)
        .order_by(col(Relationship.id))
    )
    return [(r, p) for r, p in session.exec(query)]


def _claim_reviews(
    session: Session, rels: list[tuple[Relationship, Partner]], scope: SweepScope
) -> dict[int, Review]:
    now = utcnow()
    rows = [
        {
            "relationship_id": rel.id,
            "period": scope.period.name,
            "as_of": scope.as_of,
            "status": ReviewStatus.open.value,
            "tier": tier_of(rel, partner),
            "kpis": {},
            "health_components": {},
            "scorecards": {},
            "findings": {},
            "created_at": now,
            "updated_at": now,
        }
        for rel, partner in rels
    ]
    insert_many(session, Review, rows, unique=["relationship_id", "period"])
    query = select(Review).where(
        col(Review.relationship_id).in_([r.id for r, _ in rels]), Review.period == scope.period.name
    )
    return {review.relationship_id: review for review in session.exec(query)}


def generate_review_checklists(
    session: Session,
    rels: list[tuple[Relationship, Partner]],
    scope: SweepScope,
    *,
    library: Library | None = None,
    actor: str = ACTOR,
) -> int:
    """Create the review checklist of many relationships at once, as generate_checklist would."""
    library = library or load_library()
    period = scope.period.name
    done = set(
        session.exec(
            select(ChecklistGeneration.relationship_id).where(
                col(ChecklistGeneration.relationship_id).in_([r.id for r, _ in rels]),
                ChecklistGeneration.stage == "review",
                ChecklistGeneration.period == period,
            )
        )
    )
    todo = [(r, p) for r, p in rels if r.id not in done]
    reused = _reusable_evidence(session, {p.id for _, p in todo}, library)  # type: ignore[misc]
    teams = team_owners(session)
    plans = _review_plans(library, period=period, start=scope.as_of)
    now = utcnow()
    stamp = {"created_at": now, "updated_at": now}
    items: list[dict[str, Any]] = []
    generations: list[dict[str, Any]] = []
    for rel, partner in todo:
        evidence = reused.get(partner.id, {})  # type: ignore[arg-type]
        plan = plans.plan(rel, partner, evidence)
        for spec, template in plan.rows:
            owner = owner_for(rel, spec.owner_role, teams)
            given = evidence.get(spec.evidence_key) if spec.evidence_key else None
            if given is None:
                items.append({**template, "relationship_id": rel.id, "owner_contact_id": owner, **stamp})
            else:  # reused evidence makes a different row: let the one row builder make it
                items.append(plans.row(rel, spec, plan.selection.tier, owner=owner, reused=given))
        generations.append(
            {**plan.generation, "relationship_id": rel.id, "generated_at": now, "updated_at": now}
        )
    insert_many(session, ChecklistItem, items, unique=["relationship_id", "stage", "period", "item_key"])
    insert_many(session, ChecklistGeneration, generations, unique=["relationship_id", "stage", "period"])
    return len(items)


@dataclass
class _Plan:
    """One review checklist profile: its selection, item rows and generation row, minus the relationship."""

    selection: Selection
    rows: list[tuple[Item, dict[str, Any]]]
    generation: dict[str, Any]


class _ReviewPlans:
    """Selections and row templates per review profile, computed once and stamped per relationship.

    The selection depends on a relationship only through its tier, size class, criticality, the
    truth of the library's conditions and the evidence already given, so those make the key.
    """

    def __init__(self, library: Library, *, period: str, start: date) -> None:
        self.library, self.period, self.start = library, period, start
        found = {c for i in library.items_for(stage="review") for c in i.applies.conditions}
        self.conditions = sorted(found, key=str)
        self.plans: dict[Any, _Plan] = {}

    def plan(self, rel: Relationship, partner: Partner, evidence: dict[str, ChecklistItem]) -> _Plan:
        """Return the plan for a relationship's profile (computed on first use)."""
        tier, profile = tier_of(rel, partner), profile_of(rel, partner)
        facts = profile.facts()
        truth = tuple(c.evaluate(facts) for c in self.conditions)
        key = (tier, profile.size_class, profile.criticality, truth, frozenset(evidence))
        if key not in self.plans:
            ids = {k: item.id for k, item in evidence.items()}
            selection = select_items(self.library, profile, tier=tier, stage="review", reused=ids)  # type: ignore[arg-type]
            rows = [(c.item, self.row(rel, c.item, tier, owner=None, reused=None)) for c in selection.chosen]
            generation = _generation_row(rel, selection, period=self.period, start=self.start, now=utcnow())
            self.plans[key] = _Plan(selection, rows, generation)
        return self.plans[key]

    def row(
        self, rel: Relationship, spec: Item, tier: str, *, owner: int | None, reused: ChecklistItem | None
    ) -> dict[str, Any]:
        """Return one checklist row exactly as generate_checklist makes it."""
        return checklist_row(
            rel,
            spec,
            stage="review",
            period=self.period,
            tier=tier,
            start=self.start,
            owner=owner,
            reused=reused,
        )


@lru_cache(maxsize=4)
def _review_plans(library: Library, *, period: str, start: date) -> _ReviewPlans:
    # One sweep runs many batches in one process: their relationships share a few hundred profiles.
    # The library is loaded once and never changed in place, so it keys the cache by identity.
    return _ReviewPlans(library, period=period, start=start)


def _generation_row(
    rel: Relationship, selection: Selection, *, period: str, start: date, now: Any
) -> dict[str, Any]:
    return {
        "relationship_id": rel.id,
        "stage": "review",
        "period": period,
        "tier": selection.tier,
        "budget_minutes": selection.budget_minutes,
        "used_minutes": selection.used_minutes,
        "stage_started_on": start,
        "selected": [c.item.id for c in selection.chosen],
        "left_out": [{"item": c.item.id, "reason": c.reason} for c in selection.left_out],
        "library_versions": {},
        "generated_at": now,
        "updated_at": now,
    }


def _reusable_evidence(
    session: Session, partner_ids: set[int], library: Library
) -> dict[int, dict[str, ChecklistItem]]:
    """Return, per partner, evidence already given that a review item could reuse (ask once)."""
    keys = {i.evidence_key for i in library.items_for(stage="review") if i.evidence_key}
    if not partner_ids or not keys:
        return {}
    query = (
        select(Relationship.partner_id, ChecklistItem)
        .join(Relationship, col(Relationship.id) == ChecklistItem.relationship_id)
        .where(
            col(Relationship.partner_id).in_(partner_ids),
            ChecklistItem.status == ItemStatus.done.value,
            col(ChecklistItem.evidence_key).in_(keys),
            col(ChecklistItem.reused_from_id).is_(None),
        )
        .order_by(col(ChecklistItem.done_at))
    )
    found: dict[int, dict[str, ChecklistItem]] = defaultdict(dict)
    for partner_id, item in session.exec(query):
        found[partner_id][item.evidence_key] = item  # type: ignore[index]
    return found


@dataclass
class _BatchFacts:
    """Everything a batch's KPIs read, loaded in one query per table."""

    payments: dict[int, list[Any]]
    items: dict[int, list[Any]]
    scores: dict[int, dict[str, dict[str, int]]]
    history: dict[int, list[tuple[str, int | None]]]

    @classmethod
    def load(cls, session: Session, ids: list[int], scope: SweepScope) -> _BatchFacts:
        """Load payments, checklist items, scores and past reviews of a batch."""
        start = scope.period.start
        payments: dict[int, list[Any]] = defaultdict(list)
        pay_query = select(
            Payment.relationship_id,
            Payment.invoice_id,
            Payment.delivered_on,
            Payment.paid_on,
            Payment.amount_minor,
            Payment.currency,
        ).where(
            col(Payment.relationship_id).in_(ids),
            or_(col(Payment.paid_on).is_(None), col(Payment.paid_on) >= start),
        )
        for row in session.exec(pay_query):
            payments[row.relationship_id].append(row)
        items: dict[int, list[Any]] = defaultdict(list)
        for row in session.exec(_items_query(ids, scope)):
            items[row.relationship_id].append(row)
        return cls(payments, items, _scores(session, ids, scope), _history(session, ids, scope))


def _items_query(ids: list[int], scope: SweepScope) -> Any:
    since = datetime.combine(scope.period.start, time(), tzinfo=UTC)
    return select(
        ChecklistItem.relationship_id,
        ChecklistItem.stage,
        ChecklistItem.period,
        ChecklistItem.owner_side,
        ChecklistItem.status,
        ChecklistItem.due_on,
        ChecklistItem.effort_minutes,
        ChecklistItem.created_at,
        ChecklistItem.done_at,
    ).where(
        col(ChecklistItem.relationship_id).in_(ids),
        or_(
            ChecklistItem.status == ItemStatus.open.value,
            col(ChecklistItem.done_at) >= since,
            col(ChecklistItem.created_at) >= since,
            and_(ChecklistItem.stage == "review", ChecklistItem.period == scope.period.name),
        ),
    )


def _scores(session: Session, ids: list[int], scope: SweepScope) -> dict[int, dict[str, dict[str, int]]]:
    found: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: {"ours": {}, "partner": {}})
    query = select(
        ScorecardEntry.relationship_id, ScorecardEntry.side, ScorecardEntry.principle, ScorecardEntry.score
    ).where(col(ScorecardEntry.relationship_id).in_(ids), ScorecardEntry.period == scope.period.name)
    for rid, side, principle, score in session.exec(query):
        found[rid][side][principle] = score
    return found


def _history(session: Session, ids: list[int], scope: SweepScope) -> dict[int, list[tuple[str, int | None]]]:
    """Return each relationship's earlier finished reviews, newest first, as (period, health)."""
    keep = health_weights().trend.history_periods
    oldest = scope.period.shift(-max(keep, 3)).name  # poor streaks need the last three too
    found: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    query = (
        select(Review.relationship_id, Review.period, Review.health)
        .where(
            col(Review.relationship_id).in_(ids),
            col(Review.period) < scope.period.name,
            col(Review.period) >= oldest,
            Review.status != ReviewStatus.open.value,
        )
        .order_by(col(Review.period).desc())
    )
    for rid, period, health in session.exec(query):
        found[rid].append((period, health))
    return found


def _contacts(session: Session, rels: list[tuple[Relationship, Partner]]) -> dict[int, Contact]:
    ids = {i for r, _ in rels for i in (r.manager_id, r.sponsor_id, r.partner_contact_id, r.deputy_id) if i}
    return {c.id: c for c in session.exec(select(Contact).where(col(Contact.id).in_(ids)))}  # type: ignore[misc]


# ---------------------------------------------------------------- one relationship


def compute_kpis(
    rel: Relationship,
    partner: Partner,
    *,
    payments: Iterable[Any],
    items: Sequence[Any],
    scores: dict[str, dict[str, int]],
    scope: SweepScope,
    library: Library,
    tier: str,
) -> dict[str, Any]:
    """Return every KPI of one relationship for one period, as JSON-ready data."""
    p, model = scope.period, health_weights()
    law = jurisdiction_for(partner.country, rel.size_class)
    return {
        "payments": payment_kpis(
            payments, start=p.start, end=p.end, as_of=scope.as_of, term_days=rel.payment_term_days, law=law
        ),
        "checklist": checklist_kpis(
            items,
            period=p.name,
            start=p.start,
            end=p.end,
            as_of=scope.as_of,
            budget_minutes=library.budget(tier, "review"),
        ),
        "response": response_kpis(items, start=p.start, end=p.end, as_of=scope.as_of),
        "scorecards": compare(
            scores.get("ours", {}), scores.get("partner", {}), gap_points=model.scorecard_gap_points
        ),
    }


def findings(
    rel: Relationship, kpis: dict[str, Any], *, health: int | None, delta: int | None, streak: int
) -> dict[str, Any]:
    """Return the facts the review rules test, one value (or None) per known fact."""
    pay, items, cards = kpis["payments"], kpis["checklist"], kpis["scorecards"]
    facts: dict[str, Any] = {
        "health": health,
        "health_drop": -delta if delta is not None else None,
        "poor_streak": streak,
        "late_share": pay["late_share"],
        "invoices_late": pay["late"],
        "invoices_beyond_legal_limit": pay["beyond_legal_limit"],
        "days_to_pay_worst": pay["days_to_pay_worst"],
        "overdue_items": items["overdue_items"],
        "overdue_ours": items["overdue_ours"],
        "burden_ratio": items["burden_ratio"],
        "response_days_avg": kpis["response"]["response_days_avg"],
        "dependency_ratio": rel.dependency_ratio,
        "key_person_flags": len(rel.key_person_flags),
        "partner_rates_us_lower": len(cards["partner_rates_us_lower"]),
        "missing_partner_scores": len(cards["missing_partner"]),
    }
    assert set(facts) == set(FACTS)  # the rule schema and this function must name the same facts
    return facts


def _review_one(
    rel: Relationship,
    partner: Partner,
    review: Review,
    facts: _BatchFacts,
    contacts: dict[int, Contact],
    scope: SweepScope,
    library: Library,
) -> Prepared:
    rid = rel.id or 0
    kpis = compute_kpis(
        rel,
        partner,
        payments=facts.payments.get(rid, []),
        items=facts.items.get(rid, []),
        scores=facts.scores.get(rid, {}),
        scope=scope,
        library=library,
        tier=review.tier,
    )
    parts = components(kpis)
    health = health_score(parts)
    history = facts.history.get(rid, [])
    label, delta = trend(health, [h for _, h in history])
    streak = poor_streak(health, [h for _, h in history])
    found = findings(rel, kpis, health=health, delta=delta, streak=streak)
    fired = evaluate(found)
    cards = kpis.pop("scorecards")  # stored in its own column
    values = {
        "id": review.id,
        "as_of": scope.as_of,
        "tier": review.tier,
        "health": health,
        "health_delta": delta,
        "trend": label,
        "kpis": kpis,
        "health_components": {k: (None if v is None else round(v, 3)) for k, v in parts.items()},
        "scorecards": cards,
        "findings": {"facts": found, "fired": [f.rule_id for f in fired]},
        "meeting_on": add_business_days(scope.as_of, MEETING_AFTER_BUSINESS_DAYS),
    }
    context = pack_context(rel, partner, values, history, _actions(fired, scope), contacts, scope.period.name)
    return Prepared(
        review_id=review.id or 0,
        relationship_id=rid,
        context=context,
        escalated=any(f.kind == "escalate_to_sponsor" for f in fired),
        recipients={role: context["contacts"][role] for role in ("manager", "sponsor", "partner_contact")},
    )


def _actions(fired: list[Fired], scope: SweepScope) -> list[dict[str, Any]]:
    return [
        {
            "rule_id": f.rule_id,
            "kind": f.kind,
            "owner_role": f.owner_role,
            "title": f.title,
            "due_on": (scope.as_of + timedelta(days=f.due_days)).isoformat(),
            "facts": f.facts,
            "risk": f.risk.model_dump() if f.risk else None,
        }
        for f in fired
    ]


def _person(contact: Contact | None) -> dict[str, Any]:
    if contact is None:
        return {"id": None, "name": "", "email": "", "language": "en"}
    return {
        "id": contact.id,
        "name": contact.name or contact.email,
        "email": contact.email,
        "language": contact.language,
    }


def pack_context(
    rel: Relationship,
    partner: Partner,
    values: dict[str, Any],
    history: list[tuple[str, int | None]],
    actions: list[dict[str, Any]],
    contacts: dict[int, Contact],
    period: str,
) -> dict[str, Any]:
    """Return the plain data a review pack, `review show` and the messages are made from."""
    law = jurisdiction_for(partner.country, rel.size_class)
    return {
        "organization_name": get_settings().organization_name,
        "period": period,
        "review_id": values["id"],
        "as_of": str(values["as_of"]),
        "meeting_on": str(values["meeting_on"]) if values["meeting_on"] else None,
        "relationship": {
            "id": rel.id,
            "key": rel.key,
            "partner_name": partner.legal_name,
            "country": partner.country,
            "tier": values["tier"],
            "size_class": rel.size_class,
            "criticality": rel.criticality,
            "dependency_ratio": rel.dependency_ratio,
            "payment_term_days": rel.payment_term_days,
            "key_person_flags": list(rel.key_person_flags),
        },
        "law": {"id": law.id, "name": law.name, "note": law.note} if law else None,
        "health": values["health"],
        "health_delta": values["health_delta"],
        "trend": values["trend"],
        "history": [{"period": p, "health": h} for p, h in reversed(history)],
        "components": values["health_components"],
        "kpis": values["kpis"],
        "interest": [
            {"currency": c, "amount": from_minor(m, c)}
            for c, m in values["kpis"]["payments"]["late_interest_minor"].items()
        ],
        "scorecards": values["scorecards"],
        "actions": actions,
        "contacts": {
            "manager": _person(contacts.get(rel.manager_id)),
            "sponsor": _person(contacts.get(rel.sponsor_id)),
            "partner_contact": _person(contacts.get(rel.partner_contact_id)),
        },
        "values": values,
    }


# ---------------------------------------------------------------- writes


def _store(
    session: Session,
    prepared: list[Prepared],
    rels: list[tuple[Relationship, Partner]],
    scope: SweepScope,
    library: Library,
    *,
    actor: str,
) -> None:
    now = utcnow()
    updates = []
    for p in prepared:
        values = dict(p.context.pop("values"))
        updates.append({**values, "updated_at": now})
    session.execute(update(Review), updates)
    _store_actions(session, prepared, now)
    _store_risks(session, prepared, now)
    by_id = {r.id: r for r, _ in rels}
    next_rows = [
        {
            "id": p.relationship_id,
            "next_review_on": add_months(
                scope.period.start, library.review_cadence_months[p.context["relationship"]["tier"]]
            ),
            "updated_at": now,
        }
        for p in prepared
        if by_id.get(p.relationship_id) is not None
    ]
    session.execute(update(Relationship), next_rows)
    session.execute(
        AuditEvent.__table__.insert(),  # type: ignore[attr-defined]
        [
            {
                "at": now,
                "actor": actor,
                "action": "review.prepared",
                "entity": "review",
                "entity_id": str(p.review_id),
                "relationship_id": p.relationship_id,
                "reason": None,
                "data": {
                    "period": scope.period.name,
                    "health": p.context["health"],
                    "actions": len(p.context["actions"]),
                },
            }
            for p in prepared
        ],
    )


def _store_actions(session: Session, prepared: list[Prepared], now: Any) -> None:
    rows = [
        {
            "review_id": p.review_id,
            "relationship_id": p.relationship_id,
            "rule_id": a["rule_id"],
            "kind": a["kind"],
            "owner_role": a["owner_role"],
            "title": a["title"],
            "detail": {"facts": a["facts"]},
            "status": "open",
            "due_on": date.fromisoformat(a["due_on"]),
            "created_at": now,
        }
        for p in prepared
        for a in p.context["actions"]
    ]
    insert_many(session, ReviewAction, rows, unique=["review_id", "rule_id"])


def _store_risks(session: Session, prepared: list[Prepared], now: Any) -> None:
    rows = []
    for p in prepared:
        for a in p.context["actions"]:
            risk = a["risk"]
            if risk is None:
                continue
            rows.append(
                {
                    "relationship_id": p.relationship_id,
                    "key": risk["key"],
                    "created_by_side": risk["created_by_side"],
                    "title": risk["title"],
                    "mitigation": risk["mitigation"],
                    "likelihood": risk["likelihood"],
                    "impact": risk["impact"],
                    "score": risk["likelihood"] * risk["impact"],
                    "owner_role": a["owner_role"],
                    "status": "open",
                    "source": f"review:{a['rule_id']}",
                    "created_at": now,
                }
            )
    insert_many(session, Risk, rows, unique=["relationship_id", "key"])


def mark_ready(session: Session, review_ids: Sequence[int]) -> None:
    """Mark reviews ready once their packs are stored and their messages queued."""
    if review_ids:
        session.execute(
            update(Review)
            .where(col(Review.id).in_(list(review_ids)))
            .values(status=ReviewStatus.ready.value, completed_at=utcnow(), updated_at=utcnow())
        )


# ---------------------------------------------------------------- reading


def find_review(session: Session, ref: str, period: str | None = None) -> tuple[Relationship, Review]:
    """Return a relationship's review for a period (default: its latest)."""
    rel = find_relationship(session, ref)
    query = select(Review).where(Review.relationship_id == rel.id)
    if period:
        query = query.where(Review.period == parse_period(period).name)
    review = session.exec(query.order_by(col(Review.period).desc())).first()
    if review is None:
        raise NotFound(f"relationship {rel.id} has no review{' for ' + period if period else ''}")
    return rel, review


def review_public(session: Session, ref: str, period: str | None = None) -> dict[str, Any]:
    """Return one review as plain data: KPIs, both scorecards with gaps, health, trend and actions."""
    rel, review = find_review(session, ref, period)
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    history = list(
        session.exec(
            select(Review.period, Review.health)
            .where(Review.relationship_id == rel.id, col(Review.period) < review.period)
            .order_by(col(Review.period).desc())
            .limit(health_weights().trend.history_periods)
        )
    )
    actions = [
        {
            "rule_id": a.rule_id,
            "kind": a.kind,
            "owner_role": a.owner_role,
            "title": a.title,
            "due_on": a.due_on.isoformat() if a.due_on else None,
            "status": a.status,
            "facts": a.detail.get("facts", {}),
            "risk": None,
        }
        for a in session.exec(
            select(ReviewAction).where(ReviewAction.review_id == review.id).order_by(col(ReviewAction.id))
        )
    ]
    contacts = _contacts(session, [(rel, partner)])
    values = review.model_dump()
    context = pack_context(
        rel, partner, values, [(p, h) for p, h in history], actions, contacts, review.period
    )
    context.pop("values")
    context["status"] = review.status
    return context
