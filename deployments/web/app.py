"""The web app: partner portal and staff dashboard, server-rendered, working without JavaScript."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from deployments.web import auth, dashboard, portal, portal_payments, sso, work_relationship, workspace
from deployments.web.pages import language_of, page, strings
from deployments.web.security import (
    LOOPBACK,
    SECURITY_HEADERS,
    BodyLimit,
    FailureLimiter,
    PeerAddress,
    SecurityHeaders,
)
from models.core.db import ensure_schema
from models.core.errors import Conflict, InputRejected, NotAllowed, NotFound, Problem
from models.core.settings import get_settings
from models.portal.links import LinkRefused
from models.reviews.scorecards import PRINCIPLES

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
FORM_OVERHEAD_BYTES = 64 * 1024  # the note, link and multipart framing around a file


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    ensure_schema()
    yield
    app.state.api.state.work.join(timeout=60)  # let flows the API started finish their step


def error_page(request: Request, status: int, problems: list[Problem] | None = None) -> HTMLResponse:
    """Render an error page in the reader's language, naming each refused field by its form label."""
    lang = language_of(request)
    context = {"status": status, "problems": form_problems(problems or [], lang)}
    return page(request, "error.html.j2", context, lang=lang, status=status)


def form_problems(problems: list[Problem], lang: str) -> list[str]:
    """Say what is wrong with each field in the reader's words (the domain's own text never shows)."""
    words: dict[str, str] = strings()[lang]["problems"]
    shown: list[str] = []
    for p in problems:
        key, values = _problem_key(p.where)
        if key in words and (text := words[key].format(**values)) not in shown:
            shown.append(text)
    return shown


# A statement's lines are named "line 12 (INV-7)" with the field after a comma (models.payments.statements).
_STATEMENT_LINE = re.compile(r"line \d+(?: \((?P<invoice>[^)]*)\))?(?:, (?P<field>\w+))?")


def _problem_key(where: str) -> tuple[str, dict[str, str]]:
    """Return the words' key for a problem's field, and the values its words name."""
    if where in PRINCIPLES:
        return "score", {"principle": where}
    if line := _STATEMENT_LINE.fullmatch(where):
        return f"line_{line['field'] or 'answer'}", {"invoice": line["invoice"] or ""}
    return where, {}


def _validation_problems(exc: RequestValidationError) -> tuple[int, list[Problem]]:
    # A malformed id in the path names no page (404); a bad form field is the reader's to fix (400).
    errors = exc.errors()
    if any(e.get("loc", ("",))[0] == "path" for e in errors):
        return 404, []
    return 400, [Problem(str(e.get("loc", ("",))[-1]), str(e.get("msg", ""))) for e in errors]


def _register_errors(app: FastAPI) -> None:
    # The web handler is an outer boundary: Tandem's errors become pages with the right status.
    async def refused(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, 403)

    async def not_found(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, 404)

    async def conflict(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, 409)

    async def rejected(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, 400, exc.problems if isinstance(exc, InputRejected) else [])

    async def invalid(request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, RequestValidationError)
        status, problems = _validation_problems(exc)
        return error_page(request, status, problems)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        if request.url.path.startswith("/api/"):  # an API path outside /api/v1: still a problem, not a page
            from deployments.web.api.problems import problem_response

            return problem_response(
                status, "no such API path (the API is at /api/v1)", instance=request.url.path
            )
        return error_page(request, status)

    async def signed_out(request: Request, exc: Exception) -> HTMLResponse:
        return dashboard.login_page(request, status=401)

    async def crashed(request: Request, exc: Exception) -> Response:
        # Runs outside every middleware (Starlette's server-error layer), so it sets the headers itself;
        # uvicorn still logs the traceback, through the token-redacting filter.
        try:
            response: Response = error_page(request, 500)
        except Exception:  # the page itself failed: still answer, still with the headers
            response = PlainTextResponse("Internal Server Error", status_code=500)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.add_exception_handler(LinkRefused, refused)
    app.add_exception_handler(NotAllowed, refused)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(InputRejected, rejected)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(auth.NotSignedIn, signed_out)
    app.add_exception_handler(Exception, crashed)


def create_app(
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    limiter: FailureLimiter | None = None,
    api: FastAPI | None = None,
) -> FastAPI:
    """Build the web app with the API at /api/v1 (the schema is upgraded on start-up)."""
    from deployments.web.api import PREFIX, create_api

    app = FastAPI(title="Tandem", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_lifespan)
    app.state.limiter = limiter or FailureLimiter()
    app.state.max_upload = max_upload_bytes
    app.state.api = api or create_api(failures=app.state.limiter)
    # The API bounds its own bodies (and answers as a problem); pages and forms keep the upload limit.
    app.add_middleware(BodyLimit, max_bytes=max_upload_bytes + FORM_OVERHEAD_BYTES, exempt="/api/")
    # X-Forwarded-For from the proxy only, so limits see real clients; the connection's own address is
    # kept first (PeerAddress, outside), for the trusted-header check.
    proxies = sorted(LOOPBACK | get_settings().trusted_proxies)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    app.add_middleware(PeerAddress)
    app.add_middleware(SecurityHeaders)  # added last, so outermost: errors get the headers too
    app.mount("/static", StaticFiles(packages=[("deployments.web", "static")]), name="static")
    app.mount(PREFIX, app.state.api)
    app.include_router(portal.router)
    app.include_router(portal_payments.router)
    app.include_router(dashboard.router)
    app.include_router(auth.router)
    app.include_router(sso.router)
    app.include_router(workspace.router)
    app.include_router(work_relationship.router)
    app.add_api_route("/", lambda: RedirectResponse("/work", status_code=303), include_in_schema=False)
    app.add_api_route("/healthz", lambda: PlainTextResponse("ok"), include_in_schema=False)
    _register_errors(app)
    return app
