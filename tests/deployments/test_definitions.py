"""Deployments as defined: every flow deployed, schedules as docs/DEPLOYMENT.md says, prefect.yaml equal."""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect import Flow
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.flows import load_flow_from_entrypoint
from prefect.server.schemas import schedules as server_schedules
from prefect.utilities.templating import apply_values
from typer.testing import CliRunner

import flows
from deployments.cli import app, ops
from deployments.definitions import (
    GOVERNANCE_AUTOMATION,
    POOL_DEPLOYMENT,
    SERVE_DEPLOYMENT,
    build_deployments,
    cron_weekdays,
    describe,
    quarterly_rrule,
    rule_of,
)
from deployments.deploy import email_rate
from models.core.settings import Settings
from tasks.notify import EMAIL_RATE_LIMIT

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "DEPLOYMENT.md"
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def flows_in_package() -> set[str]:
    """Return the name of every flow defined in the `flows` package."""
    names = set()
    for module_info in pkgutil.iter_modules(flows.__path__):
        module = importlib.import_module(f"flows.{module_info.name}")
        names |= {obj.name for obj in vars(module).values() if isinstance(obj, Flow)}
    return names


def documented_rows() -> list[dict[str, str]]:
    """Parse the deployments table of docs/DEPLOYMENT.md (between its markers)."""
    block = DOC.read_text().split("<!-- deployments:start -->")[1].split("<!-- deployments:end -->")[0]
    lines = [line for line in block.strip().splitlines() if line.startswith("|")][2:]
    rows = []
    for line in lines:
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        deployment, trigger, expression, concurrency = cells[0], cells[1], cells[3], cells[4]
        rows.append(
            {
                "deployment": deployment,
                "trigger": trigger,
                "expression": "" if expression == "-" else expression,
                "concurrency": concurrency,
            }
        )
    return rows


def next_dates(schedule: Any, n: int, start: datetime) -> list[datetime]:
    """Return the next `n` dates of a schedule as the Prefect server's scheduler computes them."""
    result = schedule.get_dates(n=n, start=start)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


def first_business_day(year: int, month: int, days: list[int]) -> date:
    """Return the first day of a month that is one of the ISO weekdays `days`."""
    day = date(year, month, 1)
    while day.isoweekday() not in days:
        day += timedelta(days=1)
    return day


@pytest.fixture
def deployments() -> list[RunnerDeployment]:
    """Every deployment as `tandem deploy` builds it, with the default calendar."""
    return build_deployments()


def test_every_flow_has_exactly_one_deployment(deployments: list[RunnerDeployment]) -> None:
    names = [d.flow_name for d in deployments]
    assert sorted(names) == sorted(flows_in_package())
    assert len(set(names)) == len(names)


def test_every_deployment_builds_with_an_importable_entrypoint(deployments: list[RunnerDeployment]) -> None:
    for deployment in deployments:
        assert deployment.name == POOL_DEPLOYMENT and deployment.tags == ["tandem"]
        flow = load_flow_from_entrypoint(deployment.entrypoint)  # type: ignore[arg-type]
        assert flow.name == deployment.flow_name
        assert deployment.enforce_parameter_schema
    served = build_deployments(SERVE_DEPLOYMENT)
    assert {d.name for d in served} == {SERVE_DEPLOYMENT} != {POOL_DEPLOYMENT}


def test_cli_defaults_name_the_same_deployments() -> None:
    import inspect

    assert inspect.signature(ops.serve).parameters["name"].default == SERVE_DEPLOYMENT
    assert inspect.signature(ops.deploy).parameters["name"].default == POOL_DEPLOYMENT


def test_onboarding_parameters_render_as_a_form(deployments: list[RunnerDeployment]) -> None:
    onboarding = next(d for d in deployments if d.flow_name == "onboard-partner")
    schema = onboarding._parameter_openapi_schema.model_dump()
    assert schema["required"] == ["request"]
    fields = schema["definitions"]["OnboardingRequest"]["properties"]
    assert {"manager", "sponsor", "partner_contact", "dependency_ratio"} <= set(fields)
    assert fields["manager"]["description"]


def test_schedules_are_what_the_deployment_guide_says(deployments: list[RunnerDeployment]) -> None:
    assert documented_rows() == [describe(d) for d in deployments]


