"""The staff dashboard over HTTP: authentication, the portfolio, one relationship, documents, the outbox."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from deployments.cli import app as cli
from deployments.web import create_app
from deployments.web.security import SECURITY_HEADERS, FailureLimiter
from models.core.settings import get_settings
from models.identity.users import add_user, disable_user
from models.portal.links import current_period
from models.reviews.scorecards import Score, record_scores
from models.tables import Document, OutboxMessage, Relationship, Review, Risk
from tests.deployments.web.support import DASHBOARD_TOKEN, LIMIT, Clock, World, make_world
from tests.support import factories as f
from tests.support.servers import SmtpServer

BEARER = {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}
PAGES = ("/dashboard", "/dashboard/outbox", "/dashboard/relationships/1", "/dashboard/documents/1")


def _review(
    session: Session, rel: Relationship, health: int, trend: str = "flat", period: str = "2026Q2"
) -> None:
    session.add(
        Review(
            relationship_id=rel.id,  # type: ignore[arg-type]
            period=period,
            as_of=date(2026, 7, 6),
            status="ready",
            health=health,
            trend=trend,
            kpis={"payments": {"days_to_pay_avg": 70.0, "days_to_pay_worst": 95, "due_days": 60}},
        )
    )


@pytest.fixture
def portfolio_world(session: Session) -> dict[str, Relationship]:
    """Store three partners: healthy, poor, and one without a deputy (key-person flag), unreviewed."""
    healthy = f.relationship(session, partner_name="Alpha Tools", tier="light")
    poor = f.relationship(session, partner_name="Beta Parts", tier="enhanced")
    flagged = f.relationship(session, partner_name="Gamma Soft", tier="standard", with_deputy=False)
    flagged.key_person_flags = ["ours: no deputy manager"]
    session.add(flagged)
    _review(session, healthy, 88, "up")
    _review(session, poor, 35, "down")
    session.commit()
    return {"healthy": healthy, "poor": poor, "flagged": flagged}


def _names(body: str) -> list[str]:
    return re.findall(r'<a href="/dashboard/relationships/\d+">#\d+ ([^<]+)</a>', body)


@pytest.mark.parametrize("path", PAGES)
def test_every_dashboard_page_needs_authentication(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert 'action="/signin"' in response.text  # the sign-in form, usable without JavaScript
    assert all(response.headers[k] == v for k, v in SECURITY_HEADERS.items())


def test_wrong_bearer_gets_401_and_repeated_failures_429(client: TestClient, clock: Clock) -> None:
    wrong = {"Authorization": "Bearer not-the-token"}
    for _ in range(LIMIT):
        assert client.get("/dashboard", headers=wrong).status_code == 401
    assert client.get("/dashboard", headers=wrong).status_code == 429
    clock.now += 601
    assert client.get("/dashboard", headers=BEARER).status_code == 200


def test_bearer_token_opens_every_page(
    client: TestClient, world: World, session: Session, portfolio_world: dict[str, Relationship]
) -> None:
    session.add(
        Document(
            relationship_id=world.rel.id,  # type: ignore[arg-type]
            kind="review_pack",
            period="2026Q2",
            language="en",
            fmt="html",
            content="<!doctype html><style>h1{color:red}</style><h1>Pack</h1>",
        )
    )
    session.commit()
    for path in PAGES:
        assert client.get(path, headers=BEARER).status_code == 200, path


def test_trusted_header_from_a_proxy_on_this_host(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    header = {"X-Auth-User": "rm@ours.example"}
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        assert local.get("/dashboard", headers=header).status_code == 401  # not set up
        monkeypatch.setenv("TANDEM_DASHBOARD_TRUSTED_HEADER", "X-Auth-User")
        get_settings.cache_clear()
        page = local.get("/dashboard", headers=header)
        assert page.status_code == 200 and "proxy:rm@ours.example" in page.text
        assert local.get("/dashboard", headers={"X-Auth-User": " "}).status_code == 401
    with TestClient(app, client=("192.0.2.7", 40000)) as remote:  # no proxy configured: this host only
        assert remote.get("/dashboard", headers=header).status_code == 401


def test_trusted_header_only_from_the_configured_proxy(schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_DASHBOARD_TRUSTED_HEADER", "X-Auth-User")
    monkeypatch.setenv("TANDEM_DASHBOARD_TRUSTED_PROXY", "10.0.0.5")
    get_settings.cache_clear()
    app = create_app(limiter=FailureLimiter(limit=LIMIT))
    header = {"X-Auth-User": "rm@ours.example", "X-Forwarded-For": "203.0.113.9"}
    with TestClient(app, client=("10.0.0.5", 40000)) as proxy:
        assert proxy.get("/dashboard", headers=header).status_code == 200
        for _ in range(LIMIT):  # the proxy forwards one client's failures: that client is limited
            proxy.get("/portal/not-a-link", headers=header)
        assert proxy.get("/portal/not-a-link", headers=header).status_code == 429
        assert proxy.get("/portal/not-a-link", headers={"X-Forwarded-For": "203.0.113.10"}).status_code == 403
    for peer in ("127.0.0.1", "10.0.0.6"):  # anyone else sending the header is not believed
        with TestClient(app, client=(peer, 40000)) as other:
            assert other.get("/dashboard", headers=header).status_code == 401


def test_unconfigured_dashboard_refuses_everyone(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TANDEM_DASHBOARD_TOKEN")
    get_settings.cache_clear()
    response = client.get("/dashboard", headers=BEARER)
    assert response.status_code == 401 and "/signin" in response.text


def _csrf(body: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', body)
    assert match is not None
    return match.group(1)


def _emailed_link(smtp: SmtpServer) -> str:
    body = smtp.messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(r"/signin/link\?token=(\S+)", body)
    assert match is not None
    return match.group(1)


def sign_in(client: TestClient, smtp: SmtpServer, email: str) -> str:
    """Sign in by the emailed link, as a person does; return the session's CSRF token."""
    sent = client.post(
        "/signin", data={"email": email, "csrf": _csrf(client.get("/signin").text), "next": "/dashboard"}
    )
    assert sent.status_code == 200 and email in sent.text
    token = _emailed_link(smtp)
    confirm = client.get(f"/signin/link?token={token}")
    done = client.post("/signin/link", data={"token": token, "csrf": _csrf(confirm.text)})
    assert done.status_code == 303 and done.headers["location"] == "/dashboard", done.text
    cookie = done.headers["set-cookie"]
    assert "tandem_session=" in cookie and "HttpOnly" in cookie and token not in cookie
    return _csrf(client.get("/dashboard").text)


