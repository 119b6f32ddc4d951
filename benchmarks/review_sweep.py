"""Benchmark the `quarterly-review` sweep: N active relationships with a year of payments and scorecards.

    python -m benchmarks.review_sweep --relationships 10000 [--database-url URL] [--batch-size 500]
        [--workers 2]

Seeds a fresh database (SQLite file in a temporary folder by default; with a PostgreSQL URL, a fresh
schema that is dropped afterwards) in a child process, starts a Prefect test server, then times one
sweep and prints one JSON line: relationships, seconds, peak_rss_mb (of this process, which runs the
flow; the seeding child and the Prefect server are separate processes) and what the sweep did.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

PERIOD = "2026Q4"
AS_OF = date(2027, 1, 4)
ROWS_PER_STATEMENT = 2000


def _configure(url: str, home: str) -> None:
    """Point Tandem and Prefect at throwaway locations before either is imported."""
    os.environ.update(
        {
            "TANDEM_DATABASE_URL": url,
            "TANDEM_HOME": home,
            # Messages are rendered and stored (not sent): the sweep pays the real queueing cost.
            "TANDEM_SMTP_HOST": "127.0.0.1",
            "PREFECT_HOME": os.path.join(home, "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_LOGGING_TO_API_ENABLED": "false",
        }
    )


def _insert(connection: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        connection.execute(table.__table__.insert(), rows[start : start + ROWS_PER_STATEMENT])


def seed(url: str, home: str, relationships: int, seed_value: int = 44004) -> None:
    """Create the schema and N active relationships with payments, scorecards and past reviews."""
    _configure(url, home)
    from models.core.db import get_engine, upgrade_schema
    from models.tables import Contact, Partner, Relationship

    upgrade_schema()
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    engine = get_engine()
    with engine.begin() as connection:
        staff = [
            _contact(i, f"rm{i}@ours.example.com", "ours", "manager", "en", now) for i in range(1, 51)
        ] + [
            _contact(50 + i, f"sponsor{i}@ours.example.com", "ours", "sponsor", "en", now)
            for i in range(1, 11)
        ]
        _insert(connection, Contact, staff)
        for start in range(0, relationships, 5000):
            chunk = range(start + 1, min(relationships, start + 5000) + 1)
            _seed_chunk(connection, chunk, rng, now, Partner, Contact, Relationship)
    if engine.dialect.name == "postgresql":
        # A bulk load leaves PostgreSQL without statistics until autovacuum catches up; a live
        # database has them. Without them, the planner read 100,000 relationships through the stage
        # index for every batch and the 100,000 run slowed to 17 ms a relationship.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")


def _contact(
    cid: int, email: str, side: str, role: str, lang: str, now: datetime, partner: int | None = None
) -> dict:
    return {
        "id": cid,
        "email": email,
        "name": email.split("@")[0],
        "side": side,
        "partner_id": partner,
        "language": lang,
        "timezone": None,
        "role": role,
        "teams": "",
        "channels_encrypted": None,
        "channels_masked": [],
        "created_at": now,
        "updated_at": now,
    }


def _seed_chunk(connection: Any, ids: range, rng: random.Random, now: datetime, *tables: Any) -> None:
    from models.tables import Payment, Review, ScorecardEntry

    partner_t, contact_t, rel_t = tables
    partners, contacts, rels, payments, scores, reviews = [], [], [], [], [], []
    for n in ids:
        cn = rng.random() < 0.6
        country, lang = ("CN", "zh-CN") if cn else (rng.choice(["DE", "FR", "NL", "PL"]), "en")
        partners.append(_partner(n, country, lang, rng, now))
        contacts.append(_contact(1000 + n, f"owner{n}@p{n}.example.com", "partner", "owner", lang, now, n))
        tier = rng.choices(["light", "standard", "enhanced"], [3, 5, 2])[0]
        rels.append(_relationship(n, tier, rng, now, flags=rng.random() < 0.3))
        payments += _payments(n, "CNY" if cn else "EUR", rng, now)
        scores += _scores(n, rng, now)
        reviews += _past_reviews(n, tier, rng, now)
    _insert(connection, partner_t, partners)
    _insert(connection, contact_t, contacts)
    _insert(connection, rel_t, rels)
    _insert(connection, Payment, payments)
    _insert(connection, ScorecardEntry, scores)
    _insert(connection, Review, reviews)


def _partner(n: int, country: str, lang: str, rng: random.Random, now: datetime) -> dict:
    return {
        "id": n,
        "legal_name": f"Partner {n}",
        "registration_id": f"BENCH{n:07d}",
        "country": country,
        "industry": "industry",
        "employees": rng.randint(5, 240),
        "annual_revenue": rng.randint(1, 40) * 1_000_000,
        "currency": "CNY" if country == "CN" else "EUR",
        "total_assets": None,
        "linked_employees": 0,
        "linked_revenue": 0,
        "linked_assets": 0,
        "partner_enterprise_employees": 0,
        "partner_enterprise_revenue": 0,
        "partner_enterprise_assets": 0,
        "preferred_language": lang,
        "created_at": now,
        "updated_at": now,
    }


def _relationship(n: int, tier: str, rng: random.Random, now: datetime, *, flags: bool) -> dict:
    return {
        "id": n,
        "key": f"bench-{n}",
        "partner_id": n,
        "manager_id": 1 + n % 50,
        "deputy_id": None if flags else 1 + (n + 1) % 50,
        "sponsor_id": 51 + n % 10,
        "partner_contact_id": 1000 + n,
        "backup_contact_id": None,
        "criticality": rng.choice(["low", "medium", "high"]),
        "dependency_ratio": round(rng.random() * 0.8, 2),
        "payment_term_days": rng.choice([30, 45, 60, 90]),
        "signed_on": date(2025, 1, 1),
        "stage": "active",
        "stage_changed_at": now,
        "tier": tier,
        "tier_proposed": tier,
        "tier_explanation": {},
        "tier_override_reason": None,
        "next_review_on": None,
        "size_class": rng.choice(["micro", "small", "medium"]),
        "size_scheme": "bench",
        "size_explanation": {},
        "size_frozen_at": now,
        "objectives": {},
        "key_person_flags": ["ours: no deputy manager", "partner: no backup contact"]
        if flags
        else ["partner: no backup contact"],
        "created_at": now,
        "updated_at": now,
    }


def _payments(n: int, currency: str, rng: random.Random, now: datetime) -> list[dict]:
    rows = []
    for month in range(12):  # a year of monthly invoices up to the as-of date
        delivered = date(2026, 1, 5) + timedelta(days=30 * month)
        days = max(5, int(rng.gauss(50, 20)))
        paid = delivered + timedelta(days=days)
        rows.append(
            {
                "relationship_id": n,
                "invoice_id": f"INV-{n}-{month:02d}",
                "delivered_on": delivered,
                "invoiced_on": delivered + timedelta(days=2),
                "paid_on": paid if paid <= AS_OF and rng.random() > 0.03 else None,
                "amount_minor": rng.randint(10_000, 5_000_000),
                "currency": currency,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def _scores(n: int, rng: random.Random, now: datetime) -> list[dict]:
    rows = []
    for quarter in ("2026Q1", "2026Q2", "2026Q3", PERIOD):  # a year of scorecards, both sides
        for side in ("ours", "partner"):
            if side == "partner" and rng.random() < 0.15:
                continue  # some partners do not answer
            for k in range(1, 13):
                rows.append(
                    {
                        "relationship_id": n,
                        "period": quarter,
                        "side": side,
                        "principle": f"5.{k}",
                        "score": rng.randint(2 if side == "partner" else 3, 5),
                        "comment": None,
                        "scored_by": "bench",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
    return rows


def _past_reviews(n: int, tier: str, rng: random.Random, now: datetime) -> list[dict]:
    return [
        {
            "relationship_id": n,
            "period": quarter,
            "as_of": date(2026, 3 * q + 1, 5),
            "status": "ready",
            "tier": tier,
            "health": rng.randint(35, 95),
            "health_delta": None,
            "trend": "",
            "kpis": {},
            "health_components": {},
            "scorecards": {},
            "findings": {},
            "meeting_on": None,
            "created_at": now,
            "completed_at": now,
            "updated_at": now,
        }
        for q, quarter in enumerate(("2026Q1", "2026Q2", "2026Q3"), start=1)
    ]


def _postgres_schema(base_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base_url else "?"
    return schema, f"{base_url}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(base_url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def run(relationships: int, database_url: str | None, batch_size: int, workers: int) -> dict[str, Any]:
    """Seed, start Prefect, time one sweep, clean up; return the figures."""
    home = tempfile.mkdtemp(prefix="tandem-bench-")
    schema = None
    if database_url and database_url.startswith("postgresql"):
        schema, url = _postgres_schema(database_url)
    else:
        url = database_url or f"sqlite:///{home}/bench.db"
    try:
        started = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(target=seed, args=(url, home, relationships))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"seeding failed with exit code {child.exitcode}")
        seeded = time.perf_counter() - started
        return {
            **_sweep(url, home, batch_size, workers),
            "relationships": relationships,
            "seed_seconds": round(seeded, 1),
        }
    finally:
        if schema is not None:
            from models.core.db import engine_for

            engine_for(url).dispose()
            _drop_schema(database_url or "", schema)
        shutil.rmtree(home, ignore_errors=True)


def _sweep(url: str, home: str, batch_size: int, workers: int) -> dict[str, Any]:
    _configure(url, home)
    from prefect import flow
    from prefect.settings import temporary_settings
    from prefect.testing.utilities import prefect_test_harness
    from sqlalchemy import func
    from sqlmodel import Session, select

    from flows.quarterly_review import quarterly_review
    from models.core.db import get_engine
    from models.tables import Review

    @flow(name="benchmark-warm-up")
    def warm_up() -> None:
        """Start the client and the server's flow-run path before timing."""

    with prefect_test_harness(server_startup_timeout=120):
        with temporary_settings(updates={"flows.heartbeat_frequency": None}):
            warm_up()
            started, cpu = time.perf_counter(), time.process_time()
            result = quarterly_review(period=PERIOD, as_of=AS_OF, batch_size=batch_size, workers=workers)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    with Session(get_engine()) as session:
        ready = session.exec(
            select(func.count()).select_from(Review).where(Review.period == PERIOD, Review.status == "ready")
        ).one()
    flow_rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    worker_rss = result["batch_peak_rss_mb"]
    return {
        "seconds": round(seconds, 2),
        # CPU time of the flow's process (the Prefect server is another process): on a shared machine
        # it varies less than wall-clock time, so it is the figure to compare side by side.
        "cpu_seconds": round(cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        # The largest of the flow's process and the batch worker processes; with workers, each runs
        # in its own process and the machine holds them all at once (reported as total).
        "peak_rss_mb": max(flow_rss, worker_rss),
        "flow_rss_mb": flow_rss,
        "worker_peak_rss_mb": worker_rss if workers > 1 else None,
        "total_peak_rss_mb": round(
            flow_rss + (workers * result["batch_peak_rss_mb"] if workers > 1 else 0), 1
        ),
        "database": get_engine().dialect.name,
        "batch_size": batch_size,
        "workers": workers,
        "reviewed": result["reviewed"],
        "reviews_ready": ready,
        "escalated": result["escalated"],
        "messages": result["messages"],
        "per_relationship_ms": round(1000 * seconds / max(result["reviewed"], 1), 2),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--relationships", type=int, required=True)
    parser.add_argument(
        "--database-url", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)"
    )
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1, help="batch worker processes (1: in the flow)")
    args = parser.parse_args(argv)
    figures = run(args.relationships, args.database_url, args.batch_size, args.workers)
    ordered = {k: figures[k] for k in ("relationships", "seconds", "peak_rss_mb")}
    print(json.dumps({**ordered, **figures}), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
