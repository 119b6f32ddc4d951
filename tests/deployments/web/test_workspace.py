"""The workspace and action links: scope, decisions through the CLI's function, and every refusal."""

from __future__ import annotations

import re
import time
import uuid
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from markupsafe import escape
from sqlmodel import Session, select

from deployments.web.runs import runs_of
from models.checklists.generation import generate_checklist
from models.core.base import id_of
from models.identity.actions import ACKNOWLEDGE_ESCALATION, APPROVE_ONBOARDING, action_link
from models.lifecycle.machine import approval_of
from models.tables import AuditEvent, OneTimeLink, Relationship
from tests.deployments.web.support import sign_in as _as
from tests.support import factories as f


def _proposed(session: Session) -> tuple[Relationship, str, str]:
    rel = f.relationship(session, tier=None, stage="proposed")
    rel.tier_proposed = "standard"
    rel.tier_explanation = {"reason": {"en": "medium criticality", "zh-CN": "中等重要性"}}
    rel.awaiting_run_id = str(uuid.uuid4())  # the onboarding run that asked the sponsor, since ended
    session.add(rel)
    sponsor = f"sponsor{rel.key.split('-')[1]}@example.org"
    url = action_link(session, purpose=APPROVE_ONBOARDING, email=sponsor, relationship_id=rel.id)  # type: ignore[arg-type]
    session.commit()
    return rel, sponsor, url.split("/act/")[1]


def test_scope_refusals_and_link_refusals(client: TestClient, session: Session) -> None:
    """Managers see only theirs (404), auditors write nothing (403), links serve only their sponsor once."""
    rel, sponsor, token = _proposed(session)
    other = f.relationship(session)
    session.commit()
    assert client.get(f"/act/{token}").status_code == 401  # no session: the sign-in page, which returns here
    manager = rel.key.replace("rel-", "manager") + "@example.org"
    csrf = _as(client, session, manager, "manager")
    assert client.get(f"/dashboard/relationships/{rel.id}").status_code == 200
    assert client.get(f"/dashboard/relationships/{other.id}").status_code == 404  # another manager's
    assert client.get(f"/act/{token}").status_code == 403  # the link is the sponsor's
    forged = {"decision": "approve", "csrf": csrf}
    assert client.post(f"/work/relationships/{rel.id}/decision", data=forged).status_code == 403

    client.cookies.clear()
    csrf = _as(client, session, "au@ours.example", "auditor")
    page = client.get(f"/dashboard/relationships/{rel.id}")
    assert page.status_code == 200 and page.text.count('method="post"') == 1  # sign-out only
    assert (
        client.post(f"/work/relationships/{rel.id}/decision", data=forged | {"csrf": csrf}).status_code == 403
    )
    assert client.post(f"/act/{token}", data=forged | {"csrf": csrf}).status_code == 403

    client.cookies.clear()
    csrf = _as(client, session, sponsor, "sponsor")
    assert client.post(f"/act/{token}", data={"decision": "approve"}).status_code == 403  # CSRF missing
    link = session.exec(select(OneTimeLink).where(OneTimeLink.purpose == APPROVE_ONBOARDING)).one()
    link.expires_at -= timedelta(days=30)
    session.add(link)
    session.commit()
    assert client.get(f"/act/{token}").status_code == 410  # expired
    refused = session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")).all()
    assert {e.actor for e in refused} == {manager, "au@ours.example"}
    assert approval_of(session, rel.id) is None  # type: ignore[arg-type]


@pytest.mark.usefixtures("prefect_server")
def test_the_sponsor_decides_once_from_the_link(client: TestClient, session: Session) -> None:
    """The sponsor's POST records the approval with the CLI's function, as `action-link`; reuse is refused."""
    rel, sponsor, token = _proposed(session)
    csrf = _as(client, session, sponsor, "sponsor")
    confirm = client.get(f"/act/{token}")
    assert confirm.status_code == 200 and "medium criticality" in confirm.text
    done = client.post(f"/act/{token}", data={"decision": "approve", "csrf": csrf})
    assert done.status_code == 200 and "running" in done.text
    assert (
        client.post(f"/act/{token}", data={"decision": "approve", "csrf": csrf}).status_code == 410
    )  # reused
    for _ in range(600):  # the decision runs in the background: the page never waits for Prefect
        if runs_of(sponsor) and runs_of(sponsor)[0].outcome != "running":
            break
        time.sleep(0.05)
    session.rollback()  # a new transaction sees what the background run committed
    approval = approval_of(session, rel.id)  # type: ignore[arg-type]
    assert approval is not None and approval.decided_by == sponsor
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "onboarding.approved")).one()
    assert (event.actor, event.method) == (sponsor, "action-link")


