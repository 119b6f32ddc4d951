"""Where the web starts flows: one function, so the lead can route it to a served deployment.

A page never waits for a flow (nor for a Prefect server to start): the flow runs in a background
thread with the caller's principal, and the page says what is running.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.core.base import utcnow

log = logging.getLogger(__name__)


@dataclass
class Run:
    """A flow the web started: what, for whom, and how it ended."""

    label: str
    who: str
    started_at: datetime = field(default_factory=utcnow)
    outcome: str = "running"


RUNS: list[Run] = []  # the latest runs of this process, newest last
_LOCK = threading.Lock()


def start_flow(label: str, who: str, fn: Callable[..., Any], *args: Any) -> Run:
    """Run a flow (or the CLI's function that starts one) in the background, as the calling principal."""
    run = Run(label, who)
    context = contextvars.copy_context()  # carries the principal (models.core.principal)

    def work() -> None:
        try:
            result = context.run(fn, *args)
            run.outcome = str(result.get("outcome", "done")) if isinstance(result, dict) else "done"
        except Exception as exc:  # the outer boundary of a background run: say it failed, log why
            run.outcome = f"failed: {type(exc).__name__}"
            log.exception("web-started run %s failed", label)

    with _LOCK:
        RUNS.append(run)
        del RUNS[:-50]
    threading.Thread(target=work, name=f"tandem-web-{label}", daemon=True).start()
    return run


def runs_of(who: str) -> list[Run]:
    """Return the runs a person started, newest first."""
    with _LOCK:
        return [r for r in reversed(RUNS) if r.who == who]
