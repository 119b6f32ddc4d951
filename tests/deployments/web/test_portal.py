"""The partner portal over HTTP: every route, and every refusal writes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from deployments.web.security import SECURITY_HEADERS, csrf_for
from models.core.base import utcnow
from models.core.settings import get_settings
from models.portal.links import current_period, issue_link, revoke_link
from models.tables import AuditEvent, ChecklistItem, Contact, Payment, ScorecardEntry
from tests.deployments.web.support import LIMIT, MAX_UPLOAD, Clock, World, audit_count, make_world, status_of

PDF = b"%PDF-1.4\n% evidence\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def csrf(world: World) -> str:
    """Return the CSRF token the portal puts in the world's forms."""
    return csrf_for(f"portal:{world.token.split('.')[0]}")


def done_url(world: World, item: ChecklistItem) -> str:
    return f"/portal/{world.token}/items/{item.id}/done"


def uploads() -> list[Path]:
    folder = get_settings().home / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_home_shows_only_the_partners_open_items_with_why_and_effort(
    client: TestClient, world: World
) -> None:
    page = client.get(f"/portal/{world.token}?lang=en")
    assert page.status_code == 200
    body = page.text
    # The partner's item, in the partner's voice from the library, with what to send and what next.
    assert "Tell us your main contact and a backup person" in body
    assert "What to send:" in body and "What happens next:" in body
    assert "Why we ask" in body and "backup" in body  # guidance from the library
    # A joint item is shown as ours to arrange with the partner: no form, no "mark done".
    assert "Together with us" in body and world.joint.due_on.isoformat() in body
    assert f"/items/{world.joint.id}/done" not in body
    assert "Our internal step" not in body  # our own item
    assert "Done one" not in body  # closed
    assert f'id="item-{world.other_item.id}"' not in body  # another relationship's
    assert current_period().name in body
    assert "Tandem" not in body  # the partner deals with us, not with our software


def test_language_defaults_to_the_contact_and_switches_with_a_cookie(
    client: TestClient, world: World
) -> None:
    assert '<html lang="zh-CN">' in client.get(f"/portal/{world.token}").text  # the contact reads Chinese
    english = client.get(f"/portal/{world.token}?lang=en")
    assert '<html lang="en">' in english.text and "Mark done" in english.text
    assert "tandem_lang=en" in english.headers["set-cookie"]
    assert "HttpOnly" in english.headers["set-cookie"]
    assert '<html lang="en">' in client.get(f"/portal/{world.token}").text  # remembered
    chinese = client.get(f"/portal/{world.token}?lang=zh-CN")
    assert "标记为已完成" in chinese.text and 'hreflang="en"' in chinese.text


def test_mark_done_with_note_and_link_is_audited_in_the_partners_name(
    client: TestClient, world: World, session: Session
) -> None:
    response = client.post(
        done_url(world, world.item),
        data={"csrf": csrf(world), "note": "Backup is Li Na", "link": "https://example.cn/contacts"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/portal/{world.token}?done={world.item.id}#done"
    session.expire_all()
    item = session.get(ChecklistItem, world.item.id)
    assert item is not None and item.status == "done"
    assert item.done_by == world.contact.email
    assert item.evidence == "Backup is Li Na" and item.evidence_link == "https://example.cn/contacts"
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "checklist.item.done")).one()
    assert event.actor == world.contact.email and event.relationship_id == world.rel.id
    after = client.get(f"/portal/{world.token}?done={world.item.id}&lang=en")
    assert "is marked done" in after.text and f'id="item-{world.item.id}"' not in after.text


def test_mark_done_with_a_checked_file_stores_it_under_a_random_name(
    client: TestClient, world: World, session: Session
) -> None:
    files = {"file": ("我的证书 <x>.pdf", PDF, "application/pdf")}
    response = client.post(done_url(world, world.item), data={"csrf": csrf(world)}, files=files)
    assert response.status_code == 303
    [stored] = uploads()
    assert stored.suffix == ".pdf" and "证书" not in stored.name and len(stored.stem) == 32
    assert stored.read_bytes() == PDF
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.upload")).one()
    assert event.actor == world.contact.email and event.data["stored_as"] == stored.name
    assert status_of(session, world.item) == "done"


