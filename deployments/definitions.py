"""Every Tandem deployment, defined once in code: schedules, the automation and concurrency.

`tandem serve` serves these deployments in one process; `tandem deploy --pool NAME` registers the
same ones on a work pool. `deployments/prefect.yaml` says the same declaratively, and
docs/DEPLOYMENT.md lists the same schedules; tests/deployments/test_definitions.py keeps the three equal.

Why the quarterly review uses an RRule and not cron: "the first business day of the quarter" is the
first Monday-to-Friday date of January, April, July and October. Cron cannot pick "the first" of a
set: `0 8 1-3 1,4,7,10 1-5` ORs day-of-month with day-of-week (it fires on every weekday of those
months), and with AND semantics it still fires on the 1st, 2nd and 3rd when all three are weekdays.
The RRule `FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=MO,...,FR;BYSETPOS=1` selects exactly one date per
quarter, at 08:00 in the organization's timezone (DST-aware), with no guard flow needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, cast

from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.events.schemas.automations import Posture

from flows.deliver_outbox import deliver_outbox
from flows.exit_relationship import exit_relationship
from flows.onboard_partner import onboard_partner
from flows.portfolio_report import portfolio_report
from flows.quarterly_review import quarterly_review
from flows.send_reminders import send_reminders
from flows.setup_governance import setup_governance
from models.core.settings import Settings, get_settings

POOL_DEPLOYMENT = "tandem"  # `tandem deploy`: <flow>/tandem on a work pool
SERVE_DEPLOYMENT = "tandem-local"  # `tandem serve`: its own names, so a stopped serve pauses only these
TAGS = ["tandem"]

ONBOARDING_COMPLETE = "tandem.relationship.onboarding-complete"
GOVERNANCE_AUTOMATION = "setup-governance-on-onboarding-complete"

ISO_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
Trigger = Literal["manual", "cron", "rrule", "event"]


@dataclass(frozen=True)
class Plan:
    """How one flow is deployed: what starts it, and how many of its runs may run at once."""

    flow: Flow[..., Any]
    trigger: Trigger
    expression: str = ""
    concurrency: int | None = None
    collision: ConcurrencyLimitStrategy = ConcurrencyLimitStrategy.ENQUEUE


def business_days(settings: Settings) -> list[int]:
    """Return the organization's business days as ISO weekday numbers (1 = Monday)."""
    days = sorted({int(d) for d in settings.business_days.split(",") if d.strip()})
    if not days or not all(1 <= d <= 7 for d in days):
        raise ValueError(f"TANDEM_BUSINESS_DAYS {settings.business_days!r} is not a list of ISO weekdays 1-7")
    return days


def cron_weekdays(days: list[int]) -> str:
    """Write ISO weekdays as a cron day-of-week field: a range when contiguous (`1-5`), else a list."""
    cron_days = sorted(d % 7 for d in days)  # cron counts Sunday as 0
    if len(cron_days) > 2 and cron_days == list(range(cron_days[0], cron_days[-1] + 1)):
        return f"{cron_days[0]}-{cron_days[-1]}"
    return ",".join(str(d) for d in cron_days)


def quarterly_rrule(days: list[int]) -> str:
    """Return the RRule for 08:00 on the first business day of each quarter."""
    by_day = ",".join(ISO_DAYS[d - 1] for d in days)
    return f"FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY={by_day};BYSETPOS=1;BYHOUR=8;BYMINUTE=0;BYSECOND=0"


def plans(settings: Settings | None = None) -> list[Plan]:
    """Return the deployment plan of every flow, with schedules in the organization's calendar."""
    days = business_days(settings or get_settings())
    return [
        Plan(onboard_partner, "manual"),
        Plan(setup_governance, "event", ONBOARDING_COMPLETE),
        Plan(exit_relationship, "manual"),
        # Two reviews never overlap (so never two for one period); a second waits for the first.
        Plan(quarterly_review, "rrule", quarterly_rrule(days), 1),
        # Queued before quiet hours end at 08:00, so digests go out with the first delivery pass.
        Plan(send_reminders, "cron", f"30 7 * * {cron_weekdays(days)}", 1),
        # A pass still running makes the next one pointless: drop it rather than pile up.
        Plan(deliver_outbox, "cron", "*/5 * * * *", 1, ConcurrencyLimitStrategy.CANCEL_NEW),
        # Monday morning, or the week's first business day where the week starts otherwise.
        Plan(portfolio_report, "cron", f"0 7 * * {min(d % 7 for d in days)}"),
    ]


