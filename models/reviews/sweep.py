"""The periodic review sweep as plain functions: find due relationships, then review them a batch at a time.

Every write is keyed (review per relationship and period, action per review and rule, risk per
relationship and key, checklist item per relationship, stage, period and item), so a rerun after a
crash, or two sweeps at once, converge on one review per relationship and period.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from models.checklists.budget import YearUse, reserve_for, year_use_many
from models.checklists.generation import (
    ITEM_KEY,
    StagePlan,
    owner_map,
    plan_stage,
    profile_of,
    reusable_evidence_of,
    team_owners,
    tier_of,
)
from models.checklists.library import Item, Library, load_library
from models.checklists.proportionality import Selection, YearLimit, applies_to_profile
from models.core.audit import attribution
from models.core.base import UTCDateTime, attribute, id_of, utcnow
from models.core.calendar import add_business_days, add_months, today_local
from models.core.db import insert_rows, json_text, table_of, update_rows
from models.core.errors import NotFound
from models.core.periods import Period, last_complete_period, parse_period
from models.core.settings import get_settings
from models.core.vocabulary import EventType
from models.lifecycle.relationships import find_relationship
from models.payments.clock import InvoiceClock, invoice_clock
from models.payments.contract import Contract, contracts
from models.payments.law import rules_applied
from models.payments.ledger import from_minor
from models.payments.requests import request_counts
from models.payments.statements import asked_minutes
from models.reviews.health import components, health_score, health_weights, poor_streak, trend
from models.reviews.kpis import checklist_kpis, is_overdue, payment_kpis, response_kpis
from models.reviews.rules import FACTS, Fired, evaluate
from models.reviews.scorecards import compare
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
from models.webhooks.events import (
    payment_overdue,
    queue_events,
    relationship_ref,
    review_completed,
    subscribers,
)

ACTOR = "flow:quarterly-review"
ESCALATE = "escalate_to_sponsor"  # the rule action that escalates a review to the sponsor
MEETING_AFTER_BUSINESS_DAYS = 10  # time for both sides to read the pack before meeting


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
    tier: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # the review row's computed columns
    ref: dict[str, Any] = field(default_factory=dict)  # the relationship as outbound events show it
    overdue: list[dict[str, Any]] = field(default_factory=list)  # unpaid invoices past due at as-of


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
    return [int(i) for i in session.exec(query) if i is not None]


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    """Split ids into batches of at most `size`, in order."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def _set_next_reviews(session: Session, dates: dict[int, date], now: datetime) -> None:
    """Set each relationship's next review date, as one executemany."""
    rows = [{"id": rid, "next_review_on": day, "updated_at": now} for rid, day in dates.items()]
    update_rows(session, table_of(Relationship), rows)
    # Relationships this session already holds reload the new date when next read, as after an ORM
    # update (the flow writes in a fresh session, which holds none).
    for obj in session:
        if isinstance(obj, Relationship) and obj.id in dates:
            session.expire(obj, ["next_review_on", "updated_at"])


# ---------------------------------------------------------------- the batch


@dataclass
class BatchPlan:
    """A batch reviewed from reads alone: every row to write once its reviews are claimed."""

    scope: SweepScope
    actor: str
    prepared: list[Prepared]
    checklists: ChecklistPlan
    next_review: dict[int, date]
    contacts: dict[int, Contact]  # the batch's managers, sponsors, deputies and partner contacts


def review_batch(
    session: Session, relationship_ids: Sequence[int], scope: SweepScope, *, actor: str = ACTOR
) -> list[Prepared]:
    """Review a batch in one transaction: compute everything, then write what this sweep claimed."""
    return write_batch(session, prepare_batch(session, relationship_ids, scope, actor=actor))


