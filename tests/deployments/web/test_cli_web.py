"""`tandem portal link/revoke` and `tandem web`, driven as a user would, checked over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from deployments.cli import app as cli
from models.core.base import utcnow
from models.core.settings import get_settings
from models.portal.links import portal_url_for, verify_link
from models.tables import AuditEvent, Contact, PortalLink
from tests.deployments.web.support import World
from tests.support.servers import free_port

runner = CliRunner()


def tandem(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.output


def test_link_prints_a_working_url_and_revoke_stops_it(
    client: TestClient, world: World, session: Session
) -> None:
    code, out = tandem("portal", "link", world.rel.key, "--contact", world.contact.email.upper())
    assert code == 0, out
    url = out.splitlines()[0]
    assert url.startswith("http://127.0.0.1:8000/portal/")
    path = url.removeprefix("http://127.0.0.1:8000")
    assert client.get(path).status_code == 200
    code, out = tandem("portal", "revoke", url)
    assert code == 0 and "revoked" in out
    assert client.get(path).status_code == 403
    assert tandem("portal", "revoke", url)[0] == 0  # a repeat is harmless
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.link.revoked")).all()
    assert len(events) == 1 and events[0].actor.startswith("cli:")


def test_revoke_by_token_id_or_number(world: World, session: Session) -> None:
    link = session.exec(select(PortalLink)).one()
    assert tandem("portal", "revoke", link.token_id)[0] == 0
    second = portal_url_for(session, world.contact, world.rel)
    session.commit()
    row = session.exec(select(PortalLink).where(PortalLink.id != link.id)).one()
    assert f"/portal/{row.token_id}." in second  # the revoked link is not reused
    assert tandem("portal", "revoke", str(row.id))[0] == 0


def test_link_refusals(world: World, session: Session) -> None:
    code, out = tandem("portal", "link", world.rel.key, "--contact", "nobody@example.org")
    assert code == 1 and "not a known contact" in out
    manager = session.get(Contact, world.rel.manager_id)
    assert manager is not None
    code, out = tandem("portal", "link", world.rel.key, "--contact", manager.email)
    assert code == 1 and "is not a contact of this" in out
    assert tandem("portal", "link", "no-such-rel", "--contact", world.contact.email)[0] == 1
    assert tandem("portal", "revoke", "no-such-link")[0] == 1


def test_portal_url_for_reuses_a_link_valid_long_enough(world: World, session: Session) -> None:
    first = portal_url_for(session, world.contact, world.rel)
    assert portal_url_for(session, world.contact, world.rel) == first  # same link in every message
    verify_link(session, first.rsplit("/", 1)[1])
    for link in session.exec(select(PortalLink)):
        link.expires_at = utcnow() + timedelta(days=3)  # too close to expiry to send again
        session.add(link)
    session.flush()
    fresh = portal_url_for(session, world.contact, world.rel)
    assert fresh != first and verify_link(session, fresh.rsplit("/", 1)[1]).contact.id == world.contact.id


def test_web_serves_the_app_with_uvicorn(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: seen.update(app=app, **kw))
    code, out = tandem("web", "--host", "0.0.0.0", "--port", "8123")
    assert code == 0, out
    assert seen["host"] == "0.0.0.0" and seen["port"] == 8123 and seen["app"].title == "Tandem"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Catch what `tandem web` would hand to uvicorn."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: seen.update(app=app, **kw))
    return seen


def test_web_refuses_a_trusted_header_on_an_open_address_without_a_proxy(
    schema: str, served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEM_DASHBOARD_TRUSTED_HEADER", "X-Auth-User")
    get_settings.cache_clear()
    code, out = tandem("web", "--host", "0.0.0.0")
    assert code == 1 and "TANDEM_DASHBOARD_TRUSTED_PROXY" in out and "Traceback" not in out and not served
    assert tandem("web", "--host", "127.0.0.1")[0] == 0  # only this host can reach it
    monkeypatch.setenv("TANDEM_DASHBOARD_TRUSTED_PROXY", "10.0.0.5")
    get_settings.cache_clear()
    assert tandem("web", "--host", "0.0.0.0")[0] == 0 and served["host"] == "0.0.0.0"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TANDEM_DASHBOARD_TOKEN", "x", "too weak"),
        ("TANDEM_DASHBOARD_TOKEN", "a" * 200, "too weak"),
        ("TANDEM_DASHBOARD_TOKEN", "dash-token-for-tests-0123456789", "too weak"),
        ("TANDEM_DASHBOARD_TRUSTED_PROXY", "proxy.internal", "not an IP address"),
    ],
)
def test_web_refuses_weak_or_malformed_settings_clearly(
    schema: str, served: dict[str, Any], monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    code, out = tandem("web")
    assert code == 1 and says in out and name.removeprefix("TANDEM_").lower() in out, out
    assert "Traceback" not in out and not served
    if name.endswith("TOKEN") and len(value) > 1:
        assert value not in out  # a secret, even a weak one, is never printed


def test_the_log_of_a_real_tandem_web_run_holds_no_portal_token(world: World) -> None:
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "tandem"), "web", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),  # this test's TANDEM_HOME (its key) and database
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{base}/portal/{world.token}?lang=en").status_code == 200
        assert httpx.post(f"{base}/portal/{world.token}/items/{world.item.id}/done").status_code == 403
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0].decode()
    token_id, signature = world.token.split(".")[0], world.token.rsplit(".", 1)[1]
    assert f'"GET /portal/{token_id}...?lang=en HTTP/1.1" 200' in log, log
    assert f"POST /portal/{token_id}.../items/{world.item.id}/done" in log
    assert signature not in log and world.token not in log
