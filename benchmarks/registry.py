"""Benchmark a big partner registry through the real `tandem` command: import, re-import and listings.

    python -m benchmarks.registry [--partners 50000] [--runs 3] [--database-url URL]

Writes a CSV of N partners (60% Chinese with valid unified social credit codes, 40% in EU countries,
every one with a contact, one in ten with a chat channel), then, each in a subprocess running the
installed `tandem` against a fresh TANDEM_HOME (SQLite there, or a fresh schema of a PostgreSQL
database that is dropped afterwards):
- `partner import FILE` into the empty registry, then the same file again (all unchanged), then a
  copy with 1% of the rows changed and 1% new;
- `partner list` as a table and as `--json`, plain and with filters, against the N partners;
- the staff workspace's partner search (`/work/partners`: search, filters, deep pages), the web app
  in this process as a signed-in auditor.
Prints one JSON object. `import_benchmark`, `list_benchmark` and `run` return the same data as
dicts, for `benchmarks.cli` to include.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HEADER = (
    "legal_name,registration_id,country,industry,employees,annual_revenue,currency,total_assets,"
    "preferred_language,contact_name,contact_email,contact_language,contact_channels"
).split(",")
EU = ("DE", "FR", "NL", "PL", "IT", "ES", "SE", "AT")
INDUSTRIES = ("industry", "software_it", "retail", "wholesale", "transport", "other")
LISTINGS: dict[str, list[str]] = {
    "(table)": [],
    "--json": ["--json"],
    "--class small": ["--class", "small"],
    "--class small --country DE --json": ["--class", "small", "--country", "DE", "--json"],
    "--search 'Partner 4711'": ["--search", "Partner 4711"],
    "--offset 49950 --json": ["--offset", "49950", "--json"],
}


def uscc(n: int) -> str:
    """Return a valid unified social credit code for serial number n."""
    from stdnum.cn import uscc as code

    body = f"91310000MA{n:07d}"
    return body + code.calc_check_digit(body)


def partner_row(n: int, rng: random.Random) -> list[str]:
    """Return one CSV row of a plausible partner with its contact."""
    cn = rng.random() < 0.6
    country = "CN" if cn else rng.choice(EU)
    regid = uscc(n) if cn else f"REG {n:07d}"
    lang = "zh-CN" if cn else "en"
    channel = f"json://127.0.0.1:9/hook-{n}" if rng.random() < 0.1 else ""
    return [
        f"{'伙伴' if cn else 'Partner'} {n} {'有限公司' if cn else 'GmbH'}",
        regid,
        country,
        rng.choice(INDUSTRIES),
        str(rng.randint(1, 400)),
        str(rng.randint(1, 60) * 1_000_000),
        "CNY" if cn else "EUR",
        str(rng.randint(1, 40) * 1_000_000),
        lang,
        f"Owner {n}",
        f"owner{n}@p{n}.example.com",
        lang,
        channel,
    ]


def write_partners_csv(path: Path, partners: int, *, seed: int = 44004) -> None:
    """Write a CSV of N partners, as a spreadsheet would save it."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(partner_row(n, rng) for n in range(1, partners + 1))


def write_changed_csv(source: Path, target: Path, *, share: float = 0.01, seed: int = 7) -> None:
    """Copy a partner CSV with a share of the rows' headcounts changed and as many new rows added."""
    rng = random.Random(seed)
    rows = list(csv.reader(source.open(encoding="utf-8", newline="")))
    header, body = rows[0], rows[1:]
    for row in rng.sample(body, int(len(body) * share)):
        row[4] = str(int(row[4]) + 1)
    extra = [partner_row(len(body) + i, rng) for i in range(1, int(len(body) * share) + 1)]
    with target.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *body, *extra])