def prepare_batch(
    session: Session, relationship_ids: Sequence[int], scope: SweepScope, *, actor: str = ACTOR
) -> BatchPlan:
    """Compute a batch's reviews (checklist, KPIs, health, actions) without writing anything.

    Reads only, so sweeps in several processes compute in parallel and hold the database's write
    lock just for `write_batch`.
    """
    rels = _load_relationships(session, relationship_ids)
    finished = _finished(session, [id_of(r) for r, _ in rels], scope)
    rels = [(r, p) for r, p in rels if r.id not in finished]
    library = load_library()
    checklists = plan_review_checklists(session, rels, scope, library=library)
    facts = _BatchFacts.load(session, rels, scope)
    contacts = _contacts(session, rels)
    prepared = []
    for rel, partner in rels:
        items = facts.items.get(id_of(rel), []) + checklists.items.get(id_of(rel), [])
        budget = facts.budgets.get(id_of(rel), 0) + checklists.budgets.get(id_of(rel), 0)
        prepared.append(_review_one(rel, partner, items, facts, contacts, scope, burden_budget=budget))
    cadence = library.review_cadence_months
    next_review = {p.relationship_id: add_months(scope.period.start, cadence[p.tier]) for p in prepared}
    return BatchPlan(scope, actor, prepared, checklists, next_review, contacts)


def _load_relationships(session: Session, ids: Sequence[int]) -> list[tuple[Relationship, Partner]]:
    query = (
        select(Relationship, Partner)
        .join(Partner, col(Partner.id) == Relationship.partner_id)
        .where(col(Relationship.id).in_(list(ids)), Relationship.stage == Stage.active.value)
        .order_by(col(Relationship.id))
        # Explanations and objectives are long JSON a review never reads: not loaded, and reading
        # one by mistake raises instead of quietly querying once per relationship.
        .options(
            defer(attribute(Relationship.tier_explanation), raiseload=True),
            defer(attribute(Relationship.size_explanation), raiseload=True),
            defer(attribute(Relationship.objectives), raiseload=True),
        )
    )
    return [(r, p) for r, p in session.exec(query)]


def _finished(session: Session, ids: list[int], scope: SweepScope) -> set[int]:
    query = select(Review.relationship_id).where(
        col(Review.relationship_id).in_(ids),
        Review.period == scope.period.name,
        Review.status != ReviewStatus.open.value,
    )
    return set(session.exec(query))


def write_batch(session: Session, plan: BatchPlan) -> list[Prepared]:
    """Claim the batch's reviews and write the rest for those this sweep won; return those.

    The review row is the claim: inserted ready, or taking over an unfinished (open) one, keyed by
    relationship and period. A review another sweep already finished is not returned, and nothing
    else of it is written, so two sweeps at once still make one review each.
    """
    won = _claim(session, plan)
    prepared = [p for p in plan.prepared if p.relationship_id in won]
    for p in prepared:
        p.review_id = won[p.relationship_id]
        p.context["review_id"] = p.review_id
    if not prepared:
        return []
    now = utcnow()
    write_review_checklists(session, plan.checklists, set(won), now=now)
    _store_actions(session, prepared, now)
    _store_risks(session, prepared, now)
    next_review = {p.relationship_id: plan.next_review[p.relationship_id] for p in prepared}
    _set_next_reviews(session, next_review, now)
    insert_rows(
        session,
        AuditEvent,
        [
            {
                "at": now,
                **attribution(plan.actor),
                "action": "review.prepared",
                "entity": "review",
                "entity_id": str(p.review_id),
                "relationship_id": p.relationship_id,
                "reason": None,
                "data": {
                    "period": plan.scope.period.name,
                    "health": p.context["health"],
                    "actions": len(p.context["actions"]),
                },
            }
            for p in prepared
        ],
        unique=[],
    )
    _queue_events(session, prepared, plan.scope)
    return prepared


def _queue_events(session: Session, prepared: list[Prepared], scope: SweepScope) -> None:
    """Queue `review.completed` and `payment.overdue` for the reviews this sweep won, in its transaction.

    An overdue invoice's event id is derived from the invoice, so each subscription hears of it once,
    not at every sweep that still finds it unpaid.
    """
    subscriptions = subscribers(session, EventType.review_completed, EventType.payment_overdue)
    if not subscriptions:
        return
    events = []
    for p in prepared:
        events.append(review_completed(p.ref, _review_data(p)))
        events += [payment_overdue(p.ref, invoice, as_of=scope.as_of) for invoice in p.overdue]
    queue_events(session, events, subscriptions=subscriptions)


