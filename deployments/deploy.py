"""`tandem deploy --pool NAME`: register every deployment on a work pool, with its automation and limits.

Workers on other machines (`prefect worker start --pool NAME`) then run the flows; they need Tandem
installed (the entrypoints are module paths) and the same `TANDEM_*` environment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
    WorkPoolCreate,
)
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from deployments.definitions import POOL_DEPLOYMENT, build_deployments
from tasks.notify import EMAIL_RATE_LIMIT


@dataclass
class DeployReport:
    """What `tandem deploy` registered, as plain data."""

    pool: str
    pool_created: bool
    deployments: list[str] = field(default_factory=list)
    automations: list[str] = field(default_factory=list)
    email_rate_limit: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return asdict(self)


def ensure_work_pool(client: SyncPrefectClient, name: str) -> bool:
    """Create a process work pool unless a pool of that name exists; return whether it was created."""
    try:
        client.read_work_pool(name)
        return False
    except ObjectNotFound:
        pass
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    try:
        client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))
    except ObjectAlreadyExists:
        return False  # a worker started at the same moment created it
    return True


def email_rate(per_minute: int) -> dict[str, Any]:
    """Return the email rate limit: a bucket of one minute's sends that refills at the provider's rate."""
    if per_minute < 1:
        raise ValueError("the email rate must be at least 1 a minute")
    return {"name": EMAIL_RATE_LIMIT, "limit": per_minute, "slot_decay_per_second": per_minute / 60}


def ensure_email_rate_limit(client: SyncPrefectClient, per_minute: int) -> dict[str, Any]:
    """Create or update the global rate limit every email send takes a slot of."""
    wanted = email_rate(per_minute)
    try:
        client.read_global_concurrency_limit_by_name(EMAIL_RATE_LIMIT)
    except ObjectNotFound:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(**wanted))
        return wanted
    update = GlobalConcurrencyLimitUpdate(
        limit=wanted["limit"], slot_decay_per_second=wanted["slot_decay_per_second"], active=True
    )
    client.update_global_concurrency_limit(EMAIL_RATE_LIMIT, update)
    return wanted


def deploy_all(
    pool: str, *, email_per_minute: int, name: str = POOL_DEPLOYMENT, image: str | None = None
) -> DeployReport:
    """Register every deployment on `pool` (created as a process pool if missing), its automation, limits."""
    with get_client(sync_client=True) as client:
        created = ensure_work_pool(client, pool)
        limit = ensure_email_rate_limit(client, email_per_minute)
    report = DeployReport(pool=pool, pool_created=created, email_rate_limit=limit)
    for deployment in build_deployments(name):
        # apply() also replaces the deployment's automations, so deploying twice leaves one of each.
        deployment.apply(work_pool_name=pool, image=image)
        report.deployments.append(f"{deployment.flow_name}/{deployment.name}")
        report.automations += [label for t in deployment.triggers if (label := getattr(t, "name", None))]
    return report