def test_items_close_from_my_work_with_the_clis_function(client: TestClient, session: Session) -> None:
    """The owner marks an item done with evidence; an auditor's forged POST is refused."""
    rel = f.relationship(session)
    item = f.item(session, rel, due_on=date.today() - timedelta(days=1), owner_role="manager")
    item.owner_contact_id = rel.manager_id
    session.add(item)
    session.commit()
    csrf = _as(client, session, "au@ours.example", "auditor")
    forged = {"outcome": "done", "evidence": "x", "csrf": csrf}
    assert client.post(f"/work/items/{item.id}", data=forged).status_code == 403
    client.cookies.clear()
    manager = rel.key.replace("rel-", "manager") + "@example.org"
    csrf = _as(client, session, manager, "manager")
    assert "Mark done" in client.get("/work").text
    assert (
        client.post(f"/work/items/{item.id}", data={"evidence": "signed", "outcome": "done"}).status_code
        == 403
    )
    done = client.post(f"/work/items/{item.id}", data={"outcome": "done", "evidence": "signed", "csrf": csrf})
    assert done.status_code == 303
    session.refresh(item)
    assert (item.status, item.evidence, item.done_by) == ("done", "signed", manager)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "checklist.item.done")).one()
    assert (event.actor, event.method) == (manager, "web")


def _exit(client: TestClient, rel_id: int | None, csrf: str, step: str, **fields: str) -> Response:
    return client.post(f"/work/relationships/{rel_id}/exit", data={"step": step, "csrf": csrf, **fields})


@pytest.mark.usefixtures("prefect_server")
def test_exit_proposed_approved_then_run_with_every_refusal(client: TestClient, session: Session) -> None:
    """Manager proposes, sponsor approves, manager runs `exit-relationship`; refusals list every reason."""
    rel, other = f.relationship(session), f.relationship(session)
    session.commit()
    manager, sponsor = (rel.key.replace("rel-", who) + "@example.org" for who in ("manager", "sponsor"))
    csrf = _as(client, session, "au@ours.example", "auditor")
    assert _exit(client, rel.id, csrf, "propose", reason="x", trigger="planned-end").status_code == 403
    client.cookies.clear()
    csrf = _as(client, session, manager, "manager")
    assert client.get(f"/work/relationships/{other.id}").status_code == 404  # another manager's
    assert _exit(client, other.id, csrf, "propose", reason="x", trigger="planned-end").status_code == 404
    early = _exit(client, rel.id, csrf, "run")
    assert early.status_code == 409
    assert "No exit has been proposed yet." in early.text and "has not approved the exit yet" in early.text
    bad = _exit(client, rel.id, csrf, "propose", reason=" ", trigger="whim")
    assert bad.status_code == 400 and "Why: say why." in bad.text and "choose one" in bad.text
    assert session.exec(select(AuditEvent).where(AuditEvent.action.startswith("exit."))).all() == []  # type: ignore[attr-defined]
    assert (
        _exit(client, rel.id, csrf, "propose", reason="contract ends", trigger="planned-end").status_code
        == 303
    )
    assert "Waiting for the executive sponsor" in client.get(f"/work/relationships/{rel.id}").text
    assert _exit(client, rel.id, csrf, "approve").status_code == 403  # the sponsor's
    client.cookies.clear()
    csrf = _as(client, session, sponsor, "sponsor")
    assert "Exits waiting for my approval" in client.get("/work").text
    assert _exit(client, rel.id, csrf, "approve").status_code == 303
    client.cookies.clear()
    csrf = _as(client, session, manager, "manager")
    assert _exit(client, rel.id, csrf, "run").status_code == 303
    for _ in range(600):  # the exit runs in the background
        if runs_of(manager) and runs_of(manager)[0].outcome != "running":
            break
        time.sleep(0.05)
    session.expire_all()
    assert session.get(Relationship, rel.id).stage == "exiting", runs_of(manager)  # type: ignore[union-attr]
    # The server has no exit-relationship deployment: it ran in the web process, and the page says so.
    assert runs_of(manager)[0].where == "embedded"
    assert "exit-relationship #" in (page := client.get("/work").text) and "(embedded)" in page
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.relationship_id == rel.id))]
    assert {"exit.proposed", "exit.approved", "relationship.stage"} <= set(actions)


def test_one_contact_set_from_the_relationship_page(client: TestClient, session: Session) -> None:
    """`tandem relationship set-contact`'s function, from the page: key-person warnings shown."""
    rel = f.relationship(session)
    session.commit()
    csrf = _as(client, session, rel.key.replace("rel-", "manager") + "@example.org", "manager")
    form = {"role": "deputy", "email": "", "reason": "left", "csrf": csrf}
    page = client.post(f"/work/relationships/{rel.id}/contact", data=form)
    assert page.status_code == 200 and "ours: no deputy manager" in page.text
    assert "我方：未指定关系经理的副手" in client.get(f"/work/relationships/{rel.id}?lang=zh-CN").text
    assert (
        client.post(f"/work/relationships/{rel.id}/contact", data=form | {"email": "x@y.example"}).status_code
        == 400
    )
    session.refresh(rel)
    assert rel.deputy_id is None
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "relationship.contact_changed")).one()
    assert event.reason == "left"