def _review_data(p: Prepared) -> dict[str, Any]:
    """Return what `review.completed` says of a review: health, trend, escalations and every action."""
    values, actions = p.values, p.context["actions"]
    brief = [{k: a[k] for k in ("rule_id", "kind", "owner_role", "title", "due_on")} for a in actions]
    return {
        "id": p.review_id,
        "period": p.context["period"],
        "as_of": values["as_of"],
        "health": values["health"],
        "health_delta": values["health_delta"],
        "trend": values["trend"],
        "escalated": values["escalated"],
        "escalations": [a for a in brief if a["kind"] == ESCALATE],
        "actions": brief,
        "meeting_on": values["meeting_on"],
    }


def _claim(session: Session, plan: BatchPlan) -> dict[int, int]:
    """Upsert the batch's finished reviews; return review ids by relationship for those written."""
    if not plan.prepared:
        return {}
    now = utcnow()
    rows = [
        {
            **p.values,
            "relationship_id": p.relationship_id,
            "period": plan.scope.period.name,
            "status": ReviewStatus.ready.value,
            "created_at": now,
            "completed_at": now,
            "updated_at": now,
        }
        for p in plan.prepared
    ]
    clause = _claim_clause(tuple(rows[0]))
    table = table_of(Review)
    found = insert_rows(session, table, rows, on_conflict=clause, returning=("id", "relationship_id"))
    return {rid: review_id for review_id, rid in found}


@lru_cache(maxsize=4)
def _claim_clause(columns: tuple[str, ...]) -> str:
    # Taking over an unfinished (open) review replaces what it held; a finished one is left alone.
    kept = {"id", "relationship_id", "period", "created_at", "announced_at"}
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in kept)
    return f"ON CONFLICT (relationship_id, period) DO UPDATE SET {updates} WHERE review.status = 'open'"


@dataclass
class _Grouped:
    """Identical checklist items as the KPIs read them, with how many there are."""

    stage: str
    period: str
    owner_side: str
    status: str
    due_on: date
    effort_minutes: int
    asked_on: date | None
    created_at: datetime
    done_at: datetime | None
    n: int = 1


@dataclass
class ChecklistPlan:
    """The review checklists a batch will create, and their items as the KPIs see them."""

    templates: list[dict[str, Any]] = field(default_factory=list)
    picks: list[dict[str, Any]] = field(default_factory=list)
    reused_rows: list[dict[str, Any]] = field(default_factory=list)
    generations: list[dict[str, Any]] = field(default_factory=list)
    items: dict[int, list[Any]] = field(default_factory=dict)
    budgets: dict[int, int] = field(default_factory=dict)  # each planned review's effective budget


def plan_review_checklists(
    session: Session,
    rels: list[tuple[Relationship, Partner]],
    scope: SweepScope,
    *,
    library: Library | None = None,
) -> ChecklistPlan:
    """Plan the review checklist of many relationships at once, through the one planner (`plan_stage`)."""
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
    review_keys = {i.evidence_key for i in library.items_for(stage="review") if i.evidence_key}
    reused = reusable_evidence_of(session, {p.id for _, p in todo if p.id is not None}, review_keys)
    teams = team_owners(session)
    plans = _review_plans(library, period=period, start=scope.as_of)
    years = year_use_many(session, [(r, tier_of(r, p)) for r, p in todo], scope.as_of, library)
    now = utcnow()
    out = ChecklistPlan()
    templates: dict[tuple[str, str], int] = {}  # (tier, item id) -> index in out.templates
    for rel, partner in todo:
        evidence = reused.get(id_of(partner), {})
        plan = plans.plan(rel, partner, evidence, years[id_of(rel)])
        out.budgets[id_of(rel)] = plan.selection.budget_minutes
        tier = plan.selection.tier
        owners = owner_map(rel, teams)
        seen: list[Any] = [_Grouped(**g, created_at=now, done_at=None) for g in plan.grouped]
        for spec, template in plan.templates:
            given = evidence.get(spec.evidence_key) if spec.evidence_key else None
            if given is None:
                index = templates.setdefault((tier, spec.id), len(out.templates))
                if index == len(out.templates):
                    out.templates.append(_template_json(template, index))
                out.picks.append({"r": rel.id, "o": owners(spec.owner_role), "t": index})
            else:  # reused evidence makes a different row: let the one row builder make it
                row = plan.stage.row(rel.id, spec, owner=owners(spec.owner_role), reused=given)
                out.reused_rows.append(row)
                seen.append(_Grouped(**{k: row[k] for k in _GROUPED_FIELDS}))
        out.items[id_of(rel)] = seen
        out.generations.append(
            {**plan.generation, "relationship_id": rel.id, "generated_at": now, "updated_at": now}
        )
    return out


