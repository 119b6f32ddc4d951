"""Lifecycle flows under a real Prefect server: approval pause and resume, rejection, reruns, full path."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from deployments.approvals import decide_onboarding
from flows.exit_relationship import exit_relationship
from flows.onboard_partner import OnboardingRequest, onboard_partner
from flows.setup_governance import setup_governance
from models.checklists.generation import items_of, mark_done, open_required
from models.checklists.library import clear_library_cache
from models.core.db import get_engine, session_scope
from models.core.settings import get_settings
from models.lifecycle.machine import ApprovalDecision
from models.partners.registry import PartnerCreate
from models.tables import (
    Approval,
    AuditEvent,
    ChecklistItem,
    Contact,
    Document,
    ExitPlan,
    Partner,
    Relationship,
    Risk,
)
from models.tables.outbox import OutboxMessage

pytestmark = pytest.mark.usefixtures("prefect_server", "schema", "smtp_configured")


@pytest.fixture
def smtp_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configure an SMTP server so email is a channel (nothing is delivered in these tests)."""
    monkeypatch.setenv("TANDEM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TANDEM_SMTP_PORT", "2525")
    get_settings.cache_clear()


NEW_PARTNER = PartnerCreate(
    legal_name="成都巧手包装有限公司",
    registration_id="91510100MA6QT99997",
    country="CN",
    industry="industry",
    employees=18,
    annual_revenue=4_000_000,
    currency="CNY",
    preferred_language="zh-CN",
)


def request(**overrides: Any) -> OnboardingRequest:
    """Build an onboarding request for the new sample partner."""
    fields: dict[str, Any] = {
        "new_partner": NEW_PARTNER,
        "manager": "rm@ours.example",
        "deputy": "dep@ours.example",
        "sponsor": "vp@ours.example",
        "partner_contact": "liu@qiaoshou.example",
        "backup_contact": "wang@qiaoshou.example",
        "criticality": "medium",
        "dependency_ratio": 0.35,
        "payment_term_days": 45,
        "objectives": {"ours": ["on-time packaging"], "partner": ["steady volume"]},
        "approval_poll_seconds": 1,
    }
    return OnboardingRequest(**{**fields, **overrides})


def count(model: Any) -> int:
    with Session(get_engine()) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def _wait_for_pause(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(get_engine()) as s:
            if s.exec(select(AuditEvent).where(AuditEvent.action == "onboarding.awaiting_approval")).first():
                time.sleep(1.5)  # let the run reach its Paused state after the audit write
                return
        time.sleep(0.2)
    raise AssertionError("onboarding never asked for approval")


def _run_in_thread(req: OnboardingRequest) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = onboard_partner(req)
        except BaseException as exc:  # surfaced by the test's assertion on `out`
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def test_onboarding_pauses_for_the_sponsor_and_resumes_with_typed_input() -> None:
    thread, out = _run_in_thread(request())
    _wait_for_pause()
    with Session(get_engine()) as s:
        assert s.exec(select(Relationship)).one().stage == "proposed"
        asked = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "approval_request")).one()
        assert "/act/" in asked.body_text and "tandem approve" not in asked.body_text
        assert s.exec(select(Relationship)).one().awaiting_run_id is not None  # the run waits
    decided = decide_onboarding(
        "1",
        ApprovalDecision(
            decision="approve", by="vp@ours.example", tier="enhanced", comment="strategic packaging supplier"
        ),
    )
    assert decided["outcome"] == "resumed"
    thread.join(timeout=90)
    assert "error" not in out, out.get("error")
    assert out["result"]["outcome"] == "onboarding"
    with Session(get_engine()) as s:
        rel = s.exec(select(Relationship)).one()
        assert (rel.stage, rel.tier, rel.tier_override_reason) == (
            "onboarding",
            "enhanced",
            "strategic packaging supplier",
        )
        assert rel.size_class == "micro" and rel.signed_on is not None
        assert rel.awaiting_run_id is None  # decided: nothing waits
        assert s.exec(select(ExitPlan)).one().notice_days == 90  # dependency 0.35
        welcomes = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "welcome")).all()
        assert len(welcomes) == 2
        assert any("欢迎" in m.subject or "欢迎" in m.body_text for m in welcomes)  # partner's language
    with Session(get_engine()) as s:
        assert items_of(s, 1, stage="onboarding")


def test_rejection_leaves_the_relationship_proposed_with_the_reason() -> None:
    thread, out = _run_in_thread(request())
    _wait_for_pause()
    decide_onboarding(
        "1",
        ApprovalDecision(
            decision="reject", by="vp@ours.example", comment="dependency too high for this category"
        ),
    )
    thread.join(timeout=90)
    # Nothing stays asked and nothing unsent goes out: the sponsor's approval request is withdrawn.
    assert out["result"] == {
        "relationship_id": 1,
        "outcome": "rejected",
        "reason": "dependency too high for this category",
        "stage": "proposed",
        "items_cancelled": 0,
        "reminders_cancelled": 0,
        "messages_cancelled": 1,
    }
    with Session(get_engine()) as s:
        assert s.exec(select(Relationship)).one().stage == "proposed"
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "onboarding.rejected")).one()
        assert audit.reason == "dependency too high for this category"
    assert count(ChecklistItem) == 0


