"""OpenID Connect sign-in against a real provider process (oidc-provider-mock): code flow with PKCE."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from deployments.web.sso import _discovery
from models.core.settings import get_settings
from models.identity.users import add_user
from models.tables import AuditEvent, User
from tests.support.servers import free_port

USERS = [
    {"sub": "vp", "email": "VP@ours.example", "email_verified": True, "tandem_role": "sponsor"},
    {"sub": "ghost", "email": "ghost@ours.example", "email_verified": True},
    {"sub": "unverified", "email": "rm@ours.example", "email_verified": False},
]


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """Run the provider once for the module; return its issuer URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("oidc-provider-mock")
    args = [str(exe), "--port", str(port)]
    for user in USERS:
        args += ["--user-claims", json.dumps(user)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    issuer = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # it answers about 3 s after start
            try:
                if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def sso(provider: str, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """Configure Tandem's OIDC settings for the provider."""
    monkeypatch.setenv("TANDEM_OIDC_ISSUER", provider)
    monkeypatch.setenv("TANDEM_OIDC_CLIENT_ID", "tandem")
    monkeypatch.setenv("TANDEM_OIDC_CLIENT_SECRET", "a-client-secret-for-tests")
    monkeypatch.setenv("TANDEM_OIDC_ROLE_CLAIM", "tandem_role")
    monkeypatch.setenv("TANDEM_PORTAL_BASE_URL", "http://testserver")
    get_settings.cache_clear()
    _discovery.cache_clear()
    return client


def _sign_in_as(client: TestClient, sub: str) -> tuple[int, str]:
    """Go through the provider as `sub`; return our callback's status and where it sends the browser."""
    start = client.get("/signin/sso?next=/dashboard")
    assert start.status_code == 303
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    answer = requests.post(authorize, data={"sub": sub}, allow_redirects=False, timeout=10)
    back = urlsplit(answer.headers["location"])
    assert back.path == "/signin/sso/callback"
    done = client.get(f"{back.path}?{back.query}")
    return done.status_code, done.headers.get("location", "")


def test_sso_signs_in_a_known_verified_user_and_applies_the_role_claim(
    sso: TestClient, session: Session
) -> None:
    """The sponsor signs in; the claim makes them sponsor; unknown and unverified emails are refused."""
    add_user(session, email="vp@ours.example", name="Vic", role="auditor")
    add_user(session, email="rm@ours.example", name="Rita", role="manager")
    session.commit()
    assert _sign_in_as(sso, "vp") == (303, "/dashboard")
    assert sso.get("/dashboard").status_code == 200
    session.expire_all()
    assert session.exec(select(User).where(User.email == "vp@ours.example")).one().roles == "sponsor"
    signed = session.exec(select(AuditEvent).where(AuditEvent.action == "user.signed_in")).one()
    assert (signed.actor, signed.method) == ("vp@ours.example", "sso")

    sso.cookies.clear()
    assert _sign_in_as(sso, "ghost")[0] == 403  # verified, but no Tandem user
    assert _sign_in_as(sso, "unverified")[0] == 403  # a user, but the provider did not verify the email
    assert sso.get("/dashboard").status_code == 401
    refused = session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")).all()
    assert [e.actor for e in refused] == ["ghost@ours.example"]


def test_sso_refuses_a_replayed_state_or_another_browser(sso: TestClient, session: Session) -> None:
    """A callback is used once, and only by the browser that started it."""
    add_user(session, email="vp@ours.example", name="Vic", role="sponsor")
    session.commit()
    start = sso.get("/signin/sso")
    answer = requests.post(start.headers["location"], data={"sub": "vp"}, allow_redirects=False, timeout=10)
    back = urlsplit(answer.headers["location"])
    other = TestClient(sso.app, follow_redirects=False)
    assert other.get(f"{back.path}?{back.query}").status_code == 403  # no binding cookie
    assert sso.get(f"{back.path}?{back.query}").status_code == 303
    assert sso.get(f"{back.path}?{back.query}").status_code == 403  # replayed