def test_emailed_sign_in_link_opens_a_session_that_sign_out_ends(
    client: TestClient, session: Session, smtp_settings: object, smtp_server: SmtpServer
) -> None:
    """The link works once, in its own browser; the session ends at sign-out and at disable."""
    add_user(session, email="Au@ours.example", name="Ada", role="auditor")
    session.commit()
    csrf = sign_in(client, smtp_server, "au@ours.example")
    assert client.get("/dashboard").status_code == 200
    token = _emailed_link(smtp_server)
    assert client.post("/signin/link", data={"token": token, "csrf": "x"}).status_code == 403  # no CSRF
    assert client.post("/signout", data={}).status_code == 403  # no CSRF
    assert client.post("/signout", data={"csrf": csrf}).status_code == 303
    assert client.get("/dashboard").status_code == 401  # the session ended on the server
    # Reused, then opened in another browser: refused.
    again = client.post("/signin/link", data={"token": token, "csrf": _csrf(client.get("/signin").text)})
    assert again.status_code == 403
    client.post("/signin", data={"email": "au@ours.example", "csrf": _csrf(client.get("/signin").text)})
    token = _emailed_link(smtp_server)
    other = TestClient(client.app, follow_redirects=False)  # another browser: its own cookies
    confirm = other.get(f"/signin/link?token={token}")
    assert other.post("/signin/link", data={"token": token, "csrf": _csrf(confirm.text)}).status_code == 403
    sign_in(client, smtp_server, "au@ours.example")
    disable_user(session, "au@ours.example")
    session.commit()
    assert client.get("/dashboard").status_code == 401  # disabled: every session ends at once
    sent = client.post(
        "/signin", data={"email": "nobody@ours.example", "csrf": _csrf(client.get("/signin").text)}
    )
    assert sent.status_code == 200 and len(smtp_server.messages) == 3  # the same page, and no email


