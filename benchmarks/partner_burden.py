"""Benchmark: the partner's time and inbox over simulated years; print one JSON line.

Run: python -m benchmarks.partner_burden [--per-tier 4] [--years 2]

Seeds a portfolio with `--per-tier` relationships on each governance tier (half Chinese, half
German partners; half of them exit in month 9) and lives through `--years` years a day at a time,
twice: once with partners who answer within a week, once with partners who never answer. Each day,
in this order: our staff close what they owe within two days; the partner answers (or not); our
manager waives a required partner item three weeks past due (so a silent partner's relationship
still moves on); stages advance as the flows advance them; the exit starts on its day; on the first
day of a quarter the quarterly review sweep runs; the daily reminder sweep runs; and what was
planned for the day counts as delivered. It calls the same plain functions the flows' tasks wrap.

It prints {"tiers": {tier: {mode: {...}}}, ...}; each leaf holds, over that tier's relationships:
- onboarding_minutes, year1_minutes, later_year_minutes: the most partner minutes one relationship
  asked in its onboarding, its first relationship year, and its second year (relationships that did
  not exit);
- max_messages_per_month, median_messages_per_month: messages to one partner contact in one
  calendar month (the median over main contacts and every month, quiet months included);
  max_messages_per_day; year1_messages, to one partner (main and backup contact) in its first year;
- messages_after_exit: messages to a partner planned on or after its exit day, other than the exit
  notice itself;
- items_asked_more_than_twice: partner items named in more than two reminders;
- clauses_covered: the fewest of clauses 5.1-5.12 any relationship's checklists cover.
Time is not measured: the goals are counts (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

START = date(2027, 1, 4)  # a Monday
TIMEZONE = "Asia/Shanghai"
MODES = ("answers_in_a_week", "never_answers")
TIERS = ("light", "standard", "enhanced")
STAFF_DAYS = 2  # our staff close what they owe two days after it is asked
WAIVE_AFTER_DAYS = 21  # our manager waives a silent partner's required item three weeks past due
EXIT_MONTH = 9
MANAGER, DEPUTY, SPONSOR = "rm@bigco.example", "deputy@bigco.example", "vp@bigco.example"
# (employees, revenue, criticality, dependency): what the tier rules turn into each tier.
PROFILES = {
    "light": (8, 2_500_000, "low", 0.1),  # micro
    "standard": (40, 20_000_000, "medium", 0.2),  # small (CN), medium (EU)
    "enhanced": (300, 150_000_000, "high", 0.4),  # medium (CN), large (EU)
}
COUNTRIES = (("CN", "CNY", "industry", "zh-CN"), ("DE", "EUR", "industry", "en"))


def _configure(home: str) -> None:
    """Point Tandem at a throwaway home and database before it is imported."""
    os.environ.update(
        {
            "TANDEM_HOME": home,
            "TANDEM_DATABASE_URL": f"sqlite:///{home}/tandem.db",
            "TANDEM_TIMEZONE": TIMEZONE,
            "TANDEM_ORGANIZATION_NAME": "BigCo Manufacturing",
            "PREFECT_HOME": os.path.join(home, "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    )


def _at(day: date, hour: int) -> datetime:
    """Return an hour of a day in the organization's timezone, as UTC."""
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(TIMEZONE)).astimezone(UTC)