def test_a_joint_item_is_ours_to_close_not_the_partners(
    client: TestClient, world: World, session: Session
) -> None:
    before = audit_count(session)
    response = client.post(done_url(world, world.joint), data={"csrf": csrf(world), "note": "held"})
    assert response.status_code == 404
    assert status_of(session, world.joint) == "open" and audit_count(session) == before


def test_png_is_accepted_by_its_bytes_whatever_its_name(client: TestClient, world: World) -> None:
    files = {"file": ("scan.pdf", PNG, "application/pdf")}
    assert (
        client.post(done_url(world, world.item), data={"csrf": csrf(world)}, files=files).status_code == 303
    )
    assert [p.suffix for p in uploads()] == [".png"]


@pytest.mark.parametrize(
    "content",
    [b"<html><script>alert(1)</script></html>", b"MZ\x90\x00 not a pdf", b"GIF89a...."],
    ids=["html", "exe", "gif"],
)
def test_wrong_file_type_is_refused_with_400_and_nothing_written(
    client: TestClient, world: World, session: Session, content: bytes
) -> None:
    before = audit_count(session)
    files = {"file": ("evidence.pdf", content, "application/pdf")}
    response = client.post(done_url(world, world.item), data={"csrf": csrf(world)}, files=files)
    assert response.status_code == 400
    assert uploads() == [] and status_of(session, world.item) == "open" and audit_count(session) == before


def test_oversize_file_is_refused_with_413_and_nothing_written(
    client: TestClient, world: World, session: Session
) -> None:
    before = audit_count(session)
    just_over = {"file": ("big.pdf", PDF + b"0" * MAX_UPLOAD, "application/pdf")}
    assert (
        client.post(done_url(world, world.item), data={"csrf": csrf(world)}, files=just_over).status_code
        == 413
    )
    far_over = {"file": ("huge.pdf", PDF + b"0" * (4 * MAX_UPLOAD), "application/pdf")}
    assert (
        client.post(done_url(world, world.item), data={"csrf": csrf(world)}, files=far_over).status_code
        == 413
    )
    assert uploads() == [] and status_of(session, world.item) == "open" and audit_count(session) == before


def test_evidence_link_must_be_a_web_address(client: TestClient, world: World, session: Session) -> None:
    before = audit_count(session)
    data = {"csrf": csrf(world), "link": "javascript:alert(1)"}
    assert client.post(done_url(world, world.item), data=data).status_code == 400
    assert status_of(session, world.item) == "open" and audit_count(session) == before


def test_an_item_already_done_gets_409(client: TestClient, world: World) -> None:
    assert client.post(done_url(world, world.closed), data={"csrf": csrf(world)}).status_code == 409


@pytest.mark.parametrize("which", ["other_item", "ours"])
def test_an_item_not_the_partners_here_gets_404_and_nothing_written(
    client: TestClient, world: World, session: Session, which: str
) -> None:
    item = getattr(world, which)
    before = audit_count(session)
    assert client.post(done_url(world, item), data={"csrf": csrf(world), "note": "x"}).status_code == 404
    assert (
        client.post(f"/portal/{world.token}/items/999999/done", data={"csrf": csrf(world)}).status_code == 404
    )
    assert status_of(session, item) == "open" and audit_count(session) == before


def test_missing_or_foreign_csrf_gets_403_and_nothing_written(
    client: TestClient, world: World, session: Session
) -> None:
    other = make_world(session, partner_name="Second Partner")
    before = audit_count(session)
    assert client.post(done_url(world, world.item), data={"note": "x"}).status_code == 403
    assert (
        client.post(done_url(world, world.item), data={"csrf": csrf(other), "note": "x"}).status_code == 403
    )
    assert client.post(done_url(world, world.item), data={"csrf": "forged"}).status_code == 403
    assert client.post(f"/portal/{world.token}/scores", data={"score-5.1": "4"}).status_code == 403
    assert status_of(session, world.item) == "open" and audit_count(session) == before


