"""Tandem on a real Prefect server backed by PostgreSQL, with a process worker, as production runs it.

Starts `prefect server start` on 127.0.0.1 (a fresh PostgreSQL database), registers every deployment
with `tandem deploy --pool`, starts `prefect worker start --pool`, then: onboarding suspends for the
sponsor, `tandem approve` resumes it, the automation starts governance on the onboarding-complete
event, and two quarterly reviews of one period run one after the other. Tandem's own database is a
second fresh PostgreSQL database. Everything started is stopped and both databases are dropped.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, func, select

from models.core.settings import get_settings
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

ADMIN_URL = os.environ.get("TANDEM_IT_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
POOL = "tandem-it"
SPONSOR = "li.wei@bigco.example"
MANAGER = "zhang.hua@bigco.example"
ADMIN = "admin@bigco.example"
SAMPLES = REPO / "deployments" / "samples" / "partners.csv"
T = TypeVar("T")


@dataclass
class Stack:
    """The running server, worker and databases of one test, and where their logs go."""

    home: Path
    api_url: str = ""
    tandem_url: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    cli_env: dict[str, str] = field(default_factory=dict)  # the `tandem` command's token, once people exist
    log_files: list[Any] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """Return a clean environment for a child: no PREFECT_* or TANDEM_* of the test session leaks in."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TANDEM_"))}
        return base | {
            "PREFECT_HOME": str(self.home / "prefect"),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "TANDEM_HOME": str(self.home / "tandem"),
            "TANDEM_DATABASE_URL": self.tandem_url,
            "TANDEM_TIMEZONE": "Asia/Shanghai",
            "TANDEM_SECRET_KEY": self.secret_key,  # the web (this process) signs what the worker checks
            "TANDEM_IT_STACK": self.marker,  # inherited by every descendant, so leftovers can be found
            **extra,
        }

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start a child in its own process group, its output in a log file."""
        log = (self.home / f"{name}.log").open("wb")
        self.log_files.append(log)
        return subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        """Start a long-running child (server, worker) that must stay up until the test ends."""
        self.processes[name] = self.spawn(name, args, env)

    def logs(self) -> str:
        """Return the tail of every child's log, for failure messages."""
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in sorted(self.home.glob("*.log"))
        )

    def stop(self) -> None:
        """Stop every child's process group (TERM, then KILL), then any descendant that outlived it."""
        for process in reversed(list(self.processes.values())):
            _stop_group(process)
        # Flow runs start in sessions of their own, outside the worker's group.
        for pid in _pids_with_marker(self.marker):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for log in self.log_files:
            log.close()