_KPI_FIELDS = ("stage", "period", "owner_side", "status", "due_on", "effort_minutes", "asked_on")
_GROUPED_FIELDS = (*_KPI_FIELDS, "created_at", "done_at")


def _grouped(rows: list[tuple[Item, dict[str, Any]]], evidence: frozenset[str]) -> list[dict[str, Any]]:
    """Count a plan's fresh rows by what the KPIs read (rows answered by reused evidence differ)."""
    counts = Counter(
        tuple(t[name] for name in _KPI_FIELDS)
        for spec, t in rows
        if not (spec.evidence_key and spec.evidence_key in evidence)
    )
    return [{**dict(zip(_KPI_FIELDS, key, strict=True)), "n": n} for key, n in counts.items()]


def write_review_checklists(
    session: Session, plan: ChecklistPlan, relationship_ids: set[int], *, now: datetime
) -> None:
    """Insert the planned checklists of these relationships (keyed rows: a rerun adds nothing)."""
    picks = [p for p in plan.picks if p["r"] in relationship_ids]
    _insert_from_templates(session, plan.templates, picks, now)
    reused = [r for r in plan.reused_rows if r["relationship_id"] in relationship_ids]
    insert_rows(session, ChecklistItem, reused, unique=ITEM_KEY)
    generations = [g for g in plan.generations if g["relationship_id"] in relationship_ids]
    insert_rows(session, ChecklistGeneration, generations, unique=("relationship_id", "stage", "period"))


# A review item's row depends on the relationship only through its id and its owner; everything else
# comes from the library item and the tier. So the batch's rows are made inside the database from a
# few dozen templates and one (relationship, owner, template) triple per item, both sent as JSON:
# SQLAlchemy's per-row parameter processing of 33 wide rows a relationship cost more than all the
# rest of the review.
TEMPLATE_COLUMNS = (
    "stage",
    "period",
    "item_key",
    "library_version",
    "clause",
    "owner_side",
    "owner_role",
    "priority",
    "required",
    "effort_minutes",
    "asked_on",
    "due_on",
    "title",
    "reason",
    "evidence_key",
    "status",
    "reminders",
)
_PG_TYPES = {
    "library_version": "int",
    "required": "boolean",
    "effort_minutes": "int",
    "asked_on": "date",
    "reminders": "int",
    "due_on": "date",
    "title": "json",
    "reason": "json",
}


def _template_json(row: dict[str, Any], index: int) -> dict[str, Any]:
    out = {name: row[name] for name in TEMPLATE_COLUMNS}
    out["due_on"] = row["due_on"].isoformat()
    out["asked_on"] = row["asked_on"].isoformat()
    out["k"] = index
    return out


@lru_cache(maxsize=4)
def _template_insert(dialect: str) -> Any:
    columns = ", ".join(
        ("relationship_id", "owner_contact_id", *TEMPLATE_COLUMNS, "created_at", "updated_at")
    )
    conflict = "ON CONFLICT (relationship_id, stage, period, item_key) DO NOTHING"
    if dialect == "postgresql":
        shape = ", ".join(f"{c} {_PG_TYPES.get(c, 'text')}" for c in TEMPLATE_COLUMNS)
        sql = (
            f"INSERT INTO checklist_item ({columns}) "
            f"SELECT p.r, p.o, {', '.join('t.' + c for c in TEMPLATE_COLUMNS)}, :now, :now "
            "FROM json_to_recordset(CAST(:picks AS json)) AS p(r int, o int, t int) "
            f"JOIN json_to_recordset(CAST(:templates AS json)) AS t(k int, {shape}) ON t.k = p.t "
            f"{conflict}"
        )
    else:
        fields = ", ".join(f"json_extract(value, '$.{c}') AS {c}" for c in TEMPLATE_COLUMNS)
        # WHERE true: SQLite needs it to tell the upsert's ON from a join's ON.
        sql = (
            f"WITH t AS MATERIALIZED (SELECT json_extract(value, '$.k') AS k, {fields} "
            "FROM json_each(:templates)) "
            f"INSERT INTO checklist_item ({columns}) "
            "SELECT json_extract(p.value, '$.r'), json_extract(p.value, '$.o'), "
            f"{', '.join('t.' + c for c in TEMPLATE_COLUMNS)}, :now, :now "
            "FROM json_each(:picks) AS p CROSS JOIN t ON t.k = json_extract(p.value, '$.t') "
            f"WHERE true {conflict}"
        )
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()))