def _tampered(token: str) -> list[str]:
    tid, cid, rid, exp, sig = token.split(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    return [
        f"{tid}.{cid}.{rid}.{exp}.{flipped}",  # signature changed
        f"{tid}.{cid}.{int(rid) + 1}.{exp}.{sig}",  # another relationship
        f"{tid}.{int(cid) + 1}.{rid}.{exp}.{sig}",  # another contact
        f"{tid}.{cid}.{rid}.{int(exp) + 86400}.{sig}",  # later expiry
        "not-a-token",
    ]


def _refused_everywhere(client: TestClient, world: World, token: str, clock: Clock) -> None:
    data = {"csrf": csrf(world), "note": "x"}
    attempts = [
        lambda: client.get(f"/portal/{token}"),
        lambda: client.get(f"/portal/{token}/scores"),
        lambda: client.post(f"/portal/{token}/items/{world.item.id}/done", data=data),
        lambda: client.post(f"/portal/{token}/scores", data={"csrf": csrf(world), "score-5.1": "4"}),
    ]
    for attempt in attempts:
        clock.now += 3600  # each refusal on its own: the limiter is tested apart
        assert attempt().status_code == 403


def test_tampered_links_get_403_and_write_nothing(
    client: TestClient, world: World, session: Session, clock: Clock
) -> None:
    before = audit_count(session)
    for token in _tampered(world.token):
        _refused_everywhere(client, world, token, clock)
    assert status_of(session, world.item) == "open" and audit_count(session) == before
    assert session.exec(select(ScorecardEntry)).first() is None


def test_expired_link_gets_403_and_writes_nothing(
    client: TestClient, world: World, session: Session, clock: Clock
) -> None:
    _, token = issue_link(session, world.rel, world.contact, actor="test", now=utcnow() - timedelta(days=31))
    session.commit()
    before = audit_count(session)
    _refused_everywhere(client, world, token, clock)
    assert status_of(session, world.item) == "open" and audit_count(session) == before


def test_revoked_link_gets_403_and_writes_nothing(
    client: TestClient, world: World, session: Session, clock: Clock
) -> None:
    assert client.get(f"/portal/{world.token}").status_code == 200
    revoke_link(session, world.token, actor="test")
    session.commit()
    before = audit_count(session)
    _refused_everywhere(client, world, world.token, clock)
    assert status_of(session, world.item) == "open" and audit_count(session) == before


def test_link_of_a_contact_who_left_the_partner_gets_403(
    client: TestClient, world: World, session: Session
) -> None:
    contact = session.get(Contact, world.contact.id)
    assert contact is not None
    contact.partner_id = None
    session.add(contact)
    session.commit()
    assert client.get(f"/portal/{world.token}").status_code == 403


def test_failed_links_are_rate_limited_per_client_and_link(
    client: TestClient, world: World, clock: Clock
) -> None:
    bad = _tampered(world.token)[0]
    for _ in range(LIMIT):
        assert client.get(f"/portal/{bad}").status_code == 403
    assert client.get(f"/portal/{bad}").status_code == 429
    # A colleague behind the same office address, with a good link, is not locked out.
    assert client.get(f"/portal/{world.token}").status_code == 200
    done = client.post(done_url(world, world.item), data={"csrf": csrf(world), "note": "ok"})
    assert done.status_code == 303
    clock.now += 601  # the window has passed
    assert client.get(f"/portal/{bad}").status_code == 403


def test_an_address_spraying_made_up_links_is_refused_everything(
    client: TestClient, world: World, clock: Clock
) -> None:
    for n in range(LIMIT * 10):
        assert client.get(f"/portal/{n:016d}.1.1.1.{'A' * 43}").status_code == 403
    assert client.get(f"/portal/{world.token}").status_code == 429  # even a good link, from this address
    clock.now += 601
    assert client.get(f"/portal/{world.token}").status_code == 200


def test_dashboard_failures_do_not_lock_the_portal(client: TestClient, world: World) -> None:
    for _ in range(LIMIT + 1):
        client.get("/dashboard", headers={"Authorization": "Bearer wrong"})
    assert client.get("/dashboard", headers={"Authorization": "Bearer wrong"}).status_code == 429
    assert client.get(f"/portal/{world.token}").status_code == 200


def test_scores_form_and_submission_for_the_current_period(
    client: TestClient, world: World, session: Session
) -> None:
    form = client.get(f"/portal/{world.token}/scores?lang=en")
    assert form.status_code == 200
    assert form.text.count('<fieldset class="score">') == 12 and "Exit strategy" in form.text
    data = {"csrf": csrf(world), "score-5.1": "4", "score-5.7": "2", "score-5.12": ""}
    response = client.post(f"/portal/{world.token}/scores", data=data)
    assert response.status_code == 303 and "saved=2" in response.headers["location"]
    rows = list(session.exec(select(ScorecardEntry).order_by(col(ScorecardEntry.principle))))
    assert [(r.principle, r.score, r.side, r.period, r.scored_by) for r in rows] == [
        ("5.1", 4, "partner", current_period().name, world.contact.email),
        ("5.7", 2, "partner", current_period().name, world.contact.email),
    ]
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "scorecard.recorded")).one()
    assert event.actor == world.contact.email
    again = client.get(f"/portal/{world.token}/scores")
    assert 'name="score-5.7" value="2" checked' in again.text  # shown back to change
    assert "2 of 12" in client.get(f"/portal/{world.token}?lang=en").text


