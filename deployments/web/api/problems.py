"""RFC 9457 problem details for every answer of the API that is not a success.

Every refusal under /api is `application/problem+json`: `type`, `title`, `status`, `detail`,
`instance`, and for input problems an `errors` list naming each one by row index and field (with a
JSON Pointer into the request body), so an integration can show its user every problem at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.core.errors import Conflict, InputRejected, NotFound, Problem, TransitionRefused

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:tandem:problem:"
_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Scope missing",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Input rejected",
    429: "Too many requests",
    500: "Internal error",
}
_ROW_FIELD = re.compile(r"(?:row|line) (?P<row>\d+)(?:, column (?P<field>\w+))?")
log = logging.getLogger("tandem.api")


class FieldProblem(BaseModel):
    """One thing wrong with the input: the row (batch index from 0) and field, where known."""

    row: int | None = Field(default=None, description="Index of the row in `rows`, from 0.")
    field: str | None = Field(default=None, description="The field (column) at fault.")
    pointer: str | None = Field(default=None, description="JSON Pointer into the request body.")
    detail: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem."""

    type: str = Field(description="A URI naming the kind of problem (urn:tandem:problem:...).")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)


class ApiProblem(Exception):
    """A refusal the API answers as a problem (raised by handlers and dependencies)."""

    def __init__(
        self, status: int, detail: str, *, kind: str | None = None, errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(detail)
        self.status, self.detail, self.kind = status, detail, kind
        self.errors, self.headers = errors or [], headers or {}


def problem_response(
    status: int, detail: str | None, *, instance: str | None = None, kind: str | None = None,
    errors: list[FieldProblem] | None = None, headers: Mapping[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    """Return a problem+json response."""
    body = ProblemDetails(
        type=TYPE_BASE + kind if kind else "about:blank",
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=instance,
        errors=errors or [],
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def field_problem(problem: Problem) -> FieldProblem:
    """Name a domain problem (`row 3, column amount`) by its row and field."""
    match = _ROW_FIELD.fullmatch(problem.where)
    if match is None:
        return FieldProblem(field=problem.where or None, detail=problem.message)
    row, name = int(match["row"]), match["field"]
    pointer = f"/rows/{row}" + (f"/{name}" if name else "")
    return FieldProblem(row=row, field=name, pointer=pointer, detail=problem.message)


def _validation_errors(exc: RequestValidationError) -> list[FieldProblem]:
    found = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        where, rest = (loc[0], loc[1:]) if loc else ("body", [])
        row = (
            int(rest[1])
            if where == "body" and len(rest) > 1 and rest[0] == "rows" and rest[1].isdigit()
            else None
        )
        name = rest[-1] if rest and not rest[-1].isdigit() else (where if where != "body" else None)
        pointer = "/" + "/".join(rest) if where == "body" else None
        found.append(FieldProblem(row=row, field=name, pointer=pointer, detail=str(error.get("msg", ""))))
    return found


def register_problem_handlers(app: FastAPI) -> None:
    """Answer every error of the API as a problem."""

    async def api_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        return problem_response(
            exc.status,
            exc.detail,
            instance=request.url.path,
            kind=exc.kind,
            errors=exc.errors,
            headers=exc.headers,
        )

    async def rejected(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputRejected)
        errors = [field_problem(p) for p in exc.problems]
        return problem_response(
            422, exc.summary, instance=request.url.path, kind="input-rejected", errors=errors
        )

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        return problem_response(422, "request does not match the schema", instance=request.url.path,
                                kind="invalid-request", errors=errors)  # fmt: skip

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(404, str(exc), instance=request.url.path, kind="not-found")

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        # A refused transition says every reason, as the CLI and the workspace do.
        reasons = exc.reasons if isinstance(exc, TransitionRefused) else []
        errors = [FieldProblem(detail=reason) for reason in reasons]
        return problem_response(409, str(exc), instance=request.url.path, kind="conflict", errors=errors)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(
            exc.status_code, str(exc.detail), instance=request.url.path, headers=exc.headers
        )

    app.add_exception_handler(ApiProblem, api_problem)
    app.add_exception_handler(InputRejected, rejected)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(TransitionRefused, conflict)
    app.add_exception_handler(StarletteHTTPException, http_error)


class _TooLarge(Exception):
    """The body grew past the limit while it streamed in."""


class ApiGuard:
    """ASGI middleware: bound the request body; answer a crash as a 500 problem (logged, no trace out)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("root_path", "") + scope.get("path", "")
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _send(
                send, problem_response(413, f"the body is over {self.max_bytes:,} bytes", instance=path)
            )
            return
        seen, started = 0, False

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge()
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, tracking)
        except Exception as exc:  # the API's outer boundary: answer, never leak a traceback
            if started:
                raise
            if isinstance(exc, _TooLarge):
                response = problem_response(413, f"the body is over {self.max_bytes:,} bytes", instance=path)
            else:
                log.exception("API request failed: %s %s", scope.get("method"), path)
                response = problem_response(500, "the request failed; it is logged", instance=path)
            await _send(send, response)


async def _send(send: Send, response: JSONResponse) -> None:
    async def no_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    await response({"type": "http"}, no_body, send)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document problem answers in the OpenAPI schema."""
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    return {status: {"description": _TITLES[status], "content": content} for status in statuses}
