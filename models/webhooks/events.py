"""Outbound events: CloudEvents 1.0, queued in the outbox in the transaction of the change that caused them.

Each event is stored once per subscription that wants its type (kind `webhook`, keyed by event id and
subscription: `ON CONFLICT DO NOTHING`), so a rolled-back change sends nothing and a repeated one sends
nothing twice. Events with a natural key (a stage change, a review, an overdue invoice, an exit) get an
id derived from it, so the same fact is never announced twice, even by a rerun or a later sweep. The
`data` of each type is documented with an example in docs/WEBHOOKS.md.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from sqlmodel import Session, select

from models.core.base import id_of, utcnow
from models.core.db import insert_rows, table_of
from models.core.settings import get_settings
from models.core.vocabulary import EventType
from models.tables import (
    Approval,
    ExitPlan,
    MessageStatus,
    OutboxMessage,
    Partner,
    Relationship,
    WebhookSubscription,
)
from models.tables.webhooks import WEBHOOK_KIND
from models.webhooks.subscriptions import active_subscriptions

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


@dataclass(frozen=True)
class Event:
    """One thing that happened, before it is addressed to subscribers."""

    type: EventType
    subject: str
    data: dict[str, Any]
    natural_key: str | None = None  # the same fact gives the same id; None: a fresh id
    relationship_id: int | None = None
    time: datetime = field(default_factory=utcnow)


def event_source() -> str:
    """Return the CloudEvents `source` of this installation."""
    settings = get_settings()
    return settings.event_source or settings.portal_base_url


def event_id(event: Event, source: str) -> str:
    """Return the event's id: derived from its natural key (stable), else random."""
    if event.natural_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}#{event.type.value}/{event.natural_key}"))


def _rfc3339(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cloud_event(event: Event, source: str) -> dict[str, Any]:
    """Return the event as a CloudEvents 1.0 structured-mode JSON object."""
    return {
        "specversion": "1.0",
        "id": event_id(event, source),
        "source": source,
        "type": event.type.value,
        "subject": event.subject,
        "time": _rfc3339(event.time),
        "datacontenttype": "application/json",
        "data": event.data,
    }


def delivery_key(subscription_id: int, cloud_event_id: str) -> str:
    """Return the outbox key (and `webhook-id`) of one event to one subscription."""
    return hashlib.sha256(f"webhook\x1f{subscription_id}\x1f{cloud_event_id}".encode()).hexdigest()


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _row(
    event: Event, body: str, ce_id: str, subscription_id: int, kind: str, now: datetime
) -> dict[str, Any]:
    return {
        "key": delivery_key(subscription_id, ce_id),
        "kind": kind,
        "recipient_id": None,
        "team": None,
        "webhook_id": subscription_id,
        "relationship_id": event.relationship_id,
        "period": "",
        "language": "",
        "subject": event.type.value,
        "body_text": body,
        "body_html": "",
        "attachments": [],
        "item_ids": [],
        "context": {},
        "status": MessageStatus.queued.value,
        "attempts": 0,
        "next_attempt_at": now,
        # Systems, not people: no quiet hours, and not part of any partner's message budget.
        "not_before": None,
        "lease_until": None,
        "claim_token": None,
        "last_error": None,
        "cancelled_reason": None,
        "sent_at": None,
        "created_at": now,
        "updated_at": now,
    }


def queue_events(
    session: Session,
    events: Sequence[Event],
    *,
    subscriptions: Sequence[WebhookSubscription] | None = None,
    every_type: bool = False,
    kind: str = WEBHOOK_KIND,
) -> list[int]:
    """Queue each event once for each subscription that wants its type; return the outbox ids queued now.

    `subscriptions` defaults to every active one (pass them when already read); `every_type` sends
    every event whatever the subscriptions asked for (the test event, to the one subscription tested).
    """
    chosen = active_subscriptions(session) if subscriptions is None else subscriptions
    if not events or not chosen:
        return []
    source, now = event_source(), utcnow()
    rows = []
    for event in events:
        wanting = [s for s in chosen if every_type or s.wants(event.type.value)]
        if not wanting:
            continue
        envelope = cloud_event(event, source)
        # Serialized once: every subscriber gets the same bytes, and a retry resends exactly them.
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=_json_default)
        rows += [_row(event, body, envelope["id"], id_of(s), kind, now) for s in wanting]
    table = table_of(OutboxMessage)
    found = insert_rows(session, table, rows, on_conflict="ON CONFLICT (key) DO NOTHING", returning=("id",))
    return [int(i) for (i,) in found]


def subscribers(session: Session, *types: EventType) -> list[WebhookSubscription]:
    """Return the active subscriptions if any receives one of these types, else none (nothing to build)."""
    active = active_subscriptions(session)
    return active if any(s.wants(t.value) for s in active for t in types) else []


