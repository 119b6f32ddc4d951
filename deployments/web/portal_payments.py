"""Partner portal pages about payments: invoice clocks, statements to confirm, requests, the declaration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from deployments.web.pages import language_of, page
from deployments.web.portal import TEXT_MAX, _csrf_scope, open_link
from deployments.web.security import csrf_for, csrf_valid, require
from models.core.db import session_scope
from models.payments.statements import statement_public
from models.portal.payments import (
    answer_from_portal,
    declare_from_portal,
    partner_statement,
    payments_view,
    request_from_portal,
)

router = APIRouter(prefix="/portal")
RowId = Annotated[int, Path(ge=1, le=2**62)]  # bounded: a 30-digit id is a 404, never a 500
MAX_LINES = 500  # form fields of one statement: 4 per line


@router.get("/{token}/payments", response_class=HTMLResponse)
def payments_page(request: Request, token: str) -> HTMLResponse:
    """Show each invoice's clock and status, the statements, the partner's requests and its declaration."""
    with session_scope() as session:
        access = open_link(request, session, token)
        lang = language_of(request, access.contact.language)
        view = payments_view(session, access)
        csrf = csrf_for(_csrf_scope(access))
    notices = {k: request.query_params.get(k) for k in ("requested", "answered", "declared")}
    return page(
        request,
        "portal_payments.html.j2",
        {**view, "token": token, "csrf": csrf, "notices": notices},
        lang=lang,
    )


@router.post("/{token}/payments/{payment_id}/request")
def ask(
    request: Request,
    token: str,
    payment_id: RowId,
    kind: Annotated[str, Form(max_length=20)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=TEXT_MAX)] = "",
) -> RedirectResponse:
    """Record the partner's request for payment or for confirmation of the receivable (protected)."""
    with session_scope() as session:
        access = open_link(request, session, token)
        require(csrf_valid(_csrf_scope(access), csrf), detail="missing or bad CSRF token")
        row, _ = request_from_portal(session, access, payment_id, kind=kind, note=note.strip() or None)
        respond_by = row.respond_by.isoformat()
    return RedirectResponse(f"/portal/{token}/payments?requested={respond_by}#invoices", status_code=303)


@router.get("/{token}/statements/{statement_id}", response_class=HTMLResponse)
def statement_form(request: Request, token: str, statement_id: RowId) -> HTMLResponse:
    """Show a statement line by line, to confirm or dispute each invoice."""
    with session_scope() as session:
        access = open_link(request, session, token)
        lang = language_of(request, access.contact.language)
        statement = statement_public(session, partner_statement(session, access, statement_id))
        csrf = csrf_for(_csrf_scope(access))
    return page(
        request, "portal_statement.html.j2", {"token": token, "s": statement, "csrf": csrf}, lang=lang
    )


def _answers(form: dict[str, str], line_ids: list[int]) -> list[dict[str, Any]]:
    """Read the answered lines from the form (answer-N, claimed-N, reason-N, einvoice-N); a line left
    unanswered is named by the domain's check."""
    return [
        {
            "line_id": line,
            "answer": form.get(f"answer-{line}", ""),
            "claimed": form.get(f"claimed-{line}", ""),
            "reason": form.get(f"reason-{line}", ""),
            "e_invoice_no": form.get(f"einvoice-{line}", ""),
        }
        for line in line_ids
        if form.get(f"answer-{line}")
    ]


def _save_answers(request: Request, token: str, statement_id: int, form: dict[str, str]) -> None:
    with session_scope() as session:
        access = open_link(request, session, token)
        require(csrf_valid(_csrf_scope(access), form.get("csrf")), detail="missing or bad CSRF token")
        statement = statement_public(session, partner_statement(session, access, statement_id))
        lines = [line["id"] for line in statement["lines"]]
        answer_from_portal(session, access, statement_id, _answers(form, lines))


@router.post("/{token}/statements/{statement_id}")
async def statement_submit(request: Request, token: str, statement_id: RowId) -> RedirectResponse:
    """Record the partner's answers to every line of a statement at once."""
    async with request.form(max_files=0, max_fields=4 * MAX_LINES + 10) as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    await run_in_threadpool(_save_answers, request, token, statement_id, fields)
    return RedirectResponse(f"/portal/{token}/payments?answered={statement_id}#statements", status_code=303)


@router.post("/{token}/declaration")
def declare(
    request: Request,
    token: str,
    size_class: Annotated[str, Form(max_length=10)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> RedirectResponse:
    """Record the partner's declaration of its size at signing (once)."""
    with session_scope() as session:
        access = open_link(request, session, token)
        require(csrf_valid(_csrf_scope(access), csrf), detail="missing or bad CSRF token")
        declare_from_portal(session, access, size_class=size_class)
    return RedirectResponse(f"/portal/{token}/payments?declared=1#declaration", status_code=303)