def test_what_changed_since_my_last_visit(client: TestClient, session: Session) -> None:
    """My work lists what changed since the person last opened it, not a fixed week."""
    from models.core import audit

    rel = f.relationship(session)
    session.commit()
    _as(client, session, rel.key.replace("rel-", "manager") + "@example.org", "manager")  # the first visit
    audit.record(
        session, actor="x", action="note.between_visits", entity="relationship", entity_id=rel.id,
        relationship_id=rel.id,
    )  # fmt: skip
    session.commit()
    assert "note.between_visits" in client.get("/work").text
    assert "note.between_visits" not in client.get("/work").text  # seen on the last visit


def test_the_sponsor_acknowledges_an_escalation_once(client: TestClient, session: Session) -> None:
    """The review escalation's link: GET confirms, the sponsor's POST acknowledges and opens, once."""
    rel = f.relationship(session)
    sponsor = rel.key.replace("rel-", "sponsor") + "@example.org"
    url = action_link(session, purpose=ACKNOWLEDGE_ESCALATION, email=sponsor, relationship_id=rel.id)  # type: ignore[arg-type]
    session.commit()
    token = url.split("/act/")[1]
    csrf = _as(client, session, rel.key.replace("rel-", "manager") + "@example.org", "manager")
    assert client.post(f"/act/{token}", data={"csrf": csrf}).status_code == 403  # the sponsor's link
    client.cookies.clear()
    csrf = _as(client, session, sponsor, "sponsor")
    assert "Acknowledge and open" in client.get(f"/act/{token}").text
    done = client.post(f"/act/{token}", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/work/relationships/{rel.id}"
    assert client.post(f"/act/{token}", data={"csrf": csrf}).status_code == 410  # used
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "review.escalation_acknowledged")
    ).one()
    assert (event.actor, event.method) == (sponsor, "action-link")


def test_partners_filter_by_a_relationships_tier_and_stage_and_the_pager_keeps_them(
    client: TestClient, session: Session
) -> None:
    f.relationship(session, partner_name="Light Active Co", tier="light", stage="active")
    f.relationship(session, partner_name="Standard Exiting Co", tier="standard", stage="exiting")
    for n in range(30):  # more than a page of partners that match, none with a relationship
        f.partner(session, name=f"Loose Partner {n}")
    session.commit()
    _as(client, session, "auditor@bigco.example", "auditor")
    page = client.get("/work/partners", params={"tier": "standard", "stage": "exiting"})
    assert (
        page.status_code == 200 and "Standard Exiting Co" in page.text and "Light Active Co" not in page.text
    )
    assert "Loose Partner" not in page.text
    assert "Light Active Co" not in client.get("/work/partners?tier=light&stage=exiting").text  # the same one
    first = client.get("/work/partners", params={"q": "loose"})
    assert (
        'href="/work/partners?q=loose&amp;country=&amp;size=&amp;tier=&amp;stage=&amp;offset=25"'
        in first.text
    )
    assert client.get("/work/partners?tier=platinum").status_code == 400  # not a tier: refused


def test_the_onboarding_form_offers_only_what_onboarding_accepts(
    client: TestClient, session: Session
) -> None:
    _as(client, session, "rm@bigco.example", "manager")
    form = client.get("/work/onboard").text
    offered = re.findall(
        r'<option value="([^"]+)"', form.split('id="criticality"', 1)[1].split("</select>", 1)[0]
    )
    assert offered == ["low", "medium", "high"]  # no "critical": onboarding would refuse it


@pytest.mark.usefixtures("prefect_server")
def test_a_refused_background_run_says_refused_with_every_reason(
    client: TestClient, session: Session
) -> None:
    rel = f.relationship(session, stage="onboarding")
    generate_checklist(session, id_of(rel), "onboarding", actor="test")
    session.commit()
    manager = rel.key.replace("rel-", "manager") + "@example.org"
    csrf = _as(client, session, manager, "manager")
    assert client.post(f"/work/relationships/{rel.id}/governance", data={"csrf": csrf}).status_code == 303
    for _ in range(600):  # governance runs in the background
        if runs_of(manager) and runs_of(manager)[0].outcome != "running":
            break
        time.sleep(0.05)
    run = runs_of(manager)[0]
    assert run.outcome == "refused" and "required item(s) open" in run.detail and run.reasons
    page = client.get("/work").text
    assert "refused (onboarding is not complete" in page and "failed" not in page
    assert all(str(escape(reason)) in page for reason in run.reasons)  # every open item, as the CLI lists