def _exit_day(start: date) -> date:
    """Return the first weekday of the relationship's ninth month."""
    from models.core.calendar import add_months

    day = add_months(start, EXIT_MONTH - 1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def seed(per_tier: int, tiers: tuple[str, ...] = TIERS) -> dict[int, dict[str, Any]]:
    """Register partners and open, approve and onboard one relationship each; return them by id."""
    from benchmarks.registry import uscc
    from models.core.base import id_of
    from models.core.db import session_scope, upgrade_schema
    from models.lifecycle.machine import ApprovalDecision, record_approval, store_proposed_tier
    from models.lifecycle.relationships import RelationshipOpen, open_relationship
    from models.partners.registry import PartnerCreate, add_partner
    from notifications.lifecycle import finish_onboarding

    upgrade_schema()
    portfolio: dict[int, dict[str, Any]] = {}
    with session_scope() as session:
        for tier in tiers:
            employees, revenue, criticality, dependency = PROFILES[tier]
            for n in range(per_tier):
                country, currency, industry, lang = COUNTRIES[n % 2]
                serial = n * len(tiers) + list(tiers).index(tier)
                regid = uscc(serial) if country == "CN" else f"{tier[0].upper()}{n:04d}"
                partner = add_partner(
                    session,
                    PartnerCreate(
                        legal_name=f"{tier.title()} Partner {n}",
                        registration_id=regid,
                        country=country,
                        industry=industry,
                        employees=employees,
                        annual_revenue=revenue,
                        currency=currency,
                        preferred_language=lang,
                    ),
                    actor="benchmark",
                )
                rel = open_relationship(
                    session,
                    RelationshipOpen(
                        partner=str(partner.id),
                        manager=MANAGER,
                        deputy=DEPUTY,
                        sponsor=SPONSOR,
                        partner_contact=f"owner{partner.id}@partner.example",
                        backup_contact=f"office{partner.id}@partner.example",
                        criticality=criticality,
                        dependency_ratio=dependency,
                        payment_term_days=45,
                    ),
                    actor="benchmark",
                )
                store_proposed_tier(session, rel, actor="benchmark")
                record_approval(session, rel, ApprovalDecision(decision="approve", by=SPONSOR))
                session.flush()
                now = _at(START, 9)
                finish_onboarding(session, id_of(rel), as_of=START, actor="benchmark", now=now)
                exits = n % 2 == 1
                portfolio[id_of(rel)] = {
                    "tier": rel.tier,
                    "wanted_tier": tier,
                    "exit_on": _exit_day(START) if exits else None,
                    "partner_contact": rel.partner_contact_id,
                    "partner_contacts": {rel.partner_contact_id, rel.backup_contact_id},
                }
    return portfolio


def _act(day: date, mode: str) -> None:
    """Play one day of people: our staff, the partner, and our manager with a silent partner."""
    from sqlmodel import col, select

    from models.checklists.generation import mark_done, waive
    from models.core.base import id_of
    from models.core.db import session_scope
    from models.tables import ChecklistItem, Contact, ItemStatus, Relationship

    with session_scope() as session:
        rows = session.exec(
            select(ChecklistItem, Relationship)
            .join(Relationship, col(Relationship.id) == ChecklistItem.relationship_id)
            .where(col(ChecklistItem.status) == ItemStatus.open.value)
        ).all()
        emails = {c.id: c.email for c in session.exec(select(Contact))}
        for item, rel in rows:
            asked = item.asked_on or day
            within_a_week = day >= asked + timedelta(days=1 + (item.id or 0) % 7)
            if item.owner_side == "ours" and day >= asked + timedelta(days=STAFF_DAYS):
                by = emails.get(item.owner_contact_id) or MANAGER
                mark_done(session, id_of(item), by=by, evidence="done")
            elif item.owner_side != "ours" and mode == "answers_in_a_week" and within_a_week:
                by = emails[rel.partner_contact_id] if item.owner_side == "partner" else MANAGER
                mark_done(session, id_of(item), by=by, evidence="answered")
            elif item.required and day >= item.due_on + timedelta(days=WAIVE_AFTER_DAYS):
                reason = "the partner did not answer; called instead"
                waive(session, id_of(item), by=MANAGER, reason=reason)


def _advance(day: date, portfolio: dict[int, dict[str, Any]]) -> None:
    """Move every relationship on as the flows would: governance, active, exit, exited."""
    from models.checklists.generation import open_required
    from models.core.db import session_scope
    from models.tables import Relationship
    from notifications import lifecycle

    for rid, info in portfolio.items():
        with session_scope() as session:
            rel = session.get(Relationship, rid)
            assert rel is not None
            if info["exit_on"] == day and rel.stage in ("onboarding", "governance", "active"):
                lifecycle.begin_exit(
                    session,
                    rid,
                    reason="product line discontinued",
                    trigger="strategy-change",
                    by=SPONSOR,
                    as_of=day,
                    now=_at(day, 9),
                )
            elif rel.stage == "onboarding" and not open_required(session, rid, "onboarding"):
                lifecycle.start_governance(session, rid, as_of=day, actor="benchmark")
            elif rel.stage == "governance":
                lifecycle.activate_if_governed(session, rid, as_of=day, actor="benchmark")
            elif rel.stage == "exiting":
                lifecycle.close_exit_if_done(session, rid, actor="benchmark")


def _review(day: date) -> None:
    """Run the quarterly review sweep as its schedule does, on the first day of a quarter."""
    from models.core.db import session_scope
    from models.reviews.sweep import due_relationship_ids, resolve_scope
    from notifications.review_publishing import announce, run_batch

    scope = resolve_scope(None, day)
    with session_scope() as session:
        due = due_relationship_ids(session, scope)
    if due:
        run_batch(due, scope, now=_at(day, 8))
    with session_scope() as session:
        announce(session, scope.period.name)


def _remind_and_deliver(day: date) -> None:
    """Run the day's reminder sweep, then count what was planned for the day as delivered."""
    from sqlalchemy import update
    from sqlmodel import col

    from models.core.db import session_scope
    from models.tables import MessageStatus, OutboxMessage
    from notifications.reminders import sweep

    with session_scope() as session:
        sweep(session, as_of=_at(day, 8))
    with session_scope() as session:
        session.connection().execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.status) == MessageStatus.queued.value, col(OutboxMessage.planned_on) <= day
            )
            .values(status=MessageStatus.sent.value)
        )