def _insert_from_templates(
    session: Session, templates: list[dict[str, Any]], picks: list[dict[str, Any]], now: datetime
) -> None:
    if picks:
        statement = _template_insert(session.get_bind().dialect.name)
        session.execute(
            statement,
            {"templates": json_text(templates), "picks": json_text(picks), "now": now},
        )


@dataclass
class _Plan:
    """One review profile's plan, with its item rows as templates (no relationship, owner or reuse)."""

    stage: StagePlan
    templates: list[tuple[Item, dict[str, Any]]]
    generation: dict[str, Any]
    grouped: list[dict[str, Any]]

    @property
    def selection(self) -> Selection:
        """Return the plan's selection."""
        return self.stage.selection


class _ReviewPlans:
    """Selections and row templates per review profile, computed once and stamped per relationship.

    The selection depends on a relationship only through its tier, size class, criticality, the
    truth of the library's conditions and the evidence already given, so those make the key.
    """

    def __init__(self, library: Library, *, period: str, start: date) -> None:
        self.library, self.period, self.start = library, period, start
        found = {c for i in library.items_for(stage="review") for c in i.applies.conditions}
        self.conditions = sorted(found, key=str)
        self.yearly = frozenset(i.id for i in library.items_for(stage="review") if i.every == "year")
        self.plans: dict[Any, _Plan] = {}
        self.reserves: dict[Any, int] = {}

    def _year(self, base: tuple[Any, ...], tier: str, profile: Any, use: YearUse) -> YearLimit:
        """Return the year limit of a relationship, its exit reserve computed once per profile."""
        if base not in self.reserves:
            self.reserves[base] = reserve_for(self.library, "review", applies_to_profile(tier, profile))
        return YearLimit(
            budget=use.budget,
            left=use.left,
            reserve=self.reserves[base],
            asked=frozenset(use.keys & self.yearly),
        )

    def plan(
        self, rel: Relationship, partner: Partner, evidence: dict[str, ChecklistItem], use: YearUse
    ) -> _Plan:
        """Return the plan for a relationship's profile and year (computed on first use)."""
        tier, profile = tier_of(rel, partner), profile_of(rel, partner)
        facts = profile.facts()
        truth = tuple(c.holds(facts) for c in self.conditions)
        base = (tier, profile.size_class, profile.criticality, truth)
        year = self._year(base, tier, profile, use)
        # The year shapes the plan only where it binds: with room for the whole stage, one plan serves all.
        binding = year.left - year.reserve < self.library.budget(tier, "review")
        key = (*base, frozenset(evidence), year.asked, (year.left, year.budget) if binding else None)
        if key not in self.plans:
            stage = plan_stage(
                self.library,
                profile,
                tier=tier,
                stage="review",
                period=self.period,
                start=self.start,
                year=year,
                reused={k: item.id for k, item in evidence.items() if item.id is not None},
            )
            chosen = stage.selection.chosen
            templates = [(c.item, stage.row(None, c.item, owner=None, reused=None)) for c in chosen]
            generation = stage.generation_row(None, now=utcnow())
            # Serialized once: every relationship of this profile stores the same lists.
            generation.update(
                selected=json_text(generation["selected"]), left_out=json_text(generation["left_out"])
            )
            self.plans[key] = _Plan(stage, templates, generation, _grouped(templates, frozenset(evidence)))
        return self.plans[key]


@lru_cache(maxsize=4)
def _review_plans(library: Library, *, period: str, start: date) -> _ReviewPlans:
    # One sweep runs many batches in one process: their relationships share a few hundred profiles.
    # The library is loaded once and never changed in place, so it keys the cache by identity.
    return _ReviewPlans(library, period=period, start=start)


