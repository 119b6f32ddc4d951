"""`tandem serve`: every deployment served by one process against the configured Prefect API."""

from __future__ import annotations

from prefect import serve
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

from deployments.definitions import SERVE_DEPLOYMENT, build_deployments
from deployments.deploy import ensure_email_rate_limit


def api_description() -> str:
    """Return the Prefect API this process talks to, for people reading the console."""
    return PREFECT_API_URL.value() or "the embedded Prefect server (no PREFECT_API_URL set)"


def serve_all(*, email_per_minute: int, name: str = SERVE_DEPLOYMENT, limit: int | None = None) -> None:
    """Serve every deployment until interrupted: schedules fire, manual and event runs execute here."""
    with get_client(sync_client=True) as client:
        ensure_email_rate_limit(client, email_per_minute)  # the same limit `tandem deploy` sets
    serve(*build_deployments(name), limit=limit)
