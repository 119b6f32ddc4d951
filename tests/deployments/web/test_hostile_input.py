"""Hostile or careless input to the web: a clear page in the reader's words, never a 500, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from deployments.web import create_app
from deployments.web.pages import strings
from deployments.web.security import SECURITY_HEADERS, csrf_for
from models.core.settings import get_settings
from models.tables import ScorecardEntry
from tests.deployments.web.support import DASHBOARD_TOKEN, World, audit_count, status_of

HUGE = "99999999999999999999999"
PDF = b"%PDF-1.4\n% evidence\n"
EMPTY_FILE = {"file": ("empty.pdf", b"", "application/pdf")}
BEARER = {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}


def _csrf(world: World) -> str:
    return csrf_for(f"portal:{world.token.split('.')[0]}")


def _headers_ok(response: object) -> bool:
    return all(response.headers.get(k) == v for k, v in SECURITY_HEADERS.items())  # type: ignore[attr-defined]


def _uploads() -> list[Path]:
    folder = get_settings().home / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_huge_numbers_in_paths_and_queries_get_a_page_not_a_500(client: TestClient, world: World) -> None:
    answers = {
        client.post(f"/portal/{world.token}/items/{HUGE}/done", data={"csrf": _csrf(world)}): 404,
        client.post(f"/portal/{world.token}/items/-1/done", data={"csrf": _csrf(world)}): 404,
        client.get(f"/portal/{world.token}?done={HUGE}"): 400,
        client.get(f"/portal/{world.token}?saved={HUGE}"): 400,
        client.get(f"/dashboard/relationships/{HUGE}", headers=BEARER): 404,
        client.get(f"/dashboard/documents/{HUGE}", headers=BEARER): 404,
        client.get(f"/dashboard/relationships/{world.rel.id}?period=%00", headers=BEARER): 400,
        client.get(f"/dashboard/relationships/{world.rel.id}/packs/2026Q9/en.html", headers=BEARER): 404,
    }
    for response, status in answers.items():
        assert response.status_code == status, (response.url, response.status_code)
        assert _headers_ok(response) and "<h1>" in response.text


@pytest.mark.parametrize("value", ["²", "٣", "3.0", " 3", "03", "0", "6", HUGE, "-1"])
def test_a_score_is_exactly_one_to_five(
    client: TestClient, world: World, session: Session, value: str
) -> None:
    before = audit_count(session)
    data = {"csrf": _csrf(world), "score-5.1": "4", "score-5.3": value}
    response = client.post(f"/portal/{world.token}/scores?lang=en", data=data)
    assert response.status_code == 400 and _headers_ok(response)
    assert "Principle 5.3: a score from 1 to 5, or skip." in response.text
    assert session.exec(select(ScorecardEntry)).first() is None and audit_count(session) == before


@pytest.mark.parametrize(
    ("lang", "form", "files", "shown"),
    [
        ("en", {}, EMPTY_FILE, "File: a PDF, PNG or JPEG file that is not empty."),
        ("zh-CN", {}, EMPTY_FILE, "文件：请上传非空的 PDF、PNG 或 JPEG 文件。"),
        ("en", {"note": "  "}, None, "Give a note, a link or a file: at least one of them."),
        ("zh-CN", {}, None, "请至少填写说明、链接或文件中的一项。"),
        ("en", {"link": "http://example.cn/proof"}, None, "Link to evidence: a web address starting with https://"),
        ("zh-CN", {"link": "https://"}, None, "证据链接：请填写以 https:// 开头的网址。"),
        ("en", {"note": "x\x00y"}, None, "Note: at most 2,000 characters of text."),
    ],
    ids=["empty-file", "empty-file-zh", "blank-note", "nothing-zh", "http-link", "no-host-zh", "nul-note"],
)
def test_evidence_refusals_name_the_form_field_and_write_nothing(
    client: TestClient,
    world: World,
    session: Session,
    lang: str,
    form: dict[str, str],
    files: dict[str, tuple[str, bytes, str]] | None,
    shown: str,
) -> None:
    before = audit_count(session)
    url = f"/portal/{world.token}/items/{world.item.id}/done?lang={lang}"
    response = client.post(url, data={"csrf": _csrf(world), **form}, files=files)
    assert response.status_code == 400 and _headers_ok(response)
    assert shown in response.text and "--" not in response.text.split("<main", 1)[1]  # no CLI option
    assert status_of(session, world.item) == "open" and audit_count(session) == before and _uploads() == []


def test_too_long_a_note_is_named_by_its_label(client: TestClient, world: World) -> None:
    url = f"/portal/{world.token}/items/{world.item.id}/done?lang=en"
    response = client.post(url, data={"csrf": _csrf(world), "note": "x" * 2001})
    assert response.status_code == 400 and "Note: at most 2,000 characters of text." in response.text


def test_a_crash_gets_the_error_page_with_the_security_headers(schema: str) -> None:
    app: FastAPI = create_app()

    def boom() -> None:
        raise RuntimeError("an unexpected fault")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom?lang=zh-CN")
    assert response.status_code == 500 and _headers_ok(response)
    assert strings()["zh-CN"]["errors"]["500"] in response.text
    assert "unexpected fault" not in response.text