def test_schedules_are_in_the_organizations_timezone() -> None:
    settings = Settings(timezone="Asia/Shanghai")
    for deployment in build_deployments(settings=settings):
        assert all(s.schedule.timezone == "Asia/Shanghai" for s in deployment.schedules)  # type: ignore[union-attr]


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Europe/Berlin"])
def test_quarterly_review_runs_at_eight_on_the_first_business_day_of_each_quarter(tz: str) -> None:
    schedule = server_schedules.RRuleSchedule(rrule=quarterly_rrule([1, 2, 3, 4, 5]), timezone=tz)
    runs = next_dates(schedule, 40, datetime(2026, 1, 1, tzinfo=UTC))
    expected = [
        datetime.combine(first_business_day(year, month, [1, 2, 3, 4, 5]), time(8), ZoneInfo(tz))
        for year in range(2026, 2036)
        for month in (1, 4, 7, 10)
    ]
    assert runs == expected
    assert date(2028, 1, 3) in {r.date() for r in runs}  # 1 January 2028 is a Saturday


def test_a_sunday_to_thursday_week_moves_every_schedule() -> None:
    settings = Settings(timezone="Asia/Riyadh", business_days="7,1,2,3,4")
    rows = {describe(d)["deployment"]: describe(d) for d in build_deployments(settings=settings)}
    assert rows["send-reminders"]["expression"] == "30 7 * * 0-4"
    assert rows["portfolio-report"]["expression"] == "0 7 * * 0"
    assert "BYDAY=MO,TU,WE,TH,SU;" in rows["quarterly-review"]["expression"]
    assert cron_weekdays([1, 3, 5]) == "1,3,5"


def test_reminders_run_on_business_day_mornings_only() -> None:
    schedule = server_schedules.CronSchedule(cron="30 7 * * 1-5", timezone="Asia/Shanghai")
    runs = next_dates(schedule, 20, datetime(2026, 11, 29, tzinfo=UTC))
    assert all(r.astimezone(SHANGHAI).isoweekday() <= 5 for r in runs)
    assert {r.astimezone(SHANGHAI).time() for r in runs} == {time(7, 30)}


def test_governance_starts_on_the_onboarding_complete_event(deployments: list[RunnerDeployment]) -> None:
    governance = next(d for d in deployments if d.flow_name == "setup-governance")
    (trigger,) = governance.triggers
    assert trigger.expect == {"tandem.relationship.onboarding-complete"}
    assert trigger.match.model_dump() == {"prefect.resource.id": "tandem.relationship.*"}
    assert trigger.parameters == {"relationship": "{{ event.payload.relationship_id | string }}"}


def test_email_rate_limit_refills_at_the_providers_rate() -> None:
    assert email_rate(120) == {"name": EMAIL_RATE_LIMIT, "limit": 120, "slot_decay_per_second": 2.0}
    with pytest.raises(ValueError):
        email_rate(0)


