"""The HTTP API through its app: scopes, all-or-nothing batches, idempotent retries, reads, problems."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from deployments.web import create_app
from deployments.web.api import create_api
from models.core.calendar import today_local
from models.core.db import get_engine
from models.lifecycle.exits import approve_exit, propose_exit
from models.tables import ApiToken, AuditEvent, Partner, Payment, Relationship
from tests.deployments.api.conftest import World, partner_row

PROBLEM = "application/problem+json"
TODAY = today_local()


def payment_row(world: World, invoice: str = "INV-2", **fields: Any) -> dict[str, Any]:
    """Return a valid payment row for the world's relationship."""
    return {
        "invoice_id": invoice,
        "relationship": world.rel.key,
        "delivered_on": str(TODAY - timedelta(days=40)),
        "invoiced_on": str(TODAY - timedelta(days=39)),
        "amount": "1200.50",
        "currency": "CNY",
        **fields,
    }


def operations(world: World) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """Return every operation: its scope, method, path and a body."""
    rel = world.rel
    people = {"manager": "a@b.example", "sponsor": "c@b.example", "partner_contact": "d@e.example"}
    leave = {"relationship": rel.key, "reason": "end", "trigger": "planned-end", "by": "a@b.example"}
    return [
        ("partners:write", "POST", "/api/v1/partners/batch", {"rows": [partner_row(1)]}),
        ("payments:write", "POST", "/api/v1/payments/batch", {"rows": [payment_row(world)]}),
        ("flows:write", "POST", "/api/v1/onboardings", {"partner": "1", **people}),
        ("flows:write", "POST", "/api/v1/exits", leave),
        ("read", "GET", "/api/v1/relationships", None),
        ("read", "GET", f"/api/v1/relationships/{rel.id}", None),
        ("read", "GET", "/api/v1/checklist-items", None),
        ("read", "GET", "/api/v1/reviews", None),
        ("read", "GET", "/api/v1/audit-events", None),
    ]  # fmt: skip


def counts(session: Session) -> tuple[int, int, int]:
    """Return how many partners, payments and audit events are stored."""
    return tuple(
        session.exec(select(func.count()).select_from(t)).one() for t in (Partner, Payment, AuditEvent)
    )  # type: ignore[return-value]


