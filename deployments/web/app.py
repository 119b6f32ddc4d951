"""The web app: partner portal and staff dashboard, server-rendered, working without JavaScript."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployments.web import dashboard, portal, portal_payments
from deployments.web.pages import language_of, page
from deployments.web.security import BodyLimit, FailureLimiter, SecurityHeaders
from models.core.db import ensure_schema
from models.core.errors import Conflict, InputRejected, NotFound
from models.portal.links import LinkRefused

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
FORM_OVERHEAD_BYTES = 64 * 1024  # the note, link and multipart framing around a file


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    ensure_schema()
    yield


def error_page(request: Request, status: int, problems: list[str] | None = None) -> HTMLResponse:
    """Render an error page in the reader's language (never echoing raw input unescaped)."""
    context = {"status": status, "problems": problems or []}
    return page(request, "error.html.j2", context, lang=language_of(request), status=status)


def _register_errors(app: FastAPI) -> None:
    # The web handler is an outer boundary: Tandem's errors become pages with the right status.
    async def refused(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, 403)

    async def not_found(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, 404)

    async def conflict(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, 409)

    async def rejected(request: Request, exc: Exception) -> HTMLResponse:
        problems = [str(p) for p in exc.problems] if isinstance(exc, InputRejected) else []
        return error_page(request, 400, problems)

    async def http_error(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, exc.status_code if isinstance(exc, StarletteHTTPException) else 500)

    async def signed_out(request: Request, exc: Exception) -> HTMLResponse:
        return dashboard.login_page(request, status=401)

    app.add_exception_handler(LinkRefused, refused)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(InputRejected, rejected)
    app.add_exception_handler(RequestValidationError, rejected)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(dashboard.NotSignedIn, signed_out)


def create_app(*, max_upload_bytes: int = MAX_UPLOAD_BYTES, limiter: FailureLimiter | None = None) -> FastAPI:
    """Build the web app (the schema is upgraded on start-up)."""
    app = FastAPI(title="Tandem", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_lifespan)
    app.state.limiter = limiter or FailureLimiter()
    app.state.max_upload = max_upload_bytes
    app.add_middleware(BodyLimit, max_bytes=max_upload_bytes + FORM_OVERHEAD_BYTES)
    app.add_middleware(SecurityHeaders)  # added last, so outermost: errors get the headers too
    app.mount("/static", StaticFiles(packages=[("deployments.web", "static")]), name="static")
    app.include_router(portal.router)
    app.include_router(portal_payments.router)
    app.include_router(dashboard.router)
    app.add_api_route("/", lambda: RedirectResponse("/dashboard", status_code=303), include_in_schema=False)
    app.add_api_route("/healthz", lambda: PlainTextResponse("ok"), include_in_schema=False)
    _register_errors(app)
    return app
