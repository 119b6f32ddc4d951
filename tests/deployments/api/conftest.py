"""Fixtures for the API tests: the web app with its API, tokens of every scope, and a small world."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from benchmarks.registry import uscc
from deployments.web import create_app
from deployments.web.api import create_api
from deployments.web.security import FailureLimiter
from models.core.calendar import today_local
from models.integration.tokens import SCOPES, create_token
from models.tables import Relationship
from tests.support import factories as f

RATE = 10_000  # the rate-limit test builds its own app with a small one


@dataclass
class World:
    """A relationship with an item and an invoice, and a token per scope (`all` has every scope)."""

    rel: Relationship
    tokens: dict[str, str]

    def auth(self, scope: str = "all") -> dict[str, str]:
        """Return the Authorization header of a token."""
        return {"Authorization": f"Bearer {self.tokens[scope]}"}


def make_world(session: Session) -> World:
    """Store one active relationship (an onboarding item, an invoice paid late) and tokens."""
    today = today_local()
    rel = f.relationship(session, partner_name="Yunzhan Software")
    item = f.item(session, rel, due_on=today + timedelta(days=3), title={"en": "Backup", "zh-CN": "备用"})
    item.stage = "onboarding"
    session.add(item)
    f.invoice(
        session, rel.id, "INV-1", delivered=today - timedelta(days=100), paid_on=today - timedelta(days=10)
    )  # type: ignore[arg-type]
    tokens = {
        scope: create_token(session, f"only-{scope.replace(':', '-')}", [scope], actor="test")[1]
        for scope in SCOPES
    }
    tokens["all"] = create_token(session, "erp", list(SCOPES), actor="test")[1]
    session.commit()
    return World(rel, tokens)


def partner_row(n: int, **fields: object) -> dict[str, object]:
    """Return a valid partner row of the batch (a Chinese software firm with a contact)."""
    return {
        "legal_name": f"Partner {n} 有限公司",
        "registration_id": uscc(n),
        "country": "CN",
        "industry": "software_it",
        "employees": 12,
        "annual_revenue": 3_000_000,
        "currency": "CNY",
        "contact_email": f"owner{n}@partner{n}.example.cn",
        **fields,
    }


@pytest.fixture
def world(session: Session) -> World:
    """Return the stored world."""
    return make_world(session)


@pytest.fixture
def app(schema: str) -> FastAPI:
    """Build the web app with its API (high limits: only the limit test meets them)."""
    return create_app(api=create_api(rate_per_minute=RATE, failures=FailureLimiter(limit=RATE)))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Return a client of the app."""
    with TestClient(app, follow_redirects=False) as c:
        yield c