def test_every_scope_refusal_and_every_missing_token(
    client: TestClient, world: World, session: Session
) -> None:
    before = counts(session)
    for scope, method, path, body in operations(world):
        for other in ("read", "partners:write", "payments:write", "flows:write"):
            if other == scope:
                continue
            r = client.request(method, path, json=body, headers=world.auth(other))
            assert r.status_code == 403, (path, other, r.text)
            assert r.headers["content-type"] == PROBLEM and scope in r.json()["detail"]
        for headers in (
            {},
            {"Authorization": "Bearer tdm_00000000_" + "x" * 43},
            {"Authorization": "Basic x"},
        ):
            r = client.request(method, path, json=body, headers=headers)
            assert r.status_code == 401 and r.headers["content-type"] == PROBLEM, (path, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
    session.expire_all()
    assert counts(session) == before  # nothing refused wrote anything


def test_revoked_token_is_refused_and_last_use_is_kept(
    client: TestClient, world: World, session: Session
) -> None:
    from models.integration.tokens import revoke_token

    assert client.get("/api/v1/relationships", headers=world.auth("read")).status_code == 200
    token = session.exec(select(ApiToken).where(ApiToken.name == "only-read")).one()
    session.refresh(token)
    assert token.last_used_at is not None
    revoke_token(session, "only-read", actor="test")
    session.commit()
    assert client.get("/api/v1/relationships", headers=world.auth("read")).status_code == 401


def test_a_batch_with_one_bad_row_writes_nothing_and_names_every_problem(
    client: TestClient, world: World, session: Session
) -> None:
    before = counts(session)
    rows = [partner_row(n) for n in range(2, 7)]
    rows[3] = partner_row(5, employees=-1, registration_id="91310000MA0000005X")  # bad count and check digit
    rows.append(partner_row(2))  # the same partner twice
    r = client.post("/api/v1/partners/batch", json={"rows": rows}, headers=world.auth("partners:write"))
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    found = {(e["row"], e["field"]) for e in r.json()["errors"]}
    assert {(3, "employees"), (3, "registration_id"), (5, "registration_id")} <= found, r.json()
    assert all(e["pointer"] == f"/rows/{e['row']}/{e['field']}" for e in r.json()["errors"])
    session.expire_all()
    assert counts(session) == before
    # The schema bounds the shape too: an unknown column, and more than 1,000 rows.
    r = client.post(
        "/api/v1/partners/batch", json={"rows": [{**rows[0], "colour": "red"}]}, headers=world.auth()
    )
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/rows/0/colour"
    r = client.post("/api/v1/partners/batch", json={"rows": [rows[0]] * 1001}, headers=world.auth())
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM


def test_partner_upsert_is_idempotent_by_key_and_by_registration_id(
    client: TestClient, world: World, session: Session
) -> None:
    body = {"rows": [partner_row(10), partner_row(11)]}
    headers = {**world.auth("partners:write"), "Idempotency-Key": "batch-1"}
    first = client.post("/api/v1/partners/batch", json=body, headers=headers)
    assert first.status_code == 200 and first.json()["new"] == 2, first.text
    again = client.post("/api/v1/partners/batch", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    changed = {"rows": [partner_row(10, employees=13), partner_row(11)]}
    reused = client.post("/api/v1/partners/batch", json=changed, headers=headers)
    assert reused.status_code == 409 and reused.headers["content-type"] == PROBLEM
    fresh = client.post("/api/v1/partners/batch", json=changed, headers=world.auth("partners:write"))
    assert fresh.json()["updated"] == 1 and fresh.json()["unchanged"] == 1
    events = session.exec(select(AuditEvent).where(AuditEvent.action.startswith("partner."))).all()  # type: ignore[attr-defined]
    assert {e.actor for e in events} == {"api:only-partners-write"}
    assert all(e.data["method"] == "api" for e in events)
    assert sum(e.action == "partner.created" for e in events) == 2  # the retry wrote nothing


def test_payments_feed_the_clock_and_reads_page_and_filter(client: TestClient, world: World) -> None:
    read = world.auth("read")
    before = client.get(f"/api/v1/relationships/{world.rel.key}", headers=read).json()
    assert before["days_to_pay"]["avg"] == 90.0  # INV-1: delivered 100 days ago, paid 10 days ago
    rows = [payment_row(world, paid_on=str(TODAY)), payment_row(world, "INV-1", delivered_on="2000-01-01")]
    r = client.post("/api/v1/payments/batch", json={"rows": rows}, headers=world.auth("payments:write"))
    found = {(e["row"], e["field"]) for e in r.json()["errors"]}
    assert r.status_code == 422 and (1, "delivered_on") in found and {row for row, _ in found} == {1}
    r = client.post("/api/v1/payments/batch", json={"rows": rows[:1]}, headers=world.auth("payments:write"))
    assert r.json() == {"new": 1, "updated": 0, "paid": 0, "unchanged": 0}
    after = client.get(f"/api/v1/relationships/{world.rel.id}", headers=read).json()
    assert after["days_to_pay"]["avg"] == 65.0 and after["days_to_pay"]["invoices"] == 2
    page = client.get(
        "/api/v1/relationships", params={"days_to_pay_min": 60, "stage": "active"}, headers=read
    )
    assert page.json()["total"] == 1 and page.json()["items"][0]["id"] == world.rel.id
    empty = client.get("/api/v1/relationships", params={"days_to_pay_max": 10}, headers=read).json()
    assert empty["total"] == 0 and empty["items"] == []
    items = client.get(
        "/api/v1/checklist-items", params={"relationship_id": world.rel.id, "limit": 1}, headers=read
    )
    assert items.json()["total"] == 1 and items.json()["items"][0]["stage"] == "onboarding"
    assert client.get("/api/v1/reviews", headers=read).json()["total"] == 0
    trail = client.get("/api/v1/audit-events", params={"limit": 500}, headers=read).json()
    mine = [e for e in trail["items"] if e["action"] == "payment.imported"]
    assert mine[0]["actor"] == "api:only-payments-write" and mine[0]["method"] == "api"
    later = client.get("/api/v1/audit-events", params={"after": trail["next_after"]}, headers=read).json()
    assert later == {"items": [], "next_after": trail["next_after"]}


def test_problems_everywhere_under_api(client: TestClient, world: World) -> None:
    read = world.auth("read")
    for path in ("/api/v1/nothing", "/api/v2/relationships", "/api/v1/relationships/no-such-key"):
        r = client.get(path, headers=read)
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM, path
    r = client.get("/api/v1/relationships", params={"limit": 0, "stage": "nope"}, headers=read)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"limit", "stage"}
    big = b'{"rows": [' + b'"x",' * 700_000 + b'"x"]}'
    r = client.post(
        "/api/v1/partners/batch", content=big, headers={**world.auth(), "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
    r = client.post(
        "/api/v1/partners/batch",
        content=b"{not json",
        headers={**world.auth(), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    r = client.delete("/api/v1/relationships", headers=read)
    assert r.status_code == 405 and r.headers["content-type"] == PROBLEM


def test_a_crash_is_a_500_problem_without_a_traceback(schema: str) -> None:
    api = create_api()

    def boom() -> None:
        raise RuntimeError("secret detail")

    api.add_api_route("/boom", boom)  # a route of this test's own that fails, as a bug would
    with TestClient(create_app(api=api), raise_server_exceptions=False) as c:
        r = c.get("/api/v1/boom")
    assert r.status_code == 500 and r.headers["content-type"] == PROBLEM
    assert "secret detail" not in r.text and "Traceback" not in r.text


def test_rate_limit_per_token(schema: str, world: World) -> None:
    with TestClient(create_app(api=create_api(rate_per_minute=2))) as c:
        codes = [c.get("/api/v1/reviews", headers=world.auth("read")).status_code for _ in range(3)]
        other = c.get("/api/v1/reviews", headers=world.auth("all")).status_code
        r = c.get("/api/v1/reviews", headers=world.auth("read"))
        bad = {"Authorization": "Bearer tdm_00000000_" + "x" * 43}
        guesses = [c.get("/api/v1/reviews", headers=bad).status_code for _ in range(11)]
    assert codes == [200, 200, 429] and other == 200
    assert r.headers["content-type"] == PROBLEM and r.headers["retry-after"] == "60"
    assert guesses == [401] * 10 + [429]  # failed sign-ins from one address are limited too


@pytest.mark.prefect
def test_onboarding_and_exit_start_the_cli_flows(
    prefect_server: None, client: TestClient, world: World, session: Session
) -> None:
    flows = world.auth("flows:write")
    client.post("/api/v1/partners/batch", json={"rows": [partner_row(30)]}, headers=world.auth())
    body = {
        "partner": f"CN:{partner_row(30)['registration_id']}",
        "manager": "rm@bigco.example",
        "sponsor": "vp@bigco.example",
        "partner_contact": "owner30@partner30.example.cn",
        "key": "api-onb",
    }
    bad = body | {"manager": "rm at bigco", "sponsor": "VP@BigCo.example"}
    r = client.post("/api/v1/onboardings", json=bad, headers=flows)  # refused as onboarding would
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"manager"}
    r = client.post("/api/v1/onboardings", json=body, headers=flows)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["flow"] == "onboard-partner" and started["flow_run_id"] and started["relationship_id"]
    read = client.get("/api/v1/relationships/api-onb", headers=world.auth("read")).json()
    assert read["stage"] == "proposed"  # waits for the sponsor, as any onboarding does
    n = world.rel.key.split("-")[1]
    body = {"relationship": world.rel.key, "reason": "contract ends", "trigger": "planned-end",
            "by": f"manager{n}@example.org"}  # fmt: skip
    r = client.post("/api/v1/exits", json=body, headers=flows)
    assert r.status_code == 409 and "no exit has been proposed yet" in r.text  # the sponsor approves first
    sponsor = f"sponsor{n}@example.org"
    r = client.post("/api/v1/exits", json=body | {"by": sponsor}, headers=flows)
    assert r.status_code == 409  # a token never approves in the sponsor's name
    rel = session.get(Relationship, world.rel.id)
    assert rel is not None
    propose_exit(session, rel, reason="contract ends", trigger="planned-end", by=body["by"])
    approve_exit(session, rel, by=sponsor)  # as the sponsor does in the workspace
    session.commit()
    r = client.post("/api/v1/exits", json=body, headers=flows)
    assert r.status_code == 202 and r.json()["relationship_id"] == world.rel.id  # an approved exit runs
    client.app.state.api.state.work.join(timeout=60)  # type: ignore[attr-defined]
    with Session(get_engine()) as fresh:
        actions = [
            e.action for e in fresh.exec(select(AuditEvent).where(AuditEvent.actor == "api:only-flows-write"))
        ]
    assert actions == ["api.onboarding_requested", "api.exit_requested"]
    after = client.get(f"/api/v1/relationships/{world.rel.id}", headers=world.auth("read")).json()
    assert after["stage"] in ("exiting", "exited")
