"""Fixtures for the web tests: the app with a hand-moved limiter clock, a client, and a small world."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlmodel import Session

from deployments.web import create_app
from deployments.web.security import FailureLimiter
from models.core.settings import get_settings
from tests.deployments.web.support import DASHBOARD_TOKEN, LIMIT, MAX_UPLOAD, Clock, World, make_world


@pytest.fixture
def clock() -> Clock:
    """Return the limiter's clock."""
    return Clock()


@pytest.fixture
def app(schema: str, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """Build the app with a small upload limit, a dashboard token and a limiter of 3 failures."""
    monkeypatch.setenv("TANDEM_DASHBOARD_TOKEN", DASHBOARD_TOKEN)
    monkeypatch.setenv("TANDEM_ORGANIZATION_NAME", "Acme Group")
    get_settings.cache_clear()
    return create_app(max_upload_bytes=MAX_UPLOAD, limiter=FailureLimiter(limit=LIMIT, clock=clock))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Return a client that does not follow redirects."""
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def world(session: Session) -> World:
    """Return the stored world."""
    return make_world(session)


# Hypothesis for the web: few examples per test (each is a real HTTP request through the app), no
# deadline (a first request builds the middleware stack), no example database left in the work tree.
settings.register_profile(
    "web",
    max_examples=int(os.environ.get("HYPOTHESIS_WEB_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