@dataclass
class _BatchFacts:
    """Everything a batch's KPIs read, loaded in one query per table."""

    payments: dict[int, list[Any]]
    items: dict[int, list[Any]]
    scores: dict[int, dict[str, dict[str, int]]]
    history: dict[int, list[tuple[str, int | None]]]
    contracts: dict[int, Contract]
    requests: dict[int, tuple[int, int]]  # protected: open and overdue partner requests
    asked: dict[int, int]  # partner minutes asked outside the checklist (statements)
    budgets: dict[int, int]  # the period's stage budgets already planned, per relationship

    @classmethod
    def load(
        cls, session: Session, rels: list[tuple[Relationship, Partner]], scope: SweepScope
    ) -> _BatchFacts:
        """Load payments, checklist items, scores, past reviews, contracts, requests and asks of a batch."""
        ids = [id_of(r) for r, _ in rels]
        start, end = scope.period.start, scope.period.end
        payments: dict[int, list[Any]] = defaultdict(list)
        pay_query = sa_select(
            col(Payment.relationship_id),
            col(Payment.invoice_id),
            col(Payment.delivered_on),
            col(Payment.invoiced_on),
            col(Payment.accepted_on),
            col(Payment.settled_on),
            col(Payment.paid_on),
            col(Payment.payment_method),
            col(Payment.matures_on),
            col(Payment.amount_minor),
            col(Payment.disputed_minor),
            col(Payment.currency),
        ).where(
            col(Payment.relationship_id).in_(ids),
            or_(col(Payment.paid_on).is_(None), col(Payment.paid_on) >= start),
        )
        # Core, not ORM, execution: these are plain rows, and the ORM's row loading cost more than SQL.
        connection = session.connection()
        for row in connection.execute(pay_query):
            payments[row.relationship_id].append(row)
        items: dict[int, list[Any]] = defaultdict(list)
        for row in connection.execute(_items_query(ids, scope)):
            items[row.relationship_id].append(row)
        return cls(
            payments,
            items,
            _scores(session, ids, scope),
            _history(session, ids, scope),
            contracts(session, rels),
            request_counts(session, ids, as_of=scope.as_of),
            asked_minutes(session, ids, start=start, end=end),
            _period_budgets(session, ids, scope),
        )


def _period_budgets(session: Session, ids: list[int], scope: SweepScope) -> dict[int, int]:
    """Return each relationship's budget of the stages planned in the period (the review by its period)."""
    p = scope.period
    query = (
        sa_select(col(ChecklistGeneration.relationship_id), func.sum(ChecklistGeneration.budget_minutes))
        .where(
            col(ChecklistGeneration.relationship_id).in_(ids),
            or_(
                and_(col(ChecklistGeneration.stage) == "review", col(ChecklistGeneration.period) == p.name),
                and_(
                    col(ChecklistGeneration.stage) != "review",
                    col(ChecklistGeneration.stage_started_on) >= p.start,
                    col(ChecklistGeneration.stage_started_on) <= p.end,
                ),
            ),
        )
        .group_by(col(ChecklistGeneration.relationship_id))
    )
    return {rid: int(total or 0) for rid, total in session.connection().execute(query)}


def _items_query(ids: list[int], scope: SweepScope) -> Any:
    """Select the items the checklist KPIs read, identical ones grouped with their count `n`.

    A fresh review checklist is 30-odd items that differ only in what the KPIs do not read.
    """
    since = datetime.combine(scope.period.start, time(), tzinfo=UTC)
    fields = (
        col(ChecklistItem.relationship_id),
        col(ChecklistItem.stage),
        col(ChecklistItem.period),
        col(ChecklistItem.owner_side),
        col(ChecklistItem.status),
        col(ChecklistItem.due_on),
        col(ChecklistItem.effort_minutes),
        col(ChecklistItem.asked_on),
        col(ChecklistItem.created_at),
        col(ChecklistItem.done_at),
    )
    return (
        sa_select(*fields, func.count().label("n"))
        .where(
            col(ChecklistItem.relationship_id).in_(ids),
            or_(
                col(ChecklistItem.status) == ItemStatus.open.value,
                col(ChecklistItem.done_at) >= since,
                col(ChecklistItem.created_at) >= since,
                col(ChecklistItem.asked_on) >= scope.period.start,
                and_(col(ChecklistItem.stage) == "review", col(ChecklistItem.period) == scope.period.name),
            ),
        )
        .group_by(*fields)
    )


