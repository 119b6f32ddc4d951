"""When a failed task is worth retrying: a refusal is not (the same input gets the same answer)."""

from __future__ import annotations

from typing import Any

from models.core.errors import Refused


def unless_refused(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry a failed task run unless Tandem refused it on purpose (`retry_condition_fn`)."""
    return not isinstance(getattr(state, "data", None), Refused)


# The retries of the lifecycle tasks: two quick ones for a locked database or a lost connection.
LIFECYCLE_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [1, 5],
    "retry_condition_fn": unless_refused,
}
