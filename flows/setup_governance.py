"""`setup-governance`: once onboarding is complete, write the joint charter, seed the risk register
and generate the governance checklist; once that is closed, make the relationship active."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger

from models.identity.acting import ActingAs
from tasks.acting import acting_for_run
from tasks.lifecycle import activate_if_governed, relationship_state, start_governance


@flow(name="setup-governance", log_prints=False)
def setup_governance(
    relationship: str, as_of: date | None = None, acting_as: ActingAs | None = None
) -> dict[str, Any]:
    """Set up joint governance for one relationship, or activate it when governance is done."""
    logger = get_run_logger()
    with acting_for_run(acting_as):  # a run started from the web acts for its signed-in person
        state = relationship_state(relationship)
        in_progress = state.stage in ("onboarding", "governance")
        started = start_governance(state.id, as_of) if in_progress else None
        result = activate_if_governed(state.id, as_of)
    logger.info("relationship %s is %s", state.id, result.stage)
    return {**(started.model_dump() if started else {}), **result.model_dump()}


if __name__ == "__main__":
    setup_governance("1")
