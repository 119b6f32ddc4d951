"""Staff sign-in: a one-time emailed link, or OpenID Connect; server-side sessions (docs/IDENTITY.md).

The browser keeps two random values: its CSRF cookie (which also binds an emailed link to the
browser that asked for it) and, once signed in, the session id. The database keeps only hashes.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from deployments.web.pages import language_of, page, strings
from deployments.web.security import CSRF_COOKIE, browser_id, client_key, csrf_for, csrf_valid, require
from models.core.db import session_scope
from models.core.principal import Method, Principal
from models.core.settings import get_settings
from models.identity.sessions import (
    LinkRefused,
    SignedIn,
    end_session,
    redeem_sign_in,
    sign_in_link,
    signed_in,
)
from models.tables import User

router = APIRouter()
SESSION_COOKIE = "tandem_session"


class NotSignedIn(Exception):
    """The request carries no live session (nor another accepted credential)."""


def safe_next(target: str | None) -> str:
    """Return a local path to go to after sign-in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/work"
    return target


def current(request: Request) -> SignedIn | None:
    """Return the request's live session, if any (cached on the request)."""
    if not hasattr(request.state, "signed_in"):
        with session_scope() as session:
            request.state.signed_in = signed_in(session, request.cookies.get(SESSION_COOKIE))
    return request.state.signed_in


def person(request: Request) -> Principal:
    """Return the signed-in person, or refuse with the sign-in page."""
    live = current(request)
    if live is None:
        raise NotSignedIn()
    return live.principal


Person = Annotated[Principal, Depends(person)]


def check_csrf(request: Request, token: str) -> None:
    """Refuse a form post whose CSRF token is not the session's."""
    live = current(request)
    require(
        live is not None and bool(token) and hmac.compare_digest(live.csrf, token), detail="bad CSRF token"
    )


def set_session_cookie(request: Request, response: Response, raw: str) -> None:
    """Give the browser its session id: HttpOnly; Lax so a link from an email arrives signed in."""
    settings = get_settings()
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=settings.session_max_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def _with_browser(request: Request, response: HTMLResponse, browser: str) -> HTMLResponse:
    if request.cookies.get(CSRF_COOKIE) != browser:
        response.set_cookie(
            CSRF_COOKIE, browser, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
    return response


def sign_in_page(
    request: Request, *, status: int = 200, refused: str = "", next_url: str | None = None
) -> HTMLResponse:
    """Render the sign-in form (email link, and SSO when configured)."""
    settings = get_settings()
    browser = browser_id(request)
    target = safe_next(next_url or request.query_params.get("next") or str(request.url.path))
    context = {
        "csrf": csrf_for(f"signin:{browser}"),
        "next": target,
        "refused": refused,
        "sso_label": settings.oidc_label if settings.oidc_issuer else "",
    }
    response = page(request, "signin.html.j2", context, lang=language_of(request), status=status)
    return _with_browser(request, response, browser)


@router.get("/signin", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str = "/work") -> HTMLResponse:  # noqa: A002 - the usual name
    """Show the sign-in form."""
    return sign_in_page(request, next_url=next)


@router.post("/signin", response_class=HTMLResponse)
def ask_for_link(
    request: Request,
    email: Annotated[str, Form(max_length=254)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/work",  # noqa: A002
) -> HTMLResponse:
    """Email a one-time sign-in link bound to this browser; the page says the same whoever asks."""
    from notifications.delivery import send_sign_in_link

    browser = request.cookies.get(CSRF_COOKIE, "")
    require(bool(browser) and csrf_valid(f"signin:{browser}", csrf), detail="missing or bad CSRF token")
    limiter, client = request.app.state.limiter, client_key(request)
    wanted = f"signin:{email.strip().lower()}"
    if limiter.blocked(client, wanted):
        raise HTTPException(status_code=429, detail="too many sign-in links asked")
    limiter.fail(client, wanted)  # every request counts: an inbox is not to be flooded
    settings = get_settings()
    with session_scope() as session:
        token = sign_in_link(session, email, browser_nonce=browser, next_url=safe_next(next))
    if token is not None:
        send_sign_in_link(
            email.strip().lower(),
            f"{settings.portal_base_url}/signin/link?token={quote(token)}",
            minutes=settings.sign_in_link_minutes,
        )
    context = {"email": email.strip(), "minutes": settings.sign_in_link_minutes}
    return page(request, "signin_sent.html.j2", context, lang=language_of(request))


@router.get("/signin/link", response_class=HTMLResponse)
def confirm_link(request: Request, token: str = "") -> HTMLResponse:
    """Show the sign-in confirmation (a GET changes nothing: mail scanners may open links)."""
    browser = browser_id(request)
    context = {"csrf": csrf_for(f"signin:{browser}"), "token": token}
    response = page(request, "signin_confirm.html.j2", context, lang=language_of(request))
    return _with_browser(request, response, browser)


@router.post("/signin/link")
def use_link(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Use the emailed link in the browser that asked for it: open a session and go on."""
    browser = request.cookies.get(CSRF_COOKIE, "")
    require(bool(browser) and csrf_valid(f"signin:{browser}", csrf), detail="missing or bad CSRF token")
    try:
        with session_scope() as session:
            _user, raw, next_url = redeem_sign_in(session, token, browser_nonce=browser)
    except LinkRefused:
        refused = strings()[language_of(request)]["auth"]["refused"]
        return sign_in_page(request, status=403, refused=refused)
    response = RedirectResponse(safe_next(next_url), status_code=303)
    set_session_cookie(request, response, raw)
    return response


@router.post("/signout")
def sign_out(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> RedirectResponse:
    """End this browser's session at once."""
    check_csrf(request, csrf)
    with session_scope() as session:
        end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def start_web_session(request: Request, user: User, *, method: Method, next_url: str) -> Response:
    """Open a session for a user proved by SSO, and go on."""
    from models.identity.sessions import start_session

    with session_scope() as session:
        raw = start_session(session, session.merge(user), method=method)
    response = RedirectResponse(safe_next(next_url), status_code=303)
    set_session_cookie(request, response, raw)
    return response