def _scores(session: Session, ids: list[int], scope: SweepScope) -> dict[int, dict[str, dict[str, int]]]:
    found: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: {"ours": {}, "partner": {}})
    query = select(
        ScorecardEntry.relationship_id, ScorecardEntry.side, ScorecardEntry.principle, ScorecardEntry.score
    ).where(col(ScorecardEntry.relationship_id).in_(ids), ScorecardEntry.period == scope.period.name)
    for rid, side, principle, score in session.connection().execute(query):
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
    for rid, period, health in session.connection().execute(query):
        found[rid].append((period, health))
    return found


def _contacts(session: Session, rels: list[tuple[Relationship, Partner]]) -> dict[int, Contact]:
    ids = {i for r, _ in rels for i in (r.manager_id, r.sponsor_id, r.partner_contact_id, r.deputy_id) if i}
    return {id_of(c): c for c in session.exec(select(Contact).where(col(Contact.id).in_(ids)))}


# ---------------------------------------------------------------- one relationship


def invoice_clocks(contract: Contract, payments: Iterable[Any], *, as_of: date) -> list[InvoiceClock]:
    """Return the clock of each of a relationship's invoices at the as-of date."""
    terms, law, check = contract.terms, contract.law, contract.check
    return [invoice_clock(inv, terms, law, as_of=as_of, check=check) for inv in payments]


