"""A fuzz of every web route (Hypothesis over the app's own routes): hostile path segments, query
strings, form bodies and methods, signed in or not. Never a 500, and the security headers every time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from deployments.web import create_app
from deployments.web.security import SECURITY_HEADERS, FailureLimiter, csrf_for
from models.core.settings import get_settings
from tests.deployments.web.support import DASHBOARD_TOKEN, World

PARAM = re.compile(r"{(\w+)}")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")


def app_routes(app: FastAPI) -> list[APIRoute]:
    """Return every API route of the app, including those of the routers it includes."""
    found: list[APIRoute] = []
    for route in app.routes:
        inner = getattr(route, "original_router", None)
        found += [r for r in (inner.routes if inner else [route]) if isinstance(r, APIRoute)]
    return found


def _segments(world: World) -> st.SearchStrategy[str]:
    known = [world.token, str(world.item.id), str(world.rel.id), "2026Q1", "en.html", "zh-CN.md", "1"]
    numbers = st.integers(min_value=-(2**80), max_value=2**80).map(str)
    hostile = st.sampled_from(
        ["", "..", "%00", "\x00", "²", "٣", "1e30", "NaN", "-0", " 1", "<script>", "a" * 5000]
    )
    return st.one_of(st.sampled_from(known), numbers, hostile, st.text(max_size=40))


def _fields(world: World) -> st.SearchStrategy[dict[str, str]]:
    names = st.sampled_from(
        ["csrf", "note", "link", "token", "lang", "done", "saved", "period", "q", "tier", "stage", "flagged"]
        + ["sort", "order", "status", "score-5.1", "score-5.12", "score-9.9"]
    )
    values = st.one_of(
        st.just(csrf_for(f"portal:{world.token.split('.')[0]}")),  # past the CSRF check, into the form
        st.text(max_size=60),
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
        st.sampled_from(
            ["1", "5", "²", "\x00", "https://example.cn/x", "javascript:alert(1)", "zh-CN", "x" * 3000]
        ),
    )
    return st.dictionaries(st.one_of(names, st.text(max_size=10)), values, max_size=6)


@pytest.fixture
def fuzz_client(schema: str, world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """Return a client of an app whose limiter never blocks (so every example reaches the routes)."""
    monkeypatch.setenv("TANDEM_DASHBOARD_TRUSTED_HEADER", "X-Auth-User")
    get_settings.cache_clear()
    app = create_app(limiter=FailureLimiter(limit=10**9))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def test_every_route_answers_hostile_requests_without_a_500_and_with_headers(
    fuzz_client: TestClient, world: World
) -> None:
    routes = app_routes(fuzz_client.app)  # type: ignore[arg-type]
    paths = {r.path for r in routes}
    assert {"/portal/{token}/items/{item_id}/done", "/dashboard/documents/{document_id}"} <= paths

    @settings(settings.get_profile("web"), max_examples=settings.get_profile("web").max_examples * 3)
    @given(data=st.data())
    def probe(data: st.DataObject) -> None:
        route = data.draw(st.sampled_from(routes))
        path = PARAM.sub(lambda m: quote(data.draw(_segments(world)), safe=""), route.path)
        own = st.sampled_from(sorted(route.methods))
        method = data.draw(st.one_of(own, own, own, st.sampled_from(METHODS)))  # mostly the route's own
        headers = data.draw(
            st.sampled_from(
                [{}, {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}, {"Authorization": "Bearer \x7f"}]
                + [{"X-Auth-User": "rm@ours.example"}, {"Accept-Language": "zh-CN"}]
            )
        )
        query, form = data.draw(_fields(world)), data.draw(_fields(world))
        body = {"data": form} if method in ("POST", "PUT", "PATCH") else {}
        response = fuzz_client.request(method, path, params=query, headers=headers, **body)  # type: ignore[arg-type]
        assert response.status_code < 500, (method, path, query, form, response.status_code)
        for name in SECURITY_HEADERS:
            assert name in response.headers, (method, path, name)
        assert "default-src 'none'" in response.headers["content-security-policy"]

    probe()