def simulate(mode: str, per_tier: int, years: int) -> dict[str, dict[str, Any]]:
    """Live through the years in one throwaway database; return each tier's figures."""
    with tempfile.TemporaryDirectory(prefix="tandem-burden-") as home:
        _configure(home)
        portfolio = seed(per_tier)
        return live(portfolio, mode, years)


def live(portfolio: dict[int, dict[str, Any]], mode: str, years: int) -> dict[str, dict[str, Any]]:
    """Play every day of the years from START in the configured database; return each tier's figures."""
    end = START + timedelta(days=365 * years)
    day = START
    while day < end:
        _act(day, mode)
        _advance(day, portfolio)
        if day.day == 1 and day.month in (1, 4, 7, 10):
            _review(day)
        _remind_and_deliver(day)
        day += timedelta(days=1)
    return measure(portfolio, end, years)


def measure(portfolio: dict[int, dict[str, Any]], end: date, years: int) -> dict[str, dict[str, Any]]:
    """Read what the years asked of each partner and sent to it, per tier."""
    from sqlmodel import col, select

    from models.core.calendar import add_months
    from models.core.db import session_scope
    from models.tables import ChecklistItem, MessageStatus, OutboxMessage, Relationship
    from notifications.outbox import REMINDER_KINDS

    figures: dict[str, dict[str, Any]] = {}
    with session_scope() as session:
        items = session.exec(select(ChecklistItem)).all()
        messages = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.status) != MessageStatus.cancelled.value)
        ).all()
        rels = {r.id: r for r in session.exec(select(Relationship)) if r.id is not None}
    months = _months(START, end)
    for tier in sorted({info["wanted_tier"] for info in portfolio.values()}, key=TIERS.index):
        ids = {rid for rid, info in portfolio.items() if info["wanted_tier"] == tier}
        contacts = set().union(*(portfolio[rid]["partner_contacts"] for rid in ids)) - {None}
        minutes = _minutes(items, ids, rels, add_months)
        to_partner = [m for m in messages if m.recipient_id in contacts]
        # A message to a contact always has its planned day: the filter only tells mypy so.
        planned = [(m.recipient_id, m.planned_on) for m in to_partner if m.planned_on is not None]
        per_month = Counter((rid, (day.year, day.month)) for rid, day in planned)
        per_day = Counter((m.recipient_id, m.planned_on) for m in to_partner)
        # The median is over main contacts (a backup hears from us only when the main one is away).
        main = {portfolio[rid]["partner_contact"] for rid in ids}
        counts = [per_month[(c, month)] for c in main for month in months]
        reminded = Counter(i for m in to_partner if m.kind in REMINDER_KINDS for i in m.item_ids)
        partner_items = {
            i.id for i in items if i.id and i.relationship_id in ids and i.owner_side == "partner"
        }
        contact_exit = {
            c: portfolio[rid]["exit_on"]
            for rid in ids
            for c in portfolio[rid]["partner_contacts"]
            if portfolio[rid]["exit_on"] and c
        }
        after_exit = [
            m
            for m in to_partner
            if m.recipient_id in contact_exit
            and m.planned_on >= contact_exit[m.recipient_id]
            and m.kind != "exit_notice"
        ]
        clauses: dict[int, set[str]] = defaultdict(set)
        for item in items:
            if item.relationship_id in ids:
                clauses[item.relationship_id].add(item.clause)
        figures[tier] = {
            "relationships": len(ids),
            "tiers_given": sorted({portfolio[rid]["tier"] for rid in ids}),
            "onboarding_minutes": max(minutes["onboarding"][rid] for rid in ids),
            "year1_minutes": max(minutes["year1"][rid] for rid in ids),
            "later_year_minutes": max(
                (minutes["year2"][rid] for rid in ids if not portfolio[rid]["exit_on"]), default=None
            )
            if years > 1
            else None,
            "max_messages_per_month": max(per_month.values(), default=0),
            "median_messages_per_month": statistics.median(counts) if counts else 0,
            "max_messages_per_day": max(per_day.values(), default=0),
            "year1_messages": max(_first_year(to_partner, portfolio[rid]["partner_contacts"]) for rid in ids),
            "messages_after_exit": len(after_exit),
            "exits": sum(1 for rid in ids if portfolio[rid]["exit_on"]),
            "items_asked_more_than_twice": sum(1 for i in partner_items if reminded[i] > 2),
            "clauses_covered": min(len(clauses[rid]) for rid in ids),
        }
    return figures


