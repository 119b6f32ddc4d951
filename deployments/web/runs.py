"""Where the web starts flows: on the served deployment when a Prefect server has one, else embedded.

A page never waits for a flow, nor for a Prefect server: a background thread asks the configured
server (`PREFECT_API_URL`) whether it has the flow's deployment (`<flow>/tandem-local` from
`tandem serve`, else `<flow>/tandem` from `tandem deploy`; a paused one does not count, as a stopped
`tandem serve` pauses its own) and, if so, creates a run of it with the signed-in person as its
`acting_as` parameter (signed: models/identity/acting.py); otherwise the flow runs in that thread
with the caller's principal (the embedded path). The page says which, with the run's id and a link
to the Prefect UI.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from deployments.definitions import POOL_DEPLOYMENT, SERVE_DEPLOYMENT
from deployments.local_server import prefect_runtime
from models.core.base import utcnow
from models.core.errors import Refused, TransitionRefused
from models.core.principal import current_principal
from models.identity.acting import ActingAs, acting_of

if TYPE_CHECKING:
    from prefect import Flow

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
SERVED_NAMES = (SERVE_DEPLOYMENT, POOL_DEPLOYMENT)  # the served deployment first
CACHE_SECONDS = 30.0  # how long an answer about a deployment is trusted
LOOKUP_TIMEOUT_S = 5.0


@dataclass
class Run:
    """A flow the web started: what, for whom, where it runs, and how it ended."""

    label: str
    who: str
    started_at: datetime = field(default_factory=utcnow)
    outcome: str = "running"  # running, submitted, done, refused or failed (t.work.outcomes)
    detail: str = ""  # what the flow said it did, or why it was refused
    reasons: list[str] = field(default_factory=list)  # every reason of a refusal
    where: str = ""  # "embedded" or "served deployment <name>", once the background thread has chosen
    deployment: str | None = None
    flow_run_id: str | None = None
    run_url: str | None = None  # the run's page in the Prefect UI


RUNS: list[Run] = []  # the latest runs of this process, newest last
_LOCK = threading.Lock()
_KNOWN: dict[tuple[str, str], tuple[float, str | None]] = {}  # (api, flow) -> (until, deployment)


def start_flow(label: str, who: str, fn: Callable[..., Any], *args: Any) -> Run:
    """Start a flow (or the CLI's function that starts one) in the background, as the calling principal."""
    run = Run(label, who)
    context = contextvars.copy_context()  # carries the principal (models.core.principal)

    def work() -> None:
        try:
            # With no Prefect server configured: Tandem's local server under TANDEM_HOME, as for the
            # CLI (started here, in the background thread, if it is not up: the page never waits).
            with prefect_runtime():
                if _submitted(run, fn, args):
                    return
                run.where = EMBEDDED
                result = fn(*args)
            run.outcome = "done"
            run.detail = str(result.get("outcome", "")) if isinstance(result, dict) else ""
        except Refused as exc:  # a refusal is not a failure: say why, every reason, no traceback
            run.outcome, run.detail = "refused", str(exc)
            run.reasons = exc.reasons if isinstance(exc, TransitionRefused) else []
            log.info("web-started run %s refused: %s", label, exc)
        except Exception as exc:  # the outer boundary of a background run: say it failed, log why
            run.outcome, run.detail = "failed", type(exc).__name__
            log.exception("web-started run %s failed", label)

    with _LOCK:
        RUNS.append(run)
        del RUNS[:-50]
    threading.Thread(target=context.run, args=(work,), name=f"tandem-web-{label}", daemon=True).start()
    return run


def _submitted(run: Run, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    """Create a run of the flow's served deployment, if there is one and it can carry the person."""
    from prefect import Flow
    from prefect.utilities.callables import get_call_parameters

    if not isinstance(fn, Flow):
        return False
    # Every parameter, defaults included, as JSON: what the run gets, and what the signature covers.
    parameters = fn.serialize_parameters(get_call_parameters(fn.fn, args, {}))
    acting = acting_of(current_principal(), fn.name, parameters)
    name = served_deployment(fn) if acting is not None else None
    if acting is None or name is None:
        return False
    run.where, run.deployment = f"served deployment {name}", name  # a refused submission says where
    run.flow_run_id, run.run_url = submit(name, parameters, acting)
    run.outcome = "submitted"
    return True


def served_deployment(flow: Flow[..., Any]) -> str | None:
    """Return the name of the deployment serving the flow on the configured Prefect server, or None."""
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    if not api:
        return None  # no server to ask (outside prefect_runtime)
    key = (api, flow.name)
    with _LOCK:
        until, known = _KNOWN.get(key, (0.0, None))
    if until > time.monotonic():
        return known
    found = _look_up(flow.name)
    with _LOCK:
        _KNOWN[key] = (time.monotonic() + CACHE_SECONDS, found)
    return found


def forget_deployments() -> None:
    """Forget what the server said about deployments (after registering or removing one)."""
    with _LOCK:
        _KNOWN.clear()


def _look_up(flow_name: str) -> str | None:
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True, httpx_settings={"timeout": LOOKUP_TIMEOUT_S}) as client:
            for suffix in SERVED_NAMES:
                name = f"{flow_name}/{suffix}"
                try:
                    deployment = client.read_deployment_by_name(name)
                except ObjectNotFound:
                    continue
                if not deployment.paused:
                    return name
    except (httpx.HTTPError, OSError) as exc:  # the server is down: run embedded, say so in the log
        log.warning("Prefect server did not answer about %s (%s): running embedded", flow_name, exc)
    return None


def submit(name: str, parameters: dict[str, Any], acting: ActingAs) -> tuple[str, str | None]:
    """Create a run of the deployment (not waiting for it); return its id and its Prefect UI page."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.utilities.urls import url_for

    # An email, a sign-in method and Tandem's signature over the rest: nothing secret.
    parameters = {**parameters, "acting_as": acting.model_dump(mode="json")}
    flow_run = run_deployment(
        name,
        parameters=parameters,
        timeout=0,
        idempotency_key=idempotency_key(name, parameters),
        as_subflow=False,
    )
    assert isinstance(flow_run, FlowRun)  # called from a thread without an event loop: not a coroutine
    return str(flow_run.id), url_for("flow-run", obj_id=flow_run.id)


def idempotency_key(name: str, parameters: dict[str, Any], now: float | None = None) -> str:
    """Return a start's key: the same form posted twice within the same minute creates one run."""
    text = json.dumps([name, parameters], sort_keys=True, default=str)
    minute = int((time.time() if now is None else now) // 60)
    return f"tandem-web-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:32]}-{minute}"


def runs_of(who: str) -> list[Run]:
    """Return the runs a person started, newest first."""
    with _LOCK:
        return [r for r in reversed(RUNS) if r.who == who]
