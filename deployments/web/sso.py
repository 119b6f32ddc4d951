"""OpenID Connect sign-in (authorization code + PKCE) with Authlib; ID tokens checked with joserfc.

The state is a single-use link row bound to the browser; the PKCE verifier and the nonce are derived
from the state with the installation's secret key, so nothing secret is stored or put in a cookie.
People are matched by a verified email to a Tandem user; the roles claim, when configured, sets
their roles. Client secrets and tokens are never logged.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from functools import lru_cache
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlmodel import Session, select

from deployments.web.auth import safe_next, sign_in_page, start_web_session
from deployments.web.pages import language_of, strings
from models.core.audit import record
from models.core.db import session_scope
from models.core.principal import Principal
from models.core.settings import get_settings
from models.identity.roles import roles
from models.identity.sessions import LinkRefused, find_link, issue_link, use_link
from models.identity.users import normalize_email, set_role, split_tags
from models.portal.links import sign_scope
from models.tables import User

router = APIRouter()
log = logging.getLogger(__name__)
STATE = "oidc-state"
BROWSER_COOKIE = "tandem_sso"
HTTP_TIMEOUT = 10


class SsoRefused(Exception):
    """The identity provider's answer does not sign anyone in (the reason is logged, never shown)."""


@lru_cache(maxsize=4)
def _discovery(issuer: str) -> dict[str, Any]:
    response = requests.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    return response.json()


def _client(request: Request) -> OAuth2Session:
    settings = get_settings()
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    return OAuth2Session(
        client_id=settings.oidc_client_id,
        client_secret=secret,
        scope="openid email profile",
        redirect_uri=f"{settings.portal_base_url}/signin/sso/callback",
        code_challenge_method="S256",
    )


def _provider() -> tuple[str, str]:
    """Return the configured issuer and client id (single sign-on is off without both)."""
    settings = get_settings()
    if not settings.oidc_issuer or not settings.oidc_client_id:
        raise SsoRefused("single sign-on is not configured")
    return settings.oidc_issuer, settings.oidc_client_id


def _derived(state: str, purpose: str) -> str:
    """Return a value only this installation can compute from the state (PKCE verifier, nonce)."""
    return sign_scope(f"oidc-{purpose}:{state}")


@router.get("/signin/sso")
def start(request: Request, next: str = "/work") -> Response:  # noqa: A002 - the usual name
    """Send the browser to the identity provider, with PKCE and a state bound to this browser."""
    settings = get_settings()
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return sign_in_page(request, status=404)
    browser = secrets.token_urlsafe(24)
    with session_scope() as session:
        state = issue_link(
            session,
            purpose=STATE,
            email="",
            lifetime=timedelta(minutes=10),
            browser_nonce=browser,
            next_url=safe_next(next),
        )
    client = _client(request)
    url, _ = client.create_authorization_url(
        _discovery(settings.oidc_issuer)["authorization_endpoint"],
        state=state,
        code_verifier=_derived(state, "verifier"),
        nonce=_derived(state, "nonce"),
    )
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider sends the browser back with a cross-site redirect.
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/signin/sso",
    )
    return response


def _claims(id_token: str, state: str) -> dict[str, Any]:
    issuer, client_id = _provider()
    meta = _discovery(issuer)
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=HTTP_TIMEOUT).json())
    token = jwt.decode(id_token, keys)
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta["issuer"]},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        nonce={"essential": True, "value": _derived(state, "nonce")},
    )
    registry.validate(claims)
    return claims


def _user_for(claims: dict[str, Any]) -> User:
    email = normalize_email(str(claims.get("email") or ""))
    if not email or claims.get("email_verified") is not True:
        raise SsoRefused("no verified email")
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is not None and not user.disabled:
            _apply_role_claim(session, user, claims)
            session.expunge(user)
            return user
    with session_scope() as session:
        record(
            session,
            actor=Principal(email, "sso"),
            action="access.refused",
            entity="user",
            entity_id=None,
            data={"wanted": "sign-in", "why": "unknown or disabled user"},
        )
    raise SsoRefused("unknown or disabled user")


def _apply_role_claim(session: Session, user: User, claims: dict[str, Any]) -> None:
    """Set the user's roles from the configured claim, when it names known roles."""
    name = get_settings().oidc_role_claim
    claim = claims.get(name) if name else None
    if not claim:
        return
    wanted = [r for r in split_tags(claim if isinstance(claim, list) else str(claim)) if r in roles()]
    if wanted and wanted != split_tags(user.roles):
        set_role(session, user.email, role=wanted)


@router.get("/signin/sso/callback")
def callback(request: Request, state: str = "", code: str = "") -> Response:
    """Take the provider's answer: check state, browser, code (with the PKCE verifier), ID token, user."""
    refused = strings()[language_of(request)]["auth"]["sso_refused"]
    browser = request.cookies.get(BROWSER_COOKIE, "")
    try:
        with session_scope() as session:
            link = find_link(session, state, purpose=STATE)
            if not browser or link.browser_hash is None or link.browser_hash != _digest(browser):
                raise LinkRefused("another browser")
            use_link(session, link)
            next_url = link.next_url or "/work"
        token = _client(request).fetch_token(
            _discovery(_provider()[0])["token_endpoint"],
            code=code,
            code_verifier=_derived(state, "verifier"),
            timeout=HTTP_TIMEOUT,
        )
        user = _user_for(_claims(str(token.get("id_token", "")), state))
    except (LinkRefused, SsoRefused, JoseError, ValueError, requests.RequestException, KeyError) as exc:
        # The kind and message only: never a token, a code or the client secret.
        log.warning("single sign-on refused: %s: %s", type(exc).__name__, str(exc)[:200])
        return sign_in_page(request, status=403, refused=refused)
    return start_web_session(request, user, method="sso", next_url=next_url)


def _digest(raw: str) -> str:
    from models.identity.users import digest

    return digest(raw)
