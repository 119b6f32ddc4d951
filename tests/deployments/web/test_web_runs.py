"""Flows started from the web: a run of the served deployment when the Prefect server has one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from typing import cast

import pytest
from fastapi.testclient import TestClient
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import temporary_settings
from sqlmodel import Session

from deployments.definitions import SERVE_DEPLOYMENT
from deployments.web.runs import Run, forget_deployments, runs_of, served_deployment
from flows.setup_governance import setup_governance
from models.identity.acting import signature_of
from models.tables import Relationship
from tests.deployments.web.support import sign_in
from tests.support import factories as f

pytestmark = pytest.mark.usefixtures("prefect_server")
SERVED = f"setup-governance/{SERVE_DEPLOYMENT}"


@pytest.fixture
def served_governance() -> Iterator[uuid.UUID]:
    """Register `setup-governance` as `tandem serve` names it (no process serves it); remove it after."""
    from prefect.client.orchestration import get_client

    built = setup_governance.to_deployment(name=SERVE_DEPLOYMENT, entrypoint_type=EntrypointType.MODULE_PATH)
    deployment_id = cast(uuid.UUID, cast(RunnerDeployment, built).apply())
    forget_deployments()
    yield deployment_id
    with get_client(sync_client=True) as client, suppress(ObjectNotFound):
        client.delete_deployment(deployment_id)
    forget_deployments()  # later tests in this session run embedded again


def _started(who: str) -> Run:
    """Return the person's latest run once the background thread has submitted (or run) it."""
    for _ in range(200):
        if runs_of(who) and runs_of(who)[0].outcome != "running":
            break
        time.sleep(0.05)
    return runs_of(who)[0]


def test_the_web_creates_a_run_of_the_served_deployment_for_the_signed_in_person(
    client: TestClient, session: Session, served_governance: uuid.UUID
) -> None:
    """Governance started from the page becomes a run of the served deployment, acting for the manager."""
    from prefect.client.orchestration import get_client

    rel = f.relationship(session, stage="onboarding")
    session.commit()
    manager = rel.key.replace("rel-", "manager") + "@example.org"
    csrf = sign_in(client, session, manager, "manager")
    started = client.post(f"/work/relationships/{rel.id}/governance", data={"csrf": csrf})
    assert started.status_code == 303
    run = _started(manager)
    assert (run.where, run.outcome) == (f"served deployment {SERVED}", "submitted")
    page = client.get("/work").text
    assert SERVED in page and f'/runs/flow-run/{run.flow_run_id}">{run.flow_run_id}</a>' in page
    with get_client(sync_client=True) as prefect:
        flow_run = prefect.read_flow_run(uuid.UUID(run.flow_run_id or ""))
        assert flow_run.deployment_id == served_governance
        parameters = dict(flow_run.parameters)
        acting = parameters.pop("acting_as")
        assert parameters == {"relationship": str(rel.id), "as_of": None}
        signed = signature_of("setup-governance", parameters, email=manager, method="web")
        assert acting == {"email": manager, "method": "web", "signature": signed}
        prefect.delete_flow_run(flow_run.id)
    session.expire_all()
    assert session.get(Relationship, rel.id).stage == "onboarding"  # type: ignore[union-attr]  # not run here

    with get_client(sync_client=True) as prefect:
        prefect.pause_deployment(served_governance)  # as a stopped `tandem serve` leaves it
    forget_deployments()
    assert served_deployment(setup_governance) is None


def test_without_a_configured_server_the_web_runs_flows_embedded() -> None:
    """With no Prefect API known, no server is asked (a web run then enters the local server's runtime)."""
    with temporary_settings(restore_defaults={"api.url"}):
        assert served_deployment(setup_governance) is None
