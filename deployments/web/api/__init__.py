"""The versioned HTTP API for other systems (`/api/v1`), described by its own OpenAPI schema.

A sub-application mounted by the web app: its own error handling (RFC 9457 problems, never an HTML
page), its own body limit and its own limits per token. docs/API.md describes it for integrators.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from deployments.web.api import reads, work, writes
from deployments.web.api.auth import RateLimit
from deployments.web.api.problems import ApiGuard, ProblemDetails, register_problem_handlers
from deployments.web.security import FailureLimiter

PREFIX = "/api/v1"
MAX_BODY_BYTES = 2 * 1024 * 1024  # 1,000 rows of a few hundred bytes each fit with room to spare
RATE_PER_MINUTE = 600


def _openapi(app: FastAPI) -> dict[str, Any]:
    """Build the schema once, with the problem body the error answers document."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes,
            servers=[{"url": PREFIX}],
        )  # fmt: skip
        problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(problem.pop("$defs", {}))
        components["ProblemDetails"] = problem
        app.openapi_schema = schema
    return app.openapi_schema


class _Api(FastAPI):
    """FastAPI whose schema documents the problem body too."""

    def openapi(self) -> dict[str, Any]:
        return _openapi(self)


def create_api(
    *, failures: FailureLimiter | None = None, rate_per_minute: int = RATE_PER_MINUTE,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:  # fmt: skip
    """Build the API application (mounted at /api/v1 by the web app)."""
    api = _Api(
        title="Tandem API",
        version="1",
        description="Partners, invoices and payments in; relationships, checklists, reviews and audit out.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    api.state.failures = failures or FailureLimiter()
    api.state.rate = RateLimit(rate_per_minute)
    api.state.work = work.Work()
    api.add_middleware(ApiGuard, max_bytes=max_body_bytes)
    register_problem_handlers(api)
    for module in (writes, reads, work):
        api.include_router(module.router)
    return api
