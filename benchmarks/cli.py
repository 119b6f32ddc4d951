"""Benchmark the command line as a person meets it: start-up, a flow on the reused server, a big registry.

    python -m benchmarks.cli [--runs 3] [--onboardings 3] [--partners 50000] [--skip-registry]

Each figure runs the installed `tandem` in a subprocess (wall and CPU seconds of that process, from
`wait4`) against a fresh TANDEM_HOME:
- `tandem --help`, and `partner list` cold (the first command in a new home: it creates the
  database) and warm (later runs, best and median), in their own process (`TANDEM_NO_RUNNER=1`);
  then `partner list` and `relationship list` handed to the warm runner;
- the local Prefect server's one-time start (`tandem server start`), then `onboard --approve` runs
  on it (each a new partner from the bundled samples) and a refused `governance`: in the command's
  own process, then handed to the warm runner; the server and runner are stopped at the end;
- the registry figures of `benchmarks.registry` (import of N partners, listings against them).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from benchmarks import registry
from deployments import warm

SAMPLE = Path(str(resources.files("deployments.samples"))) / "partners.csv"
SPONSOR = "li.wei@bigco.example"
RUNNER = {"TANDEM_NO_RUNNER": ""}  # commands may go to the warm runner (registry.tandem keeps them home)


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    cpu = [r["cpu_seconds"] for r in runs]
    return {
        "runs": len(runs),
        "seconds_min": min(seconds),
        "seconds_median": round(statistics.median(seconds), 2),
        "cpu_seconds_min": min(cpu),
        "cpu_seconds_median": round(statistics.median(cpu), 2),
    }


def startup_benchmark(home: Path, *, runs: int) -> dict[str, Any]:
    """Time `--help` and listings in their own process (cold, then warm), then handed to the runner."""
    cold = registry.tandem(home, "partner", "list")
    warm_own = [registry.tandem(home, "partner", "list") for _ in range(runs)]
    helps = [registry.tandem(home, "--help") for _ in range(runs)]
    library = [registry.tandem(home, "library", "list") for _ in range(runs)]
    registry.tandem(home, "partner", "list", extra_env=RUNNER)  # runs itself, starts the runner
    try:
        ready = _wait_for_runner(home)
        handed = [registry.tandem(home, "partner", "list", extra_env=RUNNER) for _ in range(runs)]
        relationships = [registry.tandem(home, "relationship", "list", extra_env=RUNNER) for _ in range(runs)]
        assert warm.status(home)["commands_run"] == 2 * runs, "the listings did not go to the runner"
    finally:
        warm.stop(home)
    return {
        "partner list (cold: first command, creates the database)": cold,
        "partner list (warm, own process)": _summary(warm_own),
        "tandem --help": _summary(helps),
        "library list (own process)": _summary(library),
        "seconds until a runner started by a listing answered": ready,
        "partner list (handed to the warm runner)": _summary(handed),
        "relationship list (handed to the warm runner)": _summary(relationships),
    }


def _sample_refs(count: int) -> list[str]:
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [f"{row['country']}:{row['registration_id']}" for row in rows[:count]]


def _onboard(home: Path, n: int, ref: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Onboard a sample partner with the sponsor's approval at once (the operator acts for the sponsor)."""
    people = ["--manager", "zhang.hua@bigco.example", "--sponsor", SPONSOR]
    contact = ["--partner-contact", f"contact{n}@partner.example"]
    approval = ["--approve", "--on-behalf-of", SPONSOR, "--reason", "benchmark"]
    return registry.tandem(home, "onboard", ref, *people, *contact, *approval, extra_env=env)


def flow_benchmark(home: Path, *, onboardings: int) -> dict[str, Any]:
    """Time the server's one start, then `onboard --approve` and a refused governance, both ways."""
    registry.tandem(home, "partner", "import", str(SAMPLE))
    started = registry.tandem(home, "server", "start")
    warm.stop(home)  # `server start` started a runner too: first measure commands in their own process
    refs = _sample_refs(2 * onboardings)
    try:
        own = [_onboard(home, n, ref) for n, ref in enumerate(refs[:onboardings], start=1)]
        own_refused = registry.tandem(home, "governance", "1", expect_exit=1)
        registry.tandem(home, "partner", "list", extra_env=RUNNER)  # starts the runner
        runner_ready = _wait_for_runner(home)
        rest = enumerate(refs[onboardings:], start=onboardings + 1)
        handed = [_onboard(home, n, ref, RUNNER) for n, ref in rest]
        warm_refused = registry.tandem(home, "governance", "1", expect_exit=1, extra_env=RUNNER)
        assert warm.status(home)["commands_run"] == onboardings + 1, "not all went to the runner"
    finally:
        registry.tandem(home, "server", "stop")
    return {
        "server start (once per TANDEM_HOME)": started,
        "onboard --approve, own process (server up)": _summary(own),
        "governance refused, own process": own_refused,
        "seconds until the runner answered": runner_ready,
        "onboard --approve, handed to the warm runner": _summary(handed),
        "governance refused, handed to the warm runner": warm_refused,
    }


def _wait_for_runner(home: Path) -> float:
    """Wait until the warm runner answers (it warms up in the background); return the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < 120:
        if warm.status(home)["running"]:
            return round(time.perf_counter() - started, 2)
        time.sleep(0.2)
    raise RuntimeError(f"the warm runner did not start; see {home / warm.LOG_FILE}")


def run(
    *, runs: int = 3, onboardings: int = 3, partners: int = 50_000, registry_too: bool = True
) -> dict[str, Any]:
    """Run every part in throwaway homes; return the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="tandem-cli-bench-"))
    try:
        result: dict[str, Any] = {
            "benchmark": "cli",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average_at_start": _load(),
            "startup": startup_benchmark(workdir / "startup", runs=runs),
            "flows": flow_benchmark(workdir / "flows", onboardings=onboardings),
        }
        if registry_too:
            result["registry"] = registry.run(partners, runs=runs)
        result["load_average_at_end"] = _load()
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    """Parse the options, run, and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--onboardings", type=int, default=3)
    parser.add_argument("--partners", type=int, default=50_000)
    parser.add_argument("--skip-registry", action="store_true", help="Leave out the 50,000-partner part.")
    args = parser.parse_args()
    figures = run(
        runs=args.runs,
        onboardings=args.onboardings,
        partners=args.partners,
        registry_too=not args.skip_registry,
    )
    print(json.dumps(figures, indent=2, ensure_ascii=False))  # noqa: T201  (the benchmark's output)


if __name__ == "__main__":
    main()
