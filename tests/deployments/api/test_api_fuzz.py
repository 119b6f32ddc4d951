"""A property-based fuzz of the API from its own OpenAPI schema (Schemathesis on Hypothesis): for every
operation, generated requests never get a 500, and every answer matches the schema (problems included).

The token has every scope but `flows:write`: onboarding and exit answer 403 here (their flows are
tested by test_api.py), so a generated body never starts a real Prefect run.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlmodel import Session

from deployments.web import create_app
from deployments.web.api import create_api
from deployments.web.security import FailureLimiter
from models.integration.tokens import create_token
from tests.deployments.api.conftest import RATE, make_world

EXAMPLES = int(os.environ.get("HYPOTHESIS_API_EXAMPLES", "25"))


# The schema is the one the API serves at /api/v1/openapi.json (the same function builds it), loaded as
# a dict: loading it over ASGI would run the app's start-up, which upgrades a database, at collection.
# Each request goes through the whole web app, into each test's own database.
APP = create_app(api=create_api(rate_per_minute=RATE, failures=FailureLimiter(limit=RATE)))
schema = schemathesis.openapi.from_dict(create_api().openapi())
schema.app = APP


@pytest.fixture
def fuzz_token(session: Session) -> str:
    """Store a small world and a token of most scopes; return the token."""
    make_world(session)
    _, token = create_token(session, "fuzz", ["read", "partners:write", "payments:write"], actor="test")
    session.commit()
    return token


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_500_and_answers_match_the_schema(case: schemathesis.Case, fuzz_token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzz_token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
