"""The embedded default as a new user meets it: one local Prefect server, started once and reused.

One server for the whole module (a start costs 10-30 s of CPU here): two commands started at once
replace a stale record and share one server; `make demo`'s script and every command of the README's
tour run on it as separate processes, with no traceback; `tandem server stop` ends it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import registry
from deployments import local_server, warm

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TANDEM = Path(sys.executable).with_name("tandem")
# The tour's commands that are refused on purpose (the README says so beside them).
REFUSED = {"tandem governance 4"}

# `tandem ARGS...`, then say on stderr whether this process imported Prefect.
WATCH_IMPORTS = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('prefect imported:', 'prefect' in sys.modules, file=sys.stderr))\n"
    "sys.argv = ['tandem', *sys.argv[1:]]\n"
    "from deployments.cli import main\n"
    "main()\n"
)
ENSURE = (
    "from deployments.local_server import ensure_server\n"
    "info, started = ensure_server()\n"
    "print(info.pid, info.port, started)\n"
)


def _env(home: Path) -> dict[str, str]:
    """Return a new user's environment: only TANDEM_HOME, nothing of the test session's Prefect."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TANDEM_"))}
    return base | {"TANDEM_HOME": str(home), "COLUMNS": "160"}


def tour_commands() -> list[str]:
    """Return the `tandem ...` lines of the README's five-minute tour, continuations joined."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Five-minute tour", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = re.sub(r"\\\n\s*", " ", block).splitlines()
    return [re.split(r"\s+#", line, maxsplit=1)[0].strip() for line in lines if line.startswith("tandem ")]


def _run(home: Path, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=_env(home), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh TANDEM_HOME whose server, if any, is stopped at the end whatever happened."""
    folder = tmp_path_factory.mktemp("tandem-home")
    yield folder
    pid, _port = local_server.recorded(folder)
    if pid is not None and local_server._alive(pid):
        local_server.stop_server(folder)
    warm.stop(folder)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder commands run in, one for the module (a runner serves one folder and its settings)."""
    return tmp_path_factory.mktemp("work")


def test_two_commands_at_once_replace_a_stale_record_and_share_one_server(home: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (home / local_server.PID_FILE).write_text(f"{dead.pid}\n")
    (home / local_server.PORT_FILE).write_text("9\n")
    ensure = [sys.executable, "-c", ENSURE]
    env = _env(home)
    both = [subprocess.Popen(ensure, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    answers = [p.communicate(timeout=300)[0].split() for p in both]
    assert all(p.returncode == 0 for p in both)
    assert len({(pid, port) for pid, port, _ in answers}) == 1  # one server
    assert sorted(started for _, _, started in answers) == ["False", "True"]  # started once
    status = json.loads(_run(home, [str(TANDEM), "server", "status", "--json"], REPO).stdout)
    assert status["running"] and str(status["pid"]) == answers[0][0]


def test_demo_and_readme_tour_reuse_the_server_without_a_traceback(home: Path, work: Path) -> None:
    before = local_server.recorded(home)
    demo = _run(home, [sys.executable, "-m", "deployments.demo"], REPO)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "server started" not in demo.stderr  # reused
    commands = tour_commands()
    assert len(commands) >= 25 and "tandem server status" not in commands
    for line in commands:
        argv = [a.replace("deployments/samples/", f"{REPO}/deployments/samples/") for a in shlex.split(line)]
        out_file = None
        if ">" in argv:
            argv, out_file = argv[: argv.index(">")], argv[argv.index(">") + 1]
        result = _run(home, [str(TANDEM), *argv[1:]], work)
        shown = result.stdout + result.stderr
        assert "Traceback" not in shown, f"{line}\n{shown}"
        assert result.returncode == (1 if line in REFUSED else 0), f"{line}\n{shown}"
        if out_file:
            (work / out_file).write_text(result.stdout, encoding="utf-8")
    runner = _runner_ready(home, work)
    governance = _run(home, [sys.executable, "-c", WATCH_IMPORTS, "governance", "4"], work)
    open_items = re.search(r"(\d+) required item\(s\) open", governance.stderr)
    assert open_items and governance.stderr.count("\n  - #") == int(open_items.group(1))  # every one
    assert governance.returncode == 1 and "Traceback" not in governance.stderr
    # Run by the warm runner: this process never imported Prefect, and the runner counted it.
    assert "prefect imported: False" in governance.stderr
    assert _runner(home, work)["commands_run"] == runner["commands_run"] + 1
    assert local_server.recorded(home) == before  # the same server throughout


def test_ctrl_c_stops_a_command_in_the_runner_and_writes_nothing(home: Path, work: Path) -> None:
    big = work / "partners.csv"
    registry.write_partners_csv(big, 20_000)  # several seconds of work: time to press Ctrl-C
    before = _partners(home, work)
    runner = _runner_ready(home, work)
    command = [str(TANDEM), "partner", "import", str(big)]
    importing = subprocess.Popen(
        command, cwd=work, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    time.sleep(2)
    importing.send_signal(signal.SIGINT)
    _out, err = importing.communicate(timeout=300)
    assert importing.returncode == 130 and b"Traceback" not in err  # as in its own process
    assert _runner(home, work)["commands_run"] == runner["commands_run"] + 1  # it ran there
    assert _partners(home, work) == before  # one transaction: nothing of it was written


def test_the_runner_prints_as_the_callers_own_process_would(home: Path, work: Path) -> None:
    _runner_ready(home, work)
    for columns in ("60", "200"):
        env = _env(home) | {"COLUMNS": columns}
        argv = [str(TANDEM), "relationship", "list"]
        handed = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=300)
        own = subprocess.run(
            argv,
            cwd=work,
            env=env | {"TANDEM_NO_RUNNER": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert handed.returncode == own.returncode == 0
        assert handed.stdout == own.stdout and max(map(len, own.stdout.splitlines())) <= int(columns)


def test_a_runner_for_other_settings_is_not_used_and_is_replaced(home: Path, work: Path) -> None:
    runner = _runner_ready(home, work)
    other = _env(home) | {"TANDEM_LOCALE_HINT": "zh-CN"}  # any other setting: another fingerprint
    argv = [sys.executable, "-c", WATCH_IMPORTS, "governance", "4"]
    refused = subprocess.run(argv, cwd=work, env=other, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 1 and "required item(s) open" in refused.stderr
    assert "prefect imported: True" in refused.stderr  # ran here, not in the mismatched runner
    deadline = time.monotonic() + 120
    while (now := _runner(home, work))["pid"] in (None, runner["pid"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert now["running"] and now["pid"] != runner["pid"]  # replaced, for the next command
    assert warm.socket_path(home).stat().st_mode & 0o777 == 0o600  # the owner's alone


def _partners(home: Path, cwd: Path) -> int:
    listing = _run(home, [str(TANDEM), "partner", "list", "--json", "--limit", "1"], cwd)
    return int(json.loads(listing.stdout)["total"])


def _runner(home: Path, cwd: Path) -> dict[str, Any]:
    status = _run(home, [str(TANDEM), "server", "status", "--json"], cwd)
    runner: dict[str, Any] = json.loads(status.stdout)["runner"]
    return runner


def _runner_ready(home: Path, cwd: Path) -> dict[str, Any]:
    """Wait until commands run in `cwd` are handed to the runner (a new one warms up in seconds)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        before = _runner(home, cwd)
        _partners(home, cwd)  # handed over if a runner for this folder and these settings answers
        after = _runner(home, cwd)
        if after["running"] and after["pid"] == before["pid"]:
            if after["commands_run"] == before["commands_run"] + 1:
                return after
        time.sleep(0.5)
    raise AssertionError((home / warm.LOG_FILE).read_text())


def test_stop_ends_the_server(home: Path) -> None:
    pid, _port = local_server.recorded(home)
    stopped = _run(home, [str(TANDEM), "server", "stop"], REPO)
    assert stopped.returncode == 0 and f"pid {pid}" in stopped.stdout
    assert pid is not None and not local_server._alive(pid)
    status = json.loads(_run(home, [str(TANDEM), "server", "status", "--json"], REPO).stdout)
    assert not status["running"] and not status["runner"]["running"]  # the runner ends with it