def _first_year(messages: list[Any], contacts: set[int | None]) -> int:
    """Return how many of these messages went to one partner's contacts in its first year."""
    from models.core.calendar import add_months

    end = add_months(START, 12)
    return sum(1 for m in messages if m.recipient_id in contacts and m.planned_on < end)


def _minutes(items: Any, ids: set[int], rels: dict[int, Any], add_months: Any) -> dict[str, Counter[int]]:
    """Return partner minutes per relationship: its onboarding, its first and its second year."""
    out: dict[str, Counter[int]] = {"onboarding": Counter(), "year1": Counter(), "year2": Counter()}
    for item in items:
        rid = item.relationship_id
        if rid not in ids:
            continue
        anchor = rels[rid].signed_on
        if item.stage == "onboarding":
            out["onboarding"][rid] += item.effort_minutes
        if anchor <= item.asked_on < add_months(anchor, 12):
            out["year1"][rid] += item.effort_minutes
        elif add_months(anchor, 12) <= item.asked_on < add_months(anchor, 24):
            out["year2"][rid] += item.effort_minutes
    return out


def _months(start: date, end: date) -> list[tuple[int, int]]:
    """Return the calendar months from start (inclusive) to end (exclusive)."""
    months, day = [], start.replace(day=1)
    while day < end:
        months.append((day.year, day.month))
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _run(args: tuple[str, int, int]) -> tuple[str, dict[str, dict[str, Any]]]:
    mode, per_tier, years = args
    return mode, simulate(mode, per_tier, years)


def main(argv: list[str] | None = None) -> int:
    """Simulate both kinds of partner (in parallel processes) and print the figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--per-tier", type=int, default=4, help="relationships per tier (half exit)")
    parser.add_argument("--years", type=int, default=2, help="years to simulate (2: a later year too)")
    args = parser.parse_args(argv)
    if args.per_tier < 2 or args.years < 1:
        parser.error("--per-tier needs at least 2 (one stays, one exits) and --years at least 1")
    # Spawned: each run configures its own database before Tandem reads its settings.
    with multiprocessing.get_context("spawn").Pool(len(MODES)) as pool:
        results = dict(pool.map(_run, [(mode, args.per_tier, args.years) for mode in MODES]))
    tiers = {tier: {mode: results[mode][tier] for mode in MODES} for tier in TIERS}
    run = {"per_tier": args.per_tier, "years": args.years, "start": START.isoformat()}
    print(json.dumps({"tiers": tiers, **run}, default=str))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
