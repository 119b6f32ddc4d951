"""Starting work: onboarding and exit requests run the CLI's flows, in a background thread.

The API never approves: an onboarding it starts asks the sponsor and stops there (as
`tandem onboard` without `--wait`), and the sponsor answers with `tandem approve` or the Prefect UI,
under the same rules as any onboarding. The request waits a few seconds for the run: a quick run
answers with its relationship; a slow one (a first start of Prefect) answers with what is known.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from deployments.local_server import prefect_runtime
from deployments.web.api.auth import Caller, needs
from deployments.web.api.problems import problem_responses
from deployments.web.api.schemas import ExitIn, OnboardingIn, WorkStarted
from deployments.web.api.writes import IdempotencyKey, idempotent
from models.core import audit
from models.lifecycle.exits import refuse_blocked
from models.lifecycle.relationships import find_relationship
from models.partners.registry import find_partner

router = APIRouter()
log = logging.getLogger("tandem.api")
WAIT_SECONDS = 20.0  # for the run to finish before answering with what is known
WORK_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 500)


class Work:
    """The runs this app started, so shutdown (and a test) can wait for them."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, flow: Any, kwargs: dict[str, Any], *, wait: float = WAIT_SECONDS) -> dict[str, Any]:
        """Run a flow in a thread; return its run id and result when it ends within `wait` seconds."""
        known: dict[str, Any] = {}
        ended = threading.Event()

        def running(_flow: Any, flow_run: Any, _state: Any) -> None:
            known["flow_run_id"] = str(flow_run.id)

        def run() -> None:
            try:
                with prefect_runtime():  # no server configured: the local one, as for the CLI and web
                    known["result"] = flow.with_options(on_running=[running])(**kwargs)
            except Exception:  # the run's own state and logs say why; the API answered already
                log.exception("flow %s started by the API failed", flow.name)
            finally:
                ended.set()

        context = contextvars.copy_context()  # the caller's principal goes with the run
        thread = threading.Thread(target=context.run, args=(run,), name=f"api-{flow.name}")
        with self._lock:
            self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()
        ended.wait(wait)
        return dict(known)

    def join(self, timeout: float | None = None) -> None:
        """Wait for every run started here."""
        for thread in list(self.threads):
            thread.join(timeout)


def _work(request: Request) -> Work:
    return request.app.state.work


def _note(
    session: Session, who: Caller, action: str, relationship_id: int | None, data: dict[str, Any]
) -> None:
    audit.record(
        session, actor=who.actor, action=action, entity="relationship", entity_id=relationship_id,
        relationship_id=relationship_id, data={**data, "method": "api"},
    )  # fmt: skip


@router.post(
    "/onboardings",
    status_code=202,
    response_model=WorkStarted,
    responses=WORK_ERRORS,
    summary="Start an onboarding",
)
def start_onboarding(
    body: OnboardingIn,
    request: Request,
    who: Annotated[Caller, Depends(needs("flows:write"))],
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Run `onboard-partner` for a registered partner: open the relationship, ask the sponsor to approve."""
    from flows.onboard_partner import OnboardingRequest, onboard_partner

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        partner = find_partner(session, body.partner)  # 404 before anything starts
        fields = body.model_dump(mode="json", exclude={"partner"})
        req = OnboardingRequest(partner_ref=str(partner.id), wait_for_approval=False, **fields)
        session.commit()  # no transaction of ours stays open while the flow writes
        found = _work(request).start(onboard_partner, {"request": req})
        result = found.get("result") or {}
        data = {"partner_id": partner.id, "key": body.key, "flow_run_id": found.get("flow_run_id")}
        _note(session, who, "api.onboarding_requested", result.get("relationship_id"), data)
        answer = WorkStarted(
            flow="onboard-partner",
            flow_run_id=found.get("flow_run_id"),
            relationship_id=result.get("relationship_id"),
            relationship_key=body.key,
        )
        return 202, answer.model_dump(mode="json")

    return idempotent(who, key, "/onboardings", body, work)


@router.post(
    "/exits", status_code=202, response_model=WorkStarted, responses=WORK_ERRORS, summary="Start an exit"
)
def start_exit(
    body: ExitIn,
    request: Request,
    who: Annotated[Caller, Depends(needs("flows:write"))],
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Run `exit-relationship`: start the planned exit, or close it when the exit checklist is done."""
    from flows.exit_relationship import exit_relationship

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        rel = find_relationship(session, body.relationship)  # 404 before anything starts
        # 409 now, not a failed run later; a token never approves in the sponsor's name.
        refuse_blocked(session, rel, "run")
        args = {"relationship": str(rel.id), "reason": body.reason, "trigger": body.trigger, "by": body.by}
        session.commit()  # no transaction of ours stays open while the flow writes
        found = _work(request).start(exit_relationship, args)
        data = {"trigger": body.trigger, "flow_run_id": found.get("flow_run_id")}
        _note(session, who, "api.exit_requested", rel.id, data)
        answer = WorkStarted(
            flow="exit-relationship", flow_run_id=found.get("flow_run_id"), relationship_id=rel.id,
            relationship_key=rel.key,
        )  # fmt: skip
        return 202, answer.model_dump(mode="json")

    return idempotent(who, key, "/exits", body, work)
