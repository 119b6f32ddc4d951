"""Events from the real flows under a real Prefect server, delivered to a receiver that checks signatures:
onboarding with the sponsor's approval, governance, activation and exit, and the quarterly review."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from flows.exit_relationship import exit_relationship
from flows.onboard_partner import onboard_partner
from flows.quarterly_review import quarterly_review
from flows.setup_governance import setup_governance
from models.checklists.generation import mark_done, open_required
from models.core.db import get_engine, session_scope
from notifications.delivery import deliver_due
from tests.flows.test_lifecycle_flows import request
from tests.models.reviews.review_data import active_relationship, invoice
from tests.support.servers import HttpReceiver
from tests.support.webhooks import checking, subscribe

pytestmark = pytest.mark.usefixtures("prefect_server", "schema")


@pytest.fixture
def receiver(http_receiver: HttpReceiver) -> HttpReceiver:
    """The receiver, subscribed to every event type, refusing any delivery it cannot verify."""
    http_receiver.verify = checking()
    with Session(get_engine(), expire_on_commit=False) as session:
        subscribe(session, http_receiver)
    return http_receiver


def _close_required(stage: str) -> None:
    with session_scope() as s:
        for item in open_required(s, 1, stage):
            mark_done(s, item.id, by="rm@ours.example", evidence="done in test")  # type: ignore[arg-type]


def _received(receiver: HttpReceiver) -> list[tuple[str, str | None, str | None]]:
    """Deliver what is due and return (type, from, to) of every event received, in the order they happened."""
    deliver_due()
    assert receiver.unverified == 0 and receiver.refused == 0
    events = sorted(receiver.bodies(), key=lambda e: e["time"])
    return [(e["type"], e["data"].get("from"), e["data"].get("to")) for e in events]


def test_the_lifecycle_flows_send_each_change_once(receiver: HttpReceiver) -> None:
    onboard_partner(request(approve_as="vp@ours.example"))
    onboard_partner(request(approve_as="vp@ours.example"))  # a rerun changes nothing, and says nothing
    _close_required("onboarding")
    setup_governance("1")
    _close_required("governance")
    setup_governance("1")
    exit_relationship(
        "1", reason="product line discontinued", trigger="strategy-change", by="vp@ours.example"
    )
    _close_required("exit")
    exit_relationship(
        "1", reason="product line discontinued", trigger="strategy-change", by="vp@ours.example"
    )
    assert _received(receiver) == [
        ("com.tandem.approval.approved", None, None),
        ("com.tandem.relationship.stage_changed", "proposed", "onboarding"),
        ("com.tandem.relationship.stage_changed", "onboarding", "governance"),
        ("com.tandem.relationship.stage_changed", "governance", "active"),
        ("com.tandem.relationship.stage_changed", "active", "exiting"),
        ("com.tandem.relationship.stage_changed", "exiting", "exited"),
        ("com.tandem.relationship.exit_completed", None, None),
    ]
    done = next(e for e in receiver.bodies() if e["type"] == "com.tandem.relationship.exit_completed")
    assert (
        done["data"]["exit"]["trigger"] == "strategy-change"
        and done["data"]["relationship"]["stage"] == "exited"
    )
    assert len(_received(receiver)) == 7  # nothing more to send


def test_the_quarterly_review_flow_sends_reviews_and_each_overdue_invoice_once(
    receiver: HttpReceiver,
) -> None:
    with Session(get_engine(), expire_on_commit=False) as session:
        late = active_relationship(session, term_days=30)
        active_relationship(session)
        invoice(session, late, "INV-9", delivered=date(2026, 10, 1), paid=None)
    quarterly_review(period="2026Q4", as_of=date(2027, 1, 5))
    quarterly_review(period="2026Q4", as_of=date(2027, 1, 5))  # a rerun finds every review done
    received = _received(receiver)
    assert sorted(t for t, _, _ in received) == [
        "com.tandem.payment.overdue",
        "com.tandem.review.completed",
        "com.tandem.review.completed",
    ]
    overdue = next(e for e in receiver.bodies() if e["type"] == "com.tandem.payment.overdue")
    assert (
        overdue["data"]["invoice"]["invoice_id"] == "INV-9"
        and overdue["data"]["invoice"]["days_overdue"] == 66
    )