# ---------------------------------------------------------------- the events


def relationship_ref(rel: Relationship, partner: Partner) -> dict[str, Any]:
    """Return the relationship block every relationship event carries."""
    return {
        "id": rel.id,
        "key": rel.key,
        "stage": rel.stage,
        "tier": rel.tier,
        "partner": {
            "id": partner.id,
            "legal_name": partner.legal_name,
            "registration_id": partner.registration_id,
            "country": partner.country,
        },
    }


def _ref(session: Session, rel: Relationship) -> dict[str, Any]:
    partner = session.get(Partner, rel.partner_id)
    assert partner is not None  # foreign key
    return relationship_ref(rel, partner)


def emit_stage_change(
    session: Session, rel: Relationship, *, from_stage: str, actor: str, reason: str | None
) -> None:
    """Queue `stage_changed` for a change just made (and `exit_completed` when it reached exited)."""
    exited = rel.stage == "exited"
    types = (EventType.stage_changed, EventType.exit_completed) if exited else (EventType.stage_changed,)
    subscriptions = subscribers(session, *types)
    if not subscriptions:
        return
    ref = _ref(session, rel)
    subject = f"relationships/{rel.id}"
    events = [
        Event(
            EventType.stage_changed,
            subject,
            {
                "relationship": ref,
                "from": from_stage,
                "to": rel.stage,
                "reason": reason,
                "actor": actor,
                "changed_at": rel.stage_changed_at,
            },
            # The lifecycle has no cycles: a relationship makes each change at most once.
            natural_key=f"{rel.id}/{from_stage}/{rel.stage}",
            relationship_id=rel.id,
        )
    ]
    if exited:
        events.append(_exit_completed(session, rel, ref, subject))
    queue_events(session, events, subscriptions=subscriptions)


def _exit_completed(session: Session, rel: Relationship, ref: dict[str, Any], subject: str) -> Event:
    plan = session.exec(select(ExitPlan).where(ExitPlan.relationship_id == rel.id)).first()
    exit_data = None
    if plan is not None:
        exit_data = {
            "trigger": plan.exit_trigger,
            "reason": plan.exit_reason,
            "started_on": plan.exit_started_on,
            "notice_days": plan.notice_days,
            "notice_ends_on": plan.notice_ends_on,
            "final_payment_due_on": plan.final_payment_due_on,
        }
    return Event(
        EventType.exit_completed,
        subject,
        {"relationship": ref, "exit": exit_data, "exited_at": rel.stage_changed_at},
        natural_key=str(rel.id),
        relationship_id=rel.id,
    )


def emit_approval(session: Session, rel: Relationship, approval: Approval) -> None:
    """Queue `approval.approved` or `approval.rejected` for a decision just recorded."""
    kind = EventType.approved if approval.decision == "approve" else EventType.rejected
    subscriptions = subscribers(session, kind)
    if not subscriptions:
        return
    data = {
        "relationship": _ref(session, rel),
        "approval": {
            "kind": approval.kind,
            "decision": approval.decision,
            "decided_by": approval.decided_by,
            "tier": approval.tier,
            "proposed_tier": rel.tier_proposed,
            "comment": approval.comment,
            "decided_at": approval.decided_at,
        },
    }
    # A fresh id: a sponsor may change a decision while the relationship is still proposed.
    event = Event(kind, f"relationships/{rel.id}", data, relationship_id=rel.id)
    queue_events(session, [event], subscriptions=subscriptions)


def review_completed(ref: dict[str, Any], review: dict[str, Any]) -> Event:
    """Return `review.completed` for a review the sweep just finished (health, escalations, actions)."""
    return Event(
        EventType.review_completed,
        f"relationships/{ref['id']}/reviews/{review['period']}",
        {"relationship": ref, "review": review},
        natural_key=f"{ref['id']}/{review['period']}",
        relationship_id=ref["id"],
    )


def payment_overdue(ref: dict[str, Any], invoice: dict[str, Any], *, as_of: date) -> Event:
    """Return `payment.overdue` for an unpaid invoice past its due date: once per invoice, ever."""
    return Event(
        EventType.payment_overdue,
        f"relationships/{ref['id']}/invoices/{quote(str(invoice['invoice_id']), safe='')}",
        {"relationship": ref, "invoice": invoice, "as_of": as_of},
        natural_key=f"{ref['id']}/{invoice['invoice_id']}",
        relationship_id=ref["id"],
    )


def webhook_test_event(subscription: WebhookSubscription, *, actor: str) -> Event:
    """Return the `webhook.test` event for one subscription."""
    return Event(
        EventType.webhook_test,
        f"webhooks/{subscription.id}",
        {"webhook_id": subscription.id, "sent_by": actor, "note": "a test event from `tandem webhook test`"},
    )