def yaml_deployments(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Load deployments/prefect.yaml as `prefect deploy` does: validated, then env placeholders filled."""
    monkeypatch.setenv("TANDEM_WORK_POOL", "pool-a")
    monkeypatch.setenv("TANDEM_TIMEZONE", "Asia/Shanghai")
    data = yaml.safe_load(PREFECT_YAML.read_text())
    PrefectYamlModel.model_validate(data)
    return apply_values(data["deployments"], {}, remove_notset=False)


def summary_of_yaml(spec: dict[str, Any]) -> dict[str, Any]:
    """Summarize a prefect.yaml deployment like `summary_of_code` does a built one."""
    schedules = [(s.get("cron") or rule_of(s["rrule"]), s["timezone"]) for s in spec.get("schedules") or []]
    triggers = [
        {k: t[k] for k in ("name", "expect", "match", "for_each", "posture", "threshold", "parameters")}
        for t in spec.get("triggers") or []
    ]
    limit = spec.get("concurrency_limit") or {}
    return {
        "name": spec["name"],
        "entrypoint": spec["entrypoint"],
        "tags": spec["tags"],
        "pool": spec["work_pool"]["name"],
        "schedules": schedules,
        "triggers": triggers,
        "concurrency": (limit.get("limit"), limit.get("collision_strategy")),
    }


def summary_of_code(deployment: RunnerDeployment) -> dict[str, Any]:
    """Summarize a built deployment in prefect.yaml's terms."""
    schedules = [
        (getattr(s.schedule, "cron", None) or rule_of(s.schedule.rrule), s.schedule.timezone)  # type: ignore[union-attr]
        for s in deployment.schedules or []
    ]
    triggers = [
        {
            "name": t.name,
            "expect": sorted(t.expect),
            "match": t.match.model_dump(),
            "for_each": sorted(t.for_each),
            "posture": t.posture.value if hasattr(t.posture, "value") else t.posture,
            "threshold": t.threshold,
            "parameters": t.parameters,
        }
        for t in deployment.triggers
    ]
    options = deployment.concurrency_options
    strategy: ConcurrencyLimitStrategy | None = options.collision_strategy if options else None
    return {
        "name": deployment.name,
        "entrypoint": deployment.entrypoint,
        "tags": deployment.tags,
        "pool": "pool-a",
        "schedules": schedules,
        "triggers": triggers,
        "concurrency": (deployment.concurrency_limit, strategy.value if strategy else None),
    }


def test_prefect_yaml_matches_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from_yaml = [summary_of_yaml(spec) for spec in yaml_deployments(monkeypatch)]
    from_code = [summary_of_code(d) for d in build_deployments(settings=Settings(timezone="Asia/Shanghai"))]
    assert from_yaml == from_code


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Collect what a test registers on the session's Prefect test server, and remove it afterwards."""
    from prefect.client.orchestration import get_client

    names: list[str] = []
    yield names
    with get_client(sync_client=True) as client:
        for name in names:
            with suppress(ObjectNotFound):
                deployment = client.read_deployment_by_name(name)
                client.delete_resource_owned_automations(f"prefect.deployment.{deployment.id}")
                client.delete_deployment(deployment.id)
        with suppress(ObjectNotFound):
            client.delete_global_concurrency_limit_by_name(EMAIL_RATE_LIMIT)
        with suppress(ObjectNotFound):
            client.delete_work_pool("unit-pool")


def _server_view(name: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        review = client.read_deployment_by_name(f"quarterly-review/{name}")
        rate = client.read_global_concurrency_limit_by_name(EMAIL_RATE_LIMIT)
        automations = client.read_automations_by_name(GOVERNANCE_AUTOMATION)
    return {
        "pool": review.work_pool_name,
        "rrule": rule_of(review.schedules[0].schedule.rrule),  # type: ignore[union-attr]
        "review_limit": review.global_concurrency_limit.limit if review.global_concurrency_limit else None,
        "rate": (rate.limit, rate.slot_decay_per_second),
        "automations": len(automations),
    }


@pytest.mark.usefixtures("prefect_server")
def test_deploy_registers_everything_on_a_pool_and_twice_changes_nothing(registered: list[str]) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["deploy", "--pool", "unit-pool", "--email-per-minute", "30", "--json"])
    assert result.exit_code == 0, result.output
    registered += [f"{flow}/{POOL_DEPLOYMENT}" for flow in sorted(flows_in_package())]
    report = json.loads(result.output)
    assert report["pool_created"] and sorted(report["deployments"]) == registered
    first = _server_view(POOL_DEPLOYMENT)
    assert first == {
        "pool": "unit-pool",
        "rrule": quarterly_rrule([1, 2, 3, 4, 5]),
        "review_limit": 1,
        "rate": (30, 0.5),
        "automations": 1,
    }
    again = runner.invoke(app, ["deploy", "--pool", "unit-pool", "--email-per-minute", "30", "--json"])
    assert again.exit_code == 0 and not json.loads(again.output)["pool_created"]
    assert _server_view(POOL_DEPLOYMENT) == first


@pytest.mark.usefixtures("prefect_server")
def test_serve_sets_the_rate_limit_and_serves_every_deployment(
    monkeypatch: pytest.MonkeyPatch, registered: list[str]
) -> None:
    served: list[RunnerDeployment] = []
    monkeypatch.setattr("deployments.serve.serve", lambda *d, limit=None: served.extend(d))
    result = CliRunner().invoke(app, ["serve", "--email-per-minute", "90", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(d.flow_name for d in served) == sorted(flows_in_package())
    assert {d.name for d in served} == {SERVE_DEPLOYMENT}
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        rate = client.read_global_concurrency_limit_by_name(EMAIL_RATE_LIMIT)
    assert (rate.limit, rate.slot_decay_per_second) == (90, 1.5)
