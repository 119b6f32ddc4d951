"""A flow takes up the person its run was started for, checking the web's signature on its parameters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.context import FlowRunContext

from models.core.principal import Principal
from models.identity.acting import ActingAs, run_acting_as


@contextmanager
def acting_for_run(acting: ActingAs | None) -> Iterator[Principal | None]:
    """Attribute the running flow's writes to its `acting_as` person (None: keep the caller's principal)."""
    context = FlowRunContext.get()
    flow = context.flow.name if context and context.flow else ""
    # The parameters as Prefect stored them (JSON): the same form the web signed.
    parameters = dict(context.flow_run.parameters) if context and context.flow_run else {}
    with run_acting_as(acting, flow, parameters) as me:
        yield me