def compute_kpis(
    *,
    contract: Contract,
    clocks: Sequence[InvoiceClock],
    items: Sequence[Any],
    scores: dict[str, dict[str, int]],
    scope: SweepScope,
    burden_budget: int,
    requests: tuple[int, int] = (0, 0),
    asked_minutes: int = 0,
) -> dict[str, Any]:
    """Return every KPI of one relationship for one period, as JSON-ready data.

    `burden_budget` is the period's whole partner-effort budget: every stage planned in it.
    """
    p, model = scope.period, health_weights()
    return {
        "payments": payment_kpis(
            clocks, check=contract.check, start=p.start, end=p.end, as_of=scope.as_of, requests=requests
        ),
        "checklist": checklist_kpis(
            items,
            period=p.name,
            start=p.start,
            end=p.end,
            as_of=scope.as_of,
            budget_minutes=burden_budget,
            other_asks_minutes=asked_minutes,
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
        "invoices_late_by_law": pay["late_by_law"],
        "term_beyond_cap": int(pay["term_finding"] == "beyond_cap"),
        "term_needs_justification": int(
            "needs_justification" in (pay["term_finding"], pay["acceptance_finding"])
        ),
        "invoices_noncash_stretch": pay["noncash_stretch"],
        "requests_open": pay["requests_open"],
        "requests_overdue": pay["requests_overdue"],
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
    items: list[Any],
    facts: _BatchFacts,
    contacts: dict[int, Contact],
    scope: SweepScope,
    *,
    burden_budget: int,
) -> Prepared:
    rid = rel.id or 0
    tier = tier_of(rel, partner)
    clocks = invoice_clocks(facts.contracts[rid], facts.payments.get(rid, []), as_of=scope.as_of)
    kpis = compute_kpis(
        contract=facts.contracts[rid],
        clocks=clocks,
        items=items,
        scores=facts.scores.get(rid, {}),
        scope=scope,
        burden_budget=burden_budget,
        requests=facts.requests.get(rid, (0, 0)),
        asked_minutes=facts.asked.get(rid, 0),
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
        "as_of": scope.as_of,
        "tier": tier,
        "health": health,
        "health_delta": delta,
        "trend": label,
        "kpis": kpis,
        "health_components": {k: (None if v is None else round(v, 3)) for k, v in parts.items()},
        "scorecards": cards,
        "findings": {"facts": found, "fired": [f.rule_id for f in fired]},
        "meeting_on": add_business_days(scope.as_of, MEETING_AFTER_BUSINESS_DAYS),
        "escalated": any(f.kind == ESCALATE for f in fired),
    }
    # What the invitation, the sweep's report and the audit need; a pack is rendered from the stored
    # review (review_public) when someone reads it.
    context: dict[str, Any] = {
        "period": scope.period.name,
        "review_id": None,
        "relationship": {"id": rid, "partner_name": partner.legal_name},
        "meeting_on": str(values["meeting_on"]),
        "health": health,
        "trend": label,
        "actions": _actions(fired, scope),
        "contacts": {
            "manager": _person(contacts.get(rel.manager_id)),
            "sponsor": _person(contacts.get(rel.sponsor_id)),
            "partner_contact": _person(contacts.get(rel.partner_contact_id)),
        },
    }
    return Prepared(
        review_id=0,
        relationship_id=rid,
        context=context,
        escalated=values["escalated"],
        recipients={role: context["contacts"][role] for role in ("manager", "sponsor", "partner_contact")},
        tier=tier,
        values=values,
        ref=relationship_ref(rel, partner),
        overdue=[_invoice_data(c) for c in clocks if is_overdue(c)],
    )


def _invoice_data(clock: InvoiceClock) -> dict[str, Any]:
    """Return what `payment.overdue` says of an invoice, by its clock."""
    return {
        "invoice_id": clock.invoice_id,
        "amount": from_minor(clock.amount_minor, clock.currency),
        "currency": clock.currency,
        "undisputed_amount": from_minor(clock.due_minor, clock.currency),
        "clock_started_by": clock.started_by,
        "clock_started_on": clock.started_on,
        "due_on": clock.due_on,
        "days_overdue": clock.days_late,
    }


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
    pay = values["kpis"]["payments"]
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
        # The rules as they applied to this review's terms (stored with its KPIs), with their articles.
        "law": rules_applied(pay.get("jurisdiction"), buyer_type=pay["buyer_type"], basis=pay["basis"]),
        "health": values["health"],
        "health_delta": values["health_delta"],
        "trend": values["trend"],
        "history": [{"period": p, "health": h} for p, h in reversed(history)],
        "components": values["health_components"],
        "kpis": values["kpis"],
        "interest": [
            {"currency": c, "amount": from_minor(m, c)} for c, m in pay["late_interest_minor"].items()
        ],
        "disputed": [{"currency": c, "amount": from_minor(m, c)} for c, m in pay["disputed_minor"].items()],
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
    insert_rows(session, ReviewAction, rows, unique=("review_id", "rule_id"))


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
    insert_rows(session, Risk, rows, unique=("relationship_id", "key"))


def unannounced(session: Session, period: str) -> list[Any]:
    """Return the period's ready reviews no summary has named yet, lowest health first."""
    query = (
        sa_select(
            col(Review.id),
            col(Review.relationship_id),
            col(Partner.legal_name),
            col(Relationship.manager_id),
            col(Relationship.sponsor_id),
            col(Review.health),
            col(Review.trend),
            col(Review.escalated),
        )
        .join(Relationship, col(Relationship.id) == Review.relationship_id)
        .join(Partner, col(Partner.id) == Relationship.partner_id)
        .where(*_unannounced(period))
        .order_by(col(Review.health).is_(None), col(Review.health), col(Review.relationship_id))
    )
    return list(session.execute(query))


def _unannounced(period: str) -> tuple[Any, ...]:
    return (
        Review.period == period,
        Review.status == ReviewStatus.ready.value,
        col(Review.announced_at).is_(None),
    )


def action_titles(session: Session, review_ids: Sequence[int]) -> dict[int, list[dict[str, str]]]:
    """Return the action titles of these reviews, by review id, in the order they were raised."""
    found: dict[int, list[dict[str, str]]] = defaultdict(list)
    for start in range(0, len(review_ids), 500):
        chunk = list(review_ids[start : start + 500])
        query = (
            select(ReviewAction.review_id, ReviewAction.title)
            .where(col(ReviewAction.review_id).in_(chunk))
            .order_by(col(ReviewAction.id))
        )
        for review_id, title in session.connection().execute(query):
            found[review_id].append(title)
    return found


def mark_announced(session: Session, review_ids: Sequence[int]) -> None:
    """Record that a summary named these reviews."""
    now = utcnow()
    for start in range(0, len(review_ids), 500):
        chunk = list(review_ids[start : start + 500])
        # Core, not ORM, update: no loaded reviews to keep in step, so skip the ORM's bookkeeping.
        session.connection().execute(
            update(Review).where(col(Review.id).in_(chunk)).values(announced_at=now, updated_at=now)
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