def governance_trigger() -> DeploymentEventTrigger:
    """Return the automation that starts `setup-governance` when a relationship's onboarding is complete."""
    return DeploymentEventTrigger(
        name=GOVERNANCE_AUTOMATION,
        description="Set up joint governance as soon as a relationship's onboarding checklist is complete.",
        expect={ONBOARDING_COMPLETE},
        match={"prefect.resource.id": "tandem.relationship.*"},
        for_each={"prefect.resource.id"},
        posture=Posture.Reactive,
        threshold=1,
        within=timedelta(0),
        # `| string`: the parameter is a relationship reference (str); the payload holds an int.
        parameters={"relationship": "{{ event.payload.relationship_id | string }}"},
    )


def _schedules(plan: Plan, timezone: str) -> list[CronSchedule | RRuleSchedule]:
    if plan.trigger == "cron":
        return [CronSchedule(cron=plan.expression, timezone=timezone)]
    if plan.trigger == "rrule":
        return [RRuleSchedule(rrule=plan.expression, timezone=timezone)]
    return []


def _concurrency(plan: Plan) -> ConcurrencyLimitConfig | None:
    if plan.concurrency is None:
        return None
    return ConcurrencyLimitConfig(limit=plan.concurrency, collision_strategy=plan.collision)


def to_deployment(plan: Plan, *, name: str, settings: Settings) -> RunnerDeployment:
    """Build one deployment; module entrypoints, so any host with Tandem installed can run it."""
    deployment = plan.flow.to_deployment(
        name=name,
        schedules=_schedules(plan, settings.timezone),
        triggers=[governance_trigger()] if plan.trigger == "event" else None,
        concurrency_limit=_concurrency(plan),
        tags=TAGS,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    # Called synchronously: Prefect's sync_compatible decorator types the result as maybe a coroutine.
    return cast(RunnerDeployment, deployment)


def build_deployments(
    name: str = POOL_DEPLOYMENT, settings: Settings | None = None
) -> list[RunnerDeployment]:
    """Build every Tandem deployment under one deployment name."""
    settings = settings or get_settings()
    return [to_deployment(plan, name=name, settings=settings) for plan in plans(settings)]


def rule_of(rrule: str) -> str:
    """Return the rule of an RRule text without the DTSTART line Prefect anchors it with."""
    lines = [line for line in rrule.splitlines() if not line.startswith("DTSTART")]
    return "\n".join(line.removeprefix("RRULE:") for line in lines)


def describe(deployment: RunnerDeployment) -> dict[str, Any]:
    """Return what starts a built deployment and its concurrency, as the docs table states it."""
    row: dict[str, Any] = {"deployment": deployment.flow_name, "trigger": "manual", "expression": ""}
    trigger = deployment.triggers[0] if deployment.triggers else None
    if isinstance(trigger, DeploymentEventTrigger):  # the only kind Tandem builds
        row.update(trigger="event", expression=" ".join(sorted(trigger.expect)))
    for item in deployment.schedules or []:
        schedule = item.schedule
        if isinstance(schedule, CronSchedule):
            row.update(trigger="cron", expression=schedule.cron)
        elif isinstance(schedule, RRuleSchedule):
            row.update(trigger="rrule", expression=rule_of(schedule.rrule))
    limit = deployment.concurrency_limit
    strategy = deployment.concurrency_options.collision_strategy if deployment.concurrency_options else None
    row["concurrency"] = f"{limit} ({strategy.value})" if limit and strategy else str(limit or "-")
    return row