def test_only_the_sponsor_can_approve() -> None:
    result = onboard_partner(request(wait_for_approval=False))
    assert result["outcome"] == "awaiting-approval"
    from models.core.errors import InputRejected

    with pytest.raises(InputRejected, match="not the executive sponsor"):
        decide_onboarding("1", ApprovalDecision(decision="approve", by="rm@ours.example"))
    assert count(Approval) == 0
    result = decide_onboarding("1", ApprovalDecision(decision="approve", by="vp@ours.example"))
    assert result["outcome"] == "onboarding" and result["tier"] == "light"  # micro partner


def test_running_twice_leaves_one_relationship_and_one_checklist() -> None:
    first = onboard_partner(request(approve_as="vp@ours.example"))
    items = count(ChecklistItem)
    second = onboard_partner(request(approve_as="vp@ours.example"))
    assert first["relationship_id"] == second["relationship_id"] == 1
    assert (count(Relationship), count(Partner), count(ChecklistItem), count(ExitPlan)) == (1, 1, items, 1)
    assert count(OutboxMessage) == 2  # the welcome messages, queued once


def test_a_failed_run_is_rerun_to_completion_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "overlay"
    broken.mkdir()
    (broken / "bad.yaml").write_text("id: acme.bad\nclause: '5.99'\n", encoding="utf-8")
    monkeypatch.setenv("TANDEM_LIBRARY_OVERLAY", str(broken))
    get_settings.cache_clear()
    clear_library_cache()
    with pytest.raises(Exception, match="bad.yaml: clause"):
        onboard_partner(request(approve_as="vp@ours.example"))
    assert (count(Relationship), count(ChecklistItem)) == (1, 0)  # opened, then the checklist step failed
    monkeypatch.delenv("TANDEM_LIBRARY_OVERLAY")
    get_settings.cache_clear()
    clear_library_cache()
    result = onboard_partner(request(approve_as="vp@ours.example"))
    assert result["outcome"] == "onboarding"
    assert (count(Relationship), count(Partner), count(Approval), count(ExitPlan)) == (1, 1, 1, 1)


def _close_required(stage: str, by: str = "rm@ours.example") -> None:
    with session_scope() as s:
        for item in open_required(s, 1, stage):
            mark_done(s, item.id, by=by, evidence="done in test")  # type: ignore[arg-type]


def test_full_path_proposed_to_exited() -> None:
    assert onboard_partner(request(approve_as="vp@ours.example"))["stage"] == "onboarding"
    from models.core.errors import TransitionRefused

    with pytest.raises(TransitionRefused, match="onboarding is not complete"):
        setup_governance("1")
    _close_required("onboarding")
    governed = setup_governance("1")
    assert governed["stage"] == "governance" and governed["risks_seeded"] == 4
    with Session(get_engine()) as s:
        docs = {(d.language, d.fmt): d.content for d in s.exec(select(Document))}
        assert set(docs) == {("en", "md"), ("en", "html"), ("zh-CN", "md"), ("zh-CN", "html")}
        assert "Escalation ladder" in docs["en", "md"] and "问题上报路径" in docs["zh-CN", "md"]
        assert "45 days" in docs["en", "md"]
        risks = {r.key: r.created_by_side for r in s.exec(select(Risk))}
        assert risks == {
            "dependency": "ours",
            "late-payment": "ours",
            "key-person": "joint",
            "volume-swings": "ours",
        }
    _close_required("governance")
    active = setup_governance("1")
    assert active["stage"] == "active" and active["next_review_on"]
    exiting = exit_relationship(
        "1", reason="product line discontinued", trigger="strategy-change", by="vp@ours.example"
    )
    assert exiting["stage"] == "exiting" and exiting["notice_days"] == 90 and exiting["exit_items"] > 0
    with Session(get_engine()) as s:
        exit_keys = {i.item_key for i in items_of(s, 1, stage="exit")}
        notices = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "exit_notice")).all()
    assert any("final-payment" in k for k in exit_keys) and any("sign-off" in k for k in exit_keys)
    assert len(notices) == 5  # manager, deputy, sponsor, partner contact, backup
    assert (
        exit_relationship(
            "1", reason="product line discontinued", trigger="strategy-change", by="vp@ours.example"
        )["stage"]
        == "exiting"
    )
    _close_required("exit")
    done = exit_relationship(
        "1", reason="product line discontinued", trigger="strategy-change", by="vp@ours.example"
    )
    assert done["stage"] == "exited"
    with Session(get_engine()) as s:
        stages = [
            e.data["to"] for e in s.exec(select(AuditEvent).where(AuditEvent.action == "relationship.stage"))
        ]
    assert stages == ["onboarding", "governance", "active", "exiting", "exited"]


def test_an_unanswered_approval_times_out_and_the_manager_is_told() -> None:
    from prefect.exceptions import FlowPauseTimeout

    with pytest.raises(FlowPauseTimeout):
        onboard_partner(request(approval_timeout_hours=0.001, approval_poll_seconds=1))  # 3.6 s
    with Session(get_engine()) as s:
        assert s.exec(select(Relationship)).one().stage == "proposed"
        told = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "escalation")).one()
        manager = s.exec(select(Contact).where(Contact.email == "rm@ours.example")).one()
    assert told.recipient_id == manager.id and "vp@ours.example" in told.body_text