@pytest.mark.parametrize("value", ["7", "0", "four", "-1"])
def test_bad_scores_get_400_and_write_nothing(
    client: TestClient, world: World, session: Session, value: str
) -> None:
    before = audit_count(session)
    data = {"csrf": csrf(world), "score-5.1": "4", "score-5.2": value}
    assert client.post(f"/portal/{world.token}/scores", data=data).status_code == 400
    assert session.exec(select(ScorecardEntry)).first() is None and audit_count(session) == before


def test_no_scores_at_all_gets_400(client: TestClient, world: World) -> None:
    assert client.post(f"/portal/{world.token}/scores", data={"csrf": csrf(world)}).status_code == 400


def test_payments_show_where_each_stands(client: TestClient, world: World, session: Session) -> None:
    today = current_period().end + timedelta(days=40)
    rows = [
        ("INV-ON-TIME", today - timedelta(days=90), today - timedelta(days=60)),
        ("INV-LATE", today - timedelta(days=200), today - timedelta(days=100)),
        ("INV-OPEN", today - timedelta(days=400), None),
    ]
    for invoice, delivered, paid in rows:
        session.add(
            Payment(
                relationship_id=world.rel.id,  # type: ignore[arg-type]
                invoice_id=invoice,
                delivered_on=delivered,
                invoiced_on=delivered,
                paid_on=paid,
                amount_minor=123456,
                currency="CNY",
            )
        )
    session.commit()
    body = client.get(f"/portal/{world.token}?lang=en").text
    assert "INV-ON-TIME" in body and "paid on time" in body
    assert "paid 40 days late" in body  # 100 days from delivery against 60 due
    assert "overdue by" in body and "1234.56 CNY" in body