def tandem(
    home: Path,
    *args: str,
    database_url: str | None = None,
    expect_exit: int = 0,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the installed `tandem` once; return its seconds, peak memory, exit code and output size."""
    # In the command's own process unless asked otherwise (benchmarks.cli measures the warm runner).
    env = {**os.environ, "TANDEM_HOME": str(home), "TANDEM_NO_RUNNER": "1", **(extra_env or {})}
    if database_url:
        env["TANDEM_DATABASE_URL"] = database_url
    command = [str(Path(sys.executable).with_name("tandem")), *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        # wait4 reaps this one child and gives its own peak memory (ru_maxrss, kilobytes on Linux).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    if process.returncode != expect_exit:
        raise RuntimeError(f"tandem {' '.join(args)} exited {process.returncode}: {errors[-2000:]}")
    lines = output.strip().splitlines()
    return {
        "seconds": round(seconds, 2),
        # CPU time of the command: what it costs, whatever else the machine is running.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "stdout_lines": len(lines),
        "last_line": lines[-1][:120] if lines else "",
    }


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    return {
        "seconds_min": min(seconds),
        "seconds_median": round(statistics.median(seconds), 2),
        "cpu_seconds_min": min(r["cpu_seconds"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "last_line": runs[-1]["last_line"],
        "stdout_lines": runs[-1]["stdout_lines"],
    }


def import_benchmark(
    partners: int = 50_000, *, workdir: Path, database_url: str | None = None
) -> dict[str, Any]:
    """Time importing N partners into an empty registry, the same file again, and a 1% change."""
    source, changed = workdir / "partners.csv", workdir / "partners-changed.csv"
    write_partners_csv(source, partners)
    write_changed_csv(source, changed)
    home = workdir / "home"
    result = {
        "partners": partners,
        "import": tandem(home, "partner", "import", str(source), database_url=database_url),
        "reimport_unchanged": tandem(home, "partner", "import", str(source), database_url=database_url),
        "dry_run_1pct_changed_1pct_new": tandem(
            home, "partner", "import", str(changed), "--dry-run", database_url=database_url
        ),
        "reimport_1pct_changed_1pct_new": tandem(
            home, "partner", "import", str(changed), database_url=database_url
        ),
    }
    return result


def list_benchmark(home: Path, *, runs: int = 3, database_url: str | None = None) -> dict[str, Any]:
    """Time `partner list` variants against a seeded TANDEM_HOME, best and median of `runs`."""
    tandem(home, "partner", "list", "--limit", "1", database_url=database_url)  # warm the file cache
    # What any command pays before it starts (Python, imports): the floor under every figure below.
    commands = {"tandem --help (start-up)": ["--help"]}
    commands |= {f"partner list {name}": ["partner", "list", *args] for name, args in LISTINGS.items()}
    commands["relationship list"] = ["relationship", "list"]
    return {
        name: _best([tandem(home, *args, database_url=database_url) for _ in range(runs)])
        for name, args in commands.items()
    }


# The staff workspace's partner search, as a person pages and filters it (25 a page).
WORKSPACE_PAGES = {
    "first page": {},
    "search by name": {"q": "伙伴 4242"},
    "search by registration id": {"q": "MA00042"},
    "class small, country CN": {"size": "small", "country": "CN"},
    "tier and stage (EXISTS over relationships)": {"tier": "standard", "stage": "active"},
    "page 1,000 (offset 24,975)": {"offset": "24975"},
    "last page (offset 49,975)": {"offset": "49975"},
}


def workspace_benchmark(home: Path, *, runs: int = 3, database_url: str | None = None) -> dict[str, Any]:
    """Time the workspace's partner search against the seeded registry: the app in this process."""
    from fastapi.testclient import TestClient

    from deployments.web import create_app
    from models.core.db import session_scope
    from models.core.settings import get_settings
    from models.identity.sessions import start_session
    from models.identity.users import add_user

    os.environ["TANDEM_HOME"] = str(home)
    if database_url:
        os.environ["TANDEM_DATABASE_URL"] = database_url
    get_settings.cache_clear()
    with session_scope() as session:
        cookie = start_session(
            session, add_user(session, email="bench@bigco.example", name="", role="auditor"), method="web"
        )
    figures: dict[str, Any] = {}
    with TestClient(create_app()) as client:
        client.cookies.set("tandem_session", cookie)
        for name, params in WORKSPACE_PAGES.items():
            seconds = []
            for _ in range(runs):
                started = time.perf_counter()
                page = client.get("/work/partners", params=params)
                seconds.append(time.perf_counter() - started)
                if page.status_code != 200:
                    raise RuntimeError(f"/work/partners {params}: {page.status_code}")
            found = re.search(r'role="status">([^<]*)<', page.text)
            figures[name] = {"seconds_best": round(min(seconds), 3), "shown": found.group(1) if found else ""}
    return figures


def run(partners: int = 50_000, *, runs: int = 3, database_url: str | None = None) -> dict[str, Any]:
    """Run the import and listing benchmarks in a throwaway directory; return their figures."""
    workdir = Path(tempfile.mkdtemp(prefix="tandem-registry-"))
    try:
        with _database(database_url) as url:
            imported = import_benchmark(partners, workdir=workdir, database_url=url)
            listed = list_benchmark(workdir / "home", runs=runs, database_url=url)
            workspace = workspace_benchmark(workdir / "home", runs=runs, database_url=url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "benchmark": "registry",
        "database": "postgresql" if database_url else "sqlite",
        **imported,
        "list": listed,
        "workspace /work/partners": workspace,
    }


@contextmanager
def _database(url: str | None) -> Iterator[str | None]:
    """Give a fresh PostgreSQL schema for the run and drop it afterwards; SQLite needs nothing."""
    if not url:
        yield None
        return
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    """Parse the options, run, and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    print(json.dumps(run(args.partners, runs=args.runs, database_url=args.database_url), indent=2))


if __name__ == "__main__":
    main()