def _pids_with_marker(marker: str) -> list[int]:
    """Return the processes whose environment carries this stack's marker (Linux /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"TANDEM_IT_STACK={marker}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def fresh_databases(*names: str) -> Iterator[dict[str, str]]:
    """Create fresh PostgreSQL databases and drop them afterwards; yield their base URLs by name."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:8]
    created = {name: f"tandem_it_{name}_{suffix}" for name in names}
    try:
        with admin.connect() as conn:
            for database in created.values():
                conn.execute(text(f'CREATE DATABASE "{database}"'))
        base = ADMIN_URL.rsplit("/", 1)[0]
        yield {name: f"{base}/{database}" for name, database in created.items()}
    finally:
        with admin.connect() as conn:
            for database in created.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, stack: Stack) -> T:
    """Poll until `check` returns something truthy, or fail with the children's logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in stack.processes.items():
            assert process.poll() is None, f"{name} exited early\n{stack.logs()}"
        try:
            result = check()
        except AssertionError as exc:  # a run ended badly: show what the children logged
            pytest.fail(f"{exc}\n{stack.logs()}")
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{stack.logs()}")


def healthy(api_url: str) -> bool:
    """Return whether the Prefect API answers its health check."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def tandem(stack: Stack, *args: str) -> dict[str, Any] | str:
    """Run the `tandem` command as a person would, in a child process; return its JSON or text output."""
    done = subprocess.run(
        [str(BIN / "tandem"), *args],
        env=stack.env(**stack.cli_env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"tandem {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return json.loads(done.stdout) if "--json" in args else done.stdout


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A Prefect server on PostgreSQL and a Tandem database, both fresh; a worker joins later."""
    with fresh_databases("prefect", "tandem") as urls:
        port = free_port()
        running = Stack(home=tmp_path, api_url=f"http://127.0.0.1:{port}/api")
        running.tandem_url = urls["tandem"]
        (tmp_path / "prefect").mkdir()
        # This test reads and writes Tandem's database too: point the test process at the same one.
        monkeypatch.setenv("TANDEM_DATABASE_URL", running.tandem_url)
        monkeypatch.setenv("TANDEM_TIMEZONE", "Asia/Shanghai")
        monkeypatch.setenv("TANDEM_SECRET_KEY", running.secret_key)
        get_settings.cache_clear()
        server_env = running.env(
            PREFECT_API_DATABASE_CONNECTION_URL=urls["prefect"].replace("+psycopg", "+asyncpg"),
            # Schedules are checked as stored; no scheduled run may interfere with the runs under test.
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
            PREFECT_SERVER_UI_ENABLED="false",
        )
        args = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        try:
            running.start("server", args, server_env)
            # The partner registry is imported while the server starts.
            importing = running.spawn(
                "import", [str(BIN / "tandem"), "partner", "import", str(SAMPLES)], running.env()
            )
            wait_for(lambda: healthy(running.api_url), timeout=150, what="the Prefect server", stack=running)
            assert importing.wait(timeout=120) == 0, running.logs()
            yield running
        finally:
            running.stop()
            from models.core.db import engine_for

            engine_for(running.tandem_url).dispose()
            engine_for.cache_clear()


@contextmanager
def prefect_api(stack: Stack) -> Iterator[Any]:
    """Point this process's Prefect client at the stack's server and yield a sync client."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: stack.api_url}):
        with get_client(sync_client=True) as client:
            yield client


def run_state(client: Any, run_id: uuid.UUID) -> Any:
    """Return a flow run as the server has it now."""
    return client.read_flow_run(run_id)


def test_onboarding_approval_automation_and_reviews_on_a_real_server(stack: Stack) -> None:
    """The production path end to end: deploy, web start, worker, suspend, approve, automation, reviews."""
    from prefect.deployments import run_deployment

    from deployments.web.runs import start_flow
    from flows.onboard_partner import OnboardingRequest, onboard_partner
    from models.core.principal import Principal, acting_as

    stack.start(
        "worker",
        [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process", "--limit", "4"],
        stack.env(PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="5"),
    )
    report = tandem(stack, "deploy", "--pool", POOL, "--email-per-minute", "120", "--json")
    assert isinstance(report, dict) and len(report["deployments"]) == 7
    _people(stack)
    with prefect_api(stack) as client:
        _check_registration(client)
        # Started as the web starts it: the pool's deployment is found, the signed-in manager rides along.
        with acting_as(Principal(MANAGER, "web")):
            web = start_flow("onboard", MANAGER, onboard_partner, OnboardingRequest(**_request("it-1")))
        wait_for(lambda: web.outcome != "running", timeout=30, what="the web's run", stack=stack)
        assert (web.where, web.outcome) == ("served deployment onboard-partner/tandem", "submitted")
        run_id = str(web.flow_run_id)
        onboarding_id = uuid.UUID(run_id)
        suspended = wait_for(
            lambda: (r := run_state(client, onboarding_id)).state.name == "Suspended" and r,
            timeout=120,
            what="onboarding to suspend for the sponsor",
            stack=stack,
        )
        # The server keeps the input schema, so the UI shows the sponsor a form for this run.
        assert suspended.state.state_details.run_input_keyset
        approved = tandem(stack, "approve", run_id, "--on-behalf-of", SPONSOR, "--reason", "test", "--json")
        assert isinstance(approved, dict) and approved["outcome"] == "resumed"
        wait_for(lambda: _completed(client, onboarding_id), timeout=120, what="onboarding", stack=stack)
        rel_id = _check_onboarded("it-1", run_id)

        _close_required(rel_id, "onboarding")
        _emit_onboarding_complete(rel_id)
        governance = wait_for(
            lambda: _runs_of(client, "setup-governance"), timeout=60, what="the automation's run", stack=stack
        )
        wait_for(lambda: _completed(client, governance[0].id), timeout=120, what="governance", stack=stack)
        assert governance[0].parameters == {"relationship": str(rel_id)}
        period, as_of = _activate(rel_id)

        reviews = [
            run_deployment(
                "quarterly-review/tandem", parameters={"period": period, "as_of": as_of}, timeout=0
            )
            for _ in range(2)
        ]
        done = [
            wait_for(lambda r=r: _completed(client, r.id), timeout=150, what="a review", stack=stack)
            for r in reviews
        ]
        _check_reviews(client, rel_id, period, done)
        _check_prefect_yaml_registers_the_same(client, stack)


def _people(stack: Stack) -> None:
    """Make the manager a user (the web's run acts for them); the CLI then signs in with a token."""
    from models.core.db import session_scope
    from models.identity.users import add_user, issue_token

    with session_scope() as session:
        add_user(session, email=MANAGER, name="Zhang Hua", role="manager")
        add_user(session, email=ADMIN, name="Operator", role="administrator")
        _, stack.cli_env["TANDEM_TOKEN"] = issue_token(session, ADMIN)


def _request(key: str) -> dict[str, Any]:
    return {
        "partner_ref": "CN:91510100MA6QT0005D",
        "manager": MANAGER,
        "deputy": "chen.jing@bigco.example",
        "sponsor": SPONSOR,
        "partner_contact": "liu.fang@qiaoshou.example.cn",
        "backup_contact": "boss@qiaoshou.example.cn",
        "dependency_ratio": 0.3,
        "key": key,
        "approval_poll_seconds": 1,
    }


def _completed(client: Any, run_id: uuid.UUID) -> Any:
    run = run_state(client, run_id)
    assert not (run.state.is_final() and not run.state.is_completed()), f"run {run.name} ended {run.state}"
    return run if run.state.is_completed() else None


def _runs_of(client: Any, flow_name: str) -> list[Any]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))


def _check_registration(client: Any) -> None:
    """Schedules, the automation and the concurrency limits are on the server as defined."""
    review = client.read_deployment_by_name("quarterly-review/tandem")
    schedule = review.schedules[0].schedule
    assert "BYSETPOS=1" in schedule.rrule and schedule.timezone == "Asia/Shanghai"
    assert review.global_concurrency_limit.limit == 1 and review.work_pool_name == POOL
    assert client.read_automations_by_name("setup-governance-on-onboarding-complete")
    rate = client.read_global_concurrency_limit_by_name("tandem-email-rate")
    assert rate.limit == 120 and rate.slot_decay_per_second == pytest.approx(2.0)


def _check_onboarded(key: str, run_id: str) -> int:
    from models.core.db import get_engine
    from models.tables import Approval, AuditEvent, ChecklistItem, Relationship

    with Session(get_engine()) as session:
        rel = session.exec(select(Relationship).where(Relationship.key == key)).one()
        approval = session.exec(
            select(Approval).where(Approval.relationship_id == rel.id, Approval.kind == "onboarding")
        ).one()
        items = session.exec(select(func.count()).where(ChecklistItem.relationship_id == rel.id)).one()
        waited = session.exec(
            select(AuditEvent).where(
                AuditEvent.relationship_id == rel.id, AuditEvent.action == "onboarding.awaiting_approval"
            )
        ).all()
        events = session.exec(select(AuditEvent).where(AuditEvent.relationship_id == rel.id)).all()
    assert (rel.stage, approval.decision, approval.decided_by) == ("onboarding", "approve", SPONSOR)
    assert rel.tier and items > 0
    assert [e.data.get("flow_run_id") for e in waited] == [run_id]  # asked once, not again on resume
    # The run wrote as the manager who started it from the web; the approval is the operator's override.
    assert {(e.actor, e.method, e.on_behalf_of) for e in events} == {
        (MANAGER, "web", None),
        (ADMIN, "cli-override", SPONSOR),
    }
    return int(rel.id)  # type: ignore[arg-type]


def _close_required(rel_id: int, stage: str) -> None:
    """Close a stage's required items as their owners would."""
    from models.checklists.generation import mark_done, open_required
    from models.core.db import session_scope
    from models.tables import Contact, Relationship

    with session_scope() as session:
        rel = session.get(Relationship, rel_id)
        for item in open_required(session, rel_id, stage):
            owner = session.get(Contact, item.owner_contact_id or rel.manager_id)  # type: ignore[union-attr]
            mark_done(session, item.id, by=owner.email, evidence="integration test")  # type: ignore[arg-type,union-attr]


def _emit_onboarding_complete(rel_id: int) -> None:
    """Emit the event through Tandem's own task body, then flush it to the server."""
    from prefect.events.worker import EventsWorker

    from tasks.lifecycle import onboarding_complete

    assert onboarding_complete.fn(rel_id) is True
    EventsWorker.drain_all()


def _activate(rel_id: int) -> tuple[str, str]:
    """Close governance and run `setup-governance` again: the relationship becomes active."""
    from flows.setup_governance import setup_governance
    from models.core.db import session_scope
    from models.core.periods import period_of
    from models.tables import Relationship

    _close_required(rel_id, "governance")
    assert setup_governance(str(rel_id))["stage"] == "active"
    with session_scope() as session:
        due = session.get(Relationship, rel_id).next_review_on  # type: ignore[union-attr]
    period = period_of(due)
    return period.name, (period.end + timedelta(days=1)).isoformat()


def _check_reviews(client: Any, rel_id: int, period: str, runs: list[Any]) -> None:
    """One review, ready, an artifact on the server, and the two runs never overlapped."""
    from models.core.db import get_engine
    from models.tables import Review

    with Session(get_engine()) as session:
        rows = session.exec(select(Review).where(Review.relationship_id == rel_id)).all()
        total = session.exec(select(func.count()).select_from(Review)).one()
    assert [(r.period, r.status) for r in rows] == [(period, "ready")] and total == 1
    first, second = sorted(runs, key=lambda r: r.start_time)
    assert second.start_time >= first.end_time, "two quarterly reviews ran at once"
    keys = {a.key for a in client.read_artifacts() if a.key}
    assert f"quarterly-review-summary-{period.lower()}" in keys


def _registered(client: Any) -> dict[str, Any]:
    """Return what the server holds of every deployment and automation, in comparable form."""
    deployments = {
        f"{d.entrypoint}/{d.name}": (
            d.work_pool_name,
            d.tags,
            [s.schedule.model_dump() for s in d.schedules],
            d.global_concurrency_limit.limit if d.global_concurrency_limit else None,
            d.concurrency_options.model_dump() if d.concurrency_options else None,
            d.parameter_openapi_schema,
            d.pull_steps or [],
        )
        for d in client.read_deployments()
    }
    automations = sorted(
        (a.name, a.trigger.model_dump(mode="json", exclude={"id"}), [x.type for x in a.actions])
        for a in client.read_automations()
    )
    return {"deployments": deployments, "automations": automations}


def _check_prefect_yaml_registers_the_same(client: Any, stack: Stack) -> None:
    """`prefect deploy` of deployments/prefect.yaml leaves the server exactly as `tandem deploy` did."""
    before = _registered(client)
    done = subprocess.run(
        [
            str(BIN / "prefect"),
            "deploy",
            "--all",
            "--prefect-file",
            "deployments/prefect.yaml",
            "--no-prompt",
        ],
        env=stack.env(TANDEM_WORK_POOL=POOL),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _registered(client) == before
