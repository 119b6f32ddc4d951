"""The reminder sweep: one digest per recipient per day, grouped; cadence; escalation; closed items stop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models.tables import ChecklistItem, MessageStatus, OutboxMessage
from notifications.outbox import refresh_reminder
from notifications.reminders import sweep
from tests.support import factories as f

MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 02:00 UTC
TUESDAY = MONDAY + timedelta(days=1)
TODAY = date(2026, 3, 2)


@pytest.fixture(autouse=True)
def _smtp(smtp_settings: Callable[..., None]) -> None:
    """Every contact is reachable by email (the SMTP server is real but nothing is sent here)."""


def messages(session: Session) -> dict[int | str | None, OutboxMessage]:
    return {m.recipient_id or m.team: m for m in session.exec(select(OutboxMessage))}


def test_one_digest_per_recipient_grouped_by_relationship_and_rerun_queues_nothing(session: Session) -> None:
    alpha = f.relationship(session, partner_name="Alpha")
    beta = f.relationship(session, partner_name="Beta")
    beta.manager_id = alpha.manager_id
    f.item(
        session, alpha, due_on=TODAY - timedelta(days=2), title={"en": "Sign NDA", "zh-CN": "签署保密协议"}
    )
    f.item(
        session, alpha, due_on=TODAY + timedelta(days=3), title={"en": "Bank details", "zh-CN": "银行信息"}
    )
    f.item(session, beta, due_on=TODAY, title={"en": "Kick-off notes", "zh-CN": "启动纪要"})
    f.item(session, beta, due_on=TODAY + timedelta(days=30))  # not due soon: not listed
    session.commit()
    report = sweep(session, as_of=MONDAY)
    session.commit()
    assert report.queued == 1 and report.items == 3
    digest = messages(session)[alpha.manager_id]
    assert (
        digest.kind == "digest"
        and digest.period == "2026-03-02"
        and sorted(digest.item_ids) == digest.item_ids
    )
    text = digest.body_text
    assert text.index("Alpha") < text.index("Sign NDA") < text.index("Bank details") < text.index("Beta")
    assert "overdue 2 days" in text and "in 3 days" in text and "Kick-off notes" in text
    assert "3 to act on" in digest.subject
    again = sweep(session, as_of=MONDAY + timedelta(hours=3))
    session.commit()
    assert again.queued == 0 and again.already_queued == 1
    assert len(session.exec(select(OutboxMessage)).all()) == 1


def test_a_single_item_uses_its_own_kind_in_the_recipients_language(session: Session) -> None:
    rel = f.relationship(session, tier="enhanced")
    f.item(
        session,
        rel,
        due_on=TODAY - timedelta(days=1),
        owner_role="partner_contact",
        title={"en": "Sign NDA", "zh-CN": "签署保密协议"},
    )
    session.commit()
    sweep(session, as_of=MONDAY)
    message = messages(session)[rel.partner_contact_id]
    assert message.kind == "item_overdue" and message.subject == "Our organization：已逾期：签署保密协议"
    assert "已逾期 1 天" in message.body_text


def test_partner_cadence_follows_the_tier_but_staff_get_weekday_digests(session: Session) -> None:
    light = f.relationship(session, tier="light")
    standard = f.relationship(session, tier="standard")
    enhanced = f.relationship(session, tier="enhanced")
    for rel in (light, standard, enhanced):
        f.item(session, rel, due_on=TODAY + timedelta(days=1), owner_role="partner_contact")
        f.item(session, rel, due_on=TODAY + timedelta(days=1), owner_role="manager")
    session.commit()
    tuesday = sweep(session, as_of=TUESDAY)
    session.commit()
    queued = messages(session)
    assert enhanced.partner_contact_id in queued  # daily
    assert light.partner_contact_id not in queued and standard.partner_contact_id not in queued
    assert {light.manager_id, standard.manager_id, enhanced.manager_id} <= set(queued)
    assert tuesday.not_today == 2
    sweep(session, as_of=MONDAY + timedelta(days=7))  # the next Monday: every partner
    assert {light.partner_contact_id, standard.partner_contact_id} <= set(messages(session))


@pytest.mark.parametrize(
    ("tier", "days_overdue", "deputy", "sponsor"),
    [
        ("light", 13, False, False),
        ("light", 14, True, False),
        ("light", 30, True, True),
        ("standard", 7, True, False),
        ("standard", 21, True, True),
        ("enhanced", 2, False, False),
        ("enhanced", 3, True, False),
        ("enhanced", 10, True, True),
    ],
)
def test_overdue_items_escalate_to_deputy_then_sponsor_by_tier(
    session: Session, tier: str, days_overdue: int, deputy: bool, sponsor: bool
) -> None:
    rel = f.relationship(session, tier=tier)
    f.item(session, rel, due_on=TODAY - timedelta(days=days_overdue), owner_role="partner_contact")
    session.commit()
    report = sweep(session, as_of=MONDAY)
    queued = messages(session)
    assert (rel.deputy_id in queued) is deputy and (rel.sponsor_id in queued) is sponsor
    assert report.escalations == int(deputy) + int(sponsor)
    if deputy:
        escalation = queued[rel.deputy_id]
        assert escalation.kind == "escalation" and "escalated to you" in escalation.body_text


def test_without_a_deputy_escalation_goes_to_the_manager(session: Session) -> None:
    rel = f.relationship(session, tier="standard", with_deputy=False)
    f.item(session, rel, due_on=TODAY - timedelta(days=8), owner_role="partner_contact")
    session.commit()
    sweep(session, as_of=MONDAY)
    assert messages(session)[rel.manager_id].kind == "escalation"


def test_done_or_waived_items_stop_reminders_at_once_even_when_already_queued(session: Session) -> None:
    rel = f.relationship(session)
    nda = f.item(session, rel, due_on=TODAY - timedelta(days=1), title={"en": "Sign NDA", "zh-CN": "保密"})
    bank = f.item(
        session, rel, due_on=TODAY + timedelta(days=1), title={"en": "Bank details", "zh-CN": "银行"}
    )
    f.item(session, rel, due_on=TODAY, status="done")
    f.item(session, rel, due_on=TODAY, status="waived")
    session.commit()
    assert sweep(session, as_of=MONDAY).items == 2  # closed items are never read
    digest = messages(session)[rel.manager_id]
    assert digest.kind == "digest"
    nda.status = "done"
    session.add(nda)
    session.commit()
    assert refresh_reminder(session, digest)  # re-checked before sending: only the open item is left
    assert (
        digest.kind == "item_due_soon" and "Sign NDA" not in digest.body_text and digest.item_ids == [bank.id]
    )
    bank.status = "waived"
    session.add(bank)
    assert not refresh_reminder(session, digest)
    assert digest.status == MessageStatus.cancelled.value


def test_team_items_go_to_the_team_digest_from_the_apprise_config(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_receiver: object
) -> None:
    config = tmp_path / "apprise.yml"
    config.write_text(
        f"urls:\n  - json://127.0.0.1:{http_receiver.port}/finance/TEAMTOKEN1:\n      tag: finance\n"
    )  # type: ignore[attr-defined]
    monkeypatch.setenv("TANDEM_APPRISE_CONFIG", str(config))
    f.get_settings_clear()
    rel = f.relationship(session)
    f.item(session, rel, due_on=TODAY + timedelta(days=2), owner_role="team:finance")
    f.item(session, rel, due_on=TODAY + timedelta(days=2), owner_role="team:legal")  # no channel: unreachable
    session.commit()
    report = sweep(session, as_of=MONDAY)
    assert "finance" in messages(session) and report.unreachable == 1


def test_dry_run_plans_without_queueing(session: Session) -> None:
    rel = f.relationship(session)
    f.item(session, rel, due_on=TODAY)
    session.commit()
    report = sweep(session, as_of=MONDAY, dry_run=True)
    assert report.digests[0]["status"] == "would queue" and not messages(session)
    assert session.exec(select(ChecklistItem)).first() is not None