def test_output_is_escaped(client: TestClient, session: Session) -> None:
    world = make_world(session, partner_name='<script>alert("p")</script>')
    contact = session.get(Contact, world.contact.id)
    assert contact is not None
    contact.name = "<img src=x onerror=alert(1)>"
    session.add(contact)
    session.commit()
    body = client.get(f"/portal/{world.token}?lang=en").text
    assert "<script>" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(&#34;p&#34;)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_security_headers_on_pages_errors_and_static(client: TestClient, world: World) -> None:
    for response in (
        client.get(f"/portal/{world.token}"),
        client.get("/portal/forged"),
        client.get("/static/app.css"),
        client.post(done_url(world, world.item), data={"note": "no csrf"}),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (response.url, name)
    csp = SECURITY_HEADERS["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_pages_hold_no_script_and_label_every_field(client: TestClient, world: World) -> None:
    for lang in ("en", "zh-CN"):
        for path in (f"/portal/{world.token}", f"/portal/{world.token}/scores"):
            body = client.get(f"{path}?lang={lang}").text
            assert "<script" not in body and " style=" not in body and "<style" not in body
            for field_id in ("note", "link", "file"):
                if path.endswith(world.token):
                    assert f'<label for="{field_id}-{world.item.id}">' in body


def test_root_and_health(client: TestClient) -> None:
    assert client.get("/").headers["location"] == "/work"
    assert client.get("/healthz").text == "ok"
    assert "text/css" in client.get("/static/app.css").headers["content-type"]


def test_the_partner_sees_the_minutes_we_asked_this_year_against_our_budget(
    client: TestClient, world: World, session: Session
) -> None:
    from models.core.calendar import today_local

    today = today_local()
    world.rel.signed_on = today - timedelta(days=30)
    for row, minutes in ((world.item, 15), (world.joint, 10)):
        row.asked_on, row.effort_minutes = today - timedelta(days=30), minutes
        session.add(row)
    session.add(world.rel)
    session.commit()
    english = client.get(f"/portal/{world.token}?lang=en").text
    assert "In year 1 of our relationship" in english
    assert "we have asked about 25 minutes of your time, of the 320 minutes we committed to" in english
    assert "at most 6 messages a month" in english
    chinese = client.get(f"/portal/{world.token}?lang=zh-CN").text
    assert "已占用您约 25 分钟" in chinese and "“标准”治理等级" in chinese and "上限是 320 分钟" in chinese


def test_an_item_due_today_says_so(client: TestClient, world: World, session: Session) -> None:
    from models.core.calendar import today_local

    world.item.due_on = today_local()
    session.add(world.item)
    session.commit()
    chinese = client.get(f"/portal/{world.token}?lang=zh-CN").text
    assert "今天到期" in chinese and "还有 0 天" not in chinese


def test_the_scoring_form_asks_about_the_period_of_the_rating_to_do(
    client: TestClient, world: World, session: Session
) -> None:
    from models.portal.links import RATING_ITEM
    from tests.support import factories as f

    rating = f.item(session, world.rel, due_on=world.item.due_on, key=RATING_ITEM, stage="review")
    rating.owner_side, rating.owner_role, rating.period = "partner", "partner_contact", "2025Q2"
    session.add(rating)
    session.commit()
    assert "2025Q2" in client.get(f"/portal/{world.token}/scores?lang=en").text
    assert "2025Q2" in client.get(f"/portal/{world.token}?lang=en").text
    response = client.post(f"/portal/{world.token}/scores", data={"csrf": csrf(world), "score-5.7": "3"})
    assert response.status_code == 303
    [entry] = session.exec(select(ScorecardEntry)).all()
    assert entry.period == "2025Q2"
    assert status_of(session, rating) == "done"  # the scores answered the to-do: no second click


def test_the_partner_sees_its_review_without_our_internal_actions(
    client: TestClient, world: World, session: Session
) -> None:
    from datetime import date

    from models.reviews.sweep import resolve_scope, review_batch
    from models.tables import ReviewAction
    from tests.models.reviews.review_data import invoice, scores

    invoice(session, world.rel, "INV-77", delivered=date(2026, 8, 1), paid=date(2026, 11, 2))  # 93 days
    scores(session, world.rel, "2026Q4", "partner", {"5.7": 2})
    scores(session, world.rel, "2026Q4", "ours", {"5.7": 4})
    review_batch(session, [world.rel.id], resolve_scope("2026Q4", date(2027, 1, 5)))  # type: ignore[list-item]
    session.commit()
    actions = session.exec(select(ReviewAction)).all()
    assert actions  # the late invoice is escalated to our sponsor: that stays with us
    home = client.get(f"/portal/{world.token}?lang=en").text
    assert f"/portal/{world.token}/review" in home
    page = client.get(f"/portal/{world.token}/review?lang=en")
    assert page.status_code == 200
    body = page.text
    assert "2026Q4" in body and "93 at worst" in body and "INV-77 (33)" in body  # 33 days past due
    assert "Trust and commitment to mutual benefit" in body and "-2" in body  # yours 2, ours 4
    for action in actions:
        assert action.title["en"] not in body
    assert "sponsor" not in body.lower() and "health" not in body.lower()
    chinese = client.get(f"/portal/{world.token}/review?lang=zh-CN").text
    assert "信任与互惠互利承诺" in chinese and "您的评分" in chinese