def test_portfolio_sorts_and_filters_by_query(
    client: TestClient, portfolio_world: dict[str, Relationship]
) -> None:
    def names(query: str) -> list[str]:
        return _names(client.get(f"/dashboard?{query}", headers=BEARER).text)

    assert names("sort=health&order=asc") == ["Beta Parts", "Alpha Tools", "Gamma Soft"]  # unknown last
    assert names("sort=health&order=desc") == ["Alpha Tools", "Beta Parts", "Gamma Soft"]
    assert names("sort=tier&order=desc") == ["Beta Parts", "Gamma Soft", "Alpha Tools"]
    assert names("sort=partner") == ["Alpha Tools", "Beta Parts", "Gamma Soft"]
    assert names("tier=enhanced") == ["Beta Parts"]
    assert names("q=gam") == ["Gamma Soft"]
    assert names("flagged=true") == ["Gamma Soft"]
    assert names("sort=nonsense") == names("sort=health")


def test_portfolio_charts_use_the_report_data(
    client: TestClient, portfolio_world: dict[str, Relationship]
) -> None:
    result = CliRunner().invoke(cli, ["report", "portfolio", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    body = client.get("/dashboard?lang=en", headers=BEARER).text
    for bin_ in report["health_distribution"]:
        assert f"<title>{bin_['label']}: {bin_['value']}</title>" in body
    for month in report["payment_timeliness"]:
        assert f"<title>{month['month'][2:]}: " in body
    for row in report["relationships"]:
        assert f">#{row['id']} {row['partner']}</a>" in body
    assert f"{report['count']} of {report['count']} relationships" in body


def test_relationship_page_shows_timeline_checklists_risks_scorecards_and_packs(
    client: TestClient, world: World, session: Session
) -> None:
    period = current_period().name
    record_scores(session, world.rel, period=period, side="ours", scores=[Score("5.1", 4)], actor="rm")
    record_scores(session, world.rel, period=period, side="partner", scores=[Score("5.1", 2)], actor="p")
    session.add(
        Risk(
            relationship_id=world.rel.id,  # type: ignore[arg-type]
            key="late-payment",
            created_by_side="ours",
            title={"en": "We pay late", "zh-CN": "我方付款延迟"},
            likelihood=3,
            impact=4,
            score=12,
            owner_role="manager",
        )
    )
    pack = Document(
        relationship_id=world.rel.id,  # type: ignore[arg-type]
        kind="review_pack",
        period="2026Q2",
        language="en",
        fmt="html",
        content="<!doctype html><style>h1{color:red}</style><h1>Review pack</h1>",
    )
    session.add(pack)
    session.commit()
    body = client.get(f"/dashboard/relationships/{world.rel.id}?lang=en", headers=BEARER).text
    assert "portal.link.issued" in body and "scorecard.recorded" in body  # timeline from the audit trail
    assert "Tell us your backup person" in body and "Our internal step" in body  # checklists, both sides
    assert "We pay late" in body and ">12<" in body
    assert re.search(
        r"5\.1 Relationship management</th><td class=\"num\">4</td><td class=\"num\">2</td>", body
    )
    assert f'href="/dashboard/documents/{pack.id}"' in body
    doc = client.get(f"/dashboard/documents/{pack.id}", headers=BEARER)
    assert doc.status_code == 200 and "<h1>Review pack</h1>" in doc.text
    csp = doc.headers["content-security-policy"]
    assert "sandbox" in csp and "script" not in csp and doc.headers["x-frame-options"] == "DENY"


def test_relationship_and_document_not_found(client: TestClient, schema: str) -> None:
    assert client.get("/dashboard/relationships/999", headers=BEARER).status_code == 404
    assert client.get("/dashboard/documents/999", headers=BEARER).status_code == 404


def test_markdown_pack_is_served_as_text(client: TestClient, world: World, session: Session) -> None:
    doc = Document(
        relationship_id=world.rel.id,  # type: ignore[arg-type]
        kind="review_pack",
        period="2026Q2",
        language="zh-CN",
        fmt="md",
        content="# 评审包 <b>",
    )
    session.add(doc)
    session.commit()
    response = client.get(f"/dashboard/documents/{doc.id}", headers=BEARER)
    assert response.headers["content-type"].startswith("text/markdown") and response.text == "# 评审包 <b>"


def test_outbox_lists_messages_and_filters_by_status(
    client: TestClient, world: World, session: Session
) -> None:
    for n, status in enumerate(("sent", "dead")):
        session.add(
            OutboxMessage(
                key=f"k{n}",
                kind="welcome",
                recipient_id=world.contact.id,
                relationship_id=world.rel.id,
                language="en",
                subject=f"Subject <{status}>",
                body_text="x",
                body_html="x",
                status=status,
            )
        )
    session.commit()
    body = client.get("/dashboard/outbox", headers=BEARER).text
    assert "Subject &lt;sent&gt;" in body and "Subject &lt;dead&gt;" in body and world.contact.email in body
    dead = client.get("/dashboard/outbox?status=dead", headers=BEARER).text
    assert "Subject &lt;dead&gt;" in dead and "Subject &lt;sent&gt;" not in dead


def test_dashboard_escapes_partner_names_in_both_languages(client: TestClient, session: Session) -> None:
    world = make_world(session, partner_name="<script>alert(1)</script>")
    for lang in ("en", "zh-CN"):
        for path in ("/dashboard", f"/dashboard/relationships/{world.rel.id}"):
            body = client.get(f"{path}?lang={lang}", headers=BEARER).text
            assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_page_renders_in_both_languages(client: TestClient, world: World, lang: str) -> None:
    for path in ("/dashboard", "/dashboard/outbox", f"/dashboard/relationships/{world.rel.id}"):
        response = client.get(f"{path}?lang={lang}", headers=BEARER)
        assert response.status_code == 200 and f'<html lang="{lang}">' in response.text
    assert f'<html lang="{lang}">' in client.get(f"/signin?lang={lang}").text
    error = client.get(f"/portal/forged?lang={lang}")
    assert error.status_code == 403 and f'<html lang="{lang}">' in error.text


def test_review_packs_are_rendered_from_the_stored_review(client: TestClient, session: Session) -> None:
    from models.reviews.sweep import resolve_scope, review_batch
    from tests.models.reviews.review_data import active_relationship, invoice

    rel = active_relationship(session)
    invoice(session, rel, "late", delivered=date(2026, 8, 1), paid=date(2026, 11, 2))
    review_batch(session, [rel.id], resolve_scope("2026Q4", date(2027, 1, 5)))  # type: ignore[list-item]
    session.commit()
    body = client.get(f"/dashboard/relationships/{rel.id}?lang=en", headers=BEARER).text
    base = f"/dashboard/relationships/{rel.id}/packs/2026Q4"
    assert all(f'href="{base}/{name}"' in body for name in ("en.html", "en.md", "zh-CN.html", "zh-CN.md"))
    html = client.get(f"{base}/zh-CN.html", headers=BEARER)
    assert (
        html.status_code == 200
        and "<svg" in html.text
        and "评审资料" in html.text
        and "<script" not in html.text
    )
    assert "sandbox" in html.headers["content-security-policy"]
    md = client.get(f"{base}/en.md", headers=BEARER)
    assert md.headers["content-type"].startswith("text/markdown") and md.text.startswith("# Review pack")
    for missing in (
        f"{base}/fr.html",
        f"{base}/en.pdf",
        f"/dashboard/relationships/{rel.id}/packs/2025Q1/en.md",
    ):
        assert client.get(missing, headers=BEARER).status_code == 404, missing
    assert client.get(f"{base}/en.md").status_code == 401
