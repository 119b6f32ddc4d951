"""`exit-relationship`: a planned exit that protects the partner (clause 5.12): notice from the
plan, an exit checklist, final payment on time, everyone told; `exited` when the checklist closes."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger

from models.identity.acting import ActingAs
from models.lifecycle.machine import ExitTrigger
from tasks.acting import acting_for_run
from tasks.lifecycle import begin_exit, close_exit_if_done, relationship_state


@flow(name="exit-relationship", log_prints=False)
def exit_relationship(
    relationship: str,
    reason: str,
    trigger: ExitTrigger,
    by: str,
    as_of: date | None = None,
    acting_as: ActingAs | None = None,
) -> dict[str, Any]:
    """Start or continue the exit of one relationship."""
    logger = get_run_logger()
    with acting_for_run(acting_as):  # a run started from the web acts for its signed-in person
        state = relationship_state(relationship)
        started = begin_exit(state.id, reason, trigger, by, as_of) if state.stage != "exited" else None
        result = close_exit_if_done(state.id)
    logger.info("relationship %s is %s", state.id, result.stage)
    return {**(started.model_dump() if started else {}), **result.model_dump()}


if __name__ == "__main__":
    exit_relationship("1", reason="planned end of contract", trigger="planned-end", by="rm@example.com")
