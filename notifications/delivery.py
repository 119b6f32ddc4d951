"""Delivery: claim due outbox messages, send each to each target, record every target's result.

The duplicate window (docs/NOTIFICATIONS.md): target results are committed as they land (small
groups). A crash between a send and its commit leaves the message `sending` with its lease running;
when the lease runs out the next run takes it over and resends only to targets not recorded `sent`,
so only the sends in flight at the crash (at most `max_workers`) can arrive twice. A TIMEOUT
("unknown") is retried too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.core.base import utcnow
from models.core.db import session_scope
from models.core.errors import DeliveryError, DeliveryUnknown, InputRejected, NotFound
from models.partners.registry import find_contact
from models.tables import Contact, DeliveryStatus, MessageStatus, OutboxDelivery, OutboxMessage
from notifications.channels import (
    Outgoing,
    RateLimiter,
    SmtpConfig,
    Target,
    send,
    shared_limiter,
    smtp_config,
)
from notifications.outbox import (
    LEASE,
    MAX_ATTEMPTS,
    attachments_of,
    backoff,
    claim,
    deliveries_of,
    manager_of,
    queue,
    queue_message,
    refresh_reminder,
    send_window,
    targets_of,
)

log = logging.getLogger("tandem.notifications")
GROUP_COMMIT_SECONDS = 0.0
# Operational kinds never report their own failure (no dead-letter loops).
_NO_REPORT = frozenset({"delivery_failed", "channel_test"})


@dataclass
class DeliveryReport:
    """What one delivery run did, in counts (masked errors only)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0
    targets_sent: int = 0
    targets_failed: int = 0
    targets_unknown: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        """Add another report's counts to this one."""
        for name in ("claimed", "sent", "failed", "dead", "cancelled", "targets_sent", "targets_failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.targets_unknown += other.targets_unknown
        self.errors = (self.errors + other.errors)[:20]

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        return dict(self.__dict__)


@dataclass
class _Prepared:
    """One claimed message, ready to send: what to send, to which targets, and what is already sent."""

    message_id: int
    kind: str
    attempts: int
    timezone: str | None
    outgoing: Outgoing
    pending: list[tuple[Target, int, int]]  # target, delivery id, delivery attempts so far
    already_sent: int
    total_targets: int
    outcomes: dict[int, tuple[DeliveryStatus, str]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Return whether every pending target has an outcome."""
        return len(self.outcomes) == len(self.pending)


NO_CHANNEL = "no channel to send to: set TANDEM_SMTP_HOST, or give the recipient a chat channel"


def _prepare(
    session: Session,
    message: OutboxMessage,
    targets: list[Target],
    known: dict[str, OutboxDelivery],
    timezone: str | None,
) -> _Prepared:
    fresh = [
        OutboxDelivery(
            message_id=message.id,  # type: ignore[arg-type]
            target_hash=t.hash,
            channel=t.channel,
            target_masked=t.shown[:300],
        )
        for t in targets
        if t.hash not in known
    ]
    session.add_all(fresh)
    known = known | {d.target_hash: d for d in fresh}
    rows = [(t, known[t.hash]) for t in targets]
    return _Prepared(
        message_id=message.id,  # type: ignore[arg-type]
        kind=message.kind,
        attempts=message.attempts,
        timezone=timezone,
        outgoing=Outgoing(message.subject, message.body_text, message.body_html, attachments_of(message)),
        pending=[(t, d, d.attempts) for t, d in rows if d.status != DeliveryStatus.sent.value],  # type: ignore[misc]
        already_sent=sum(1 for _, d in rows if d.status == DeliveryStatus.sent.value),
        total_targets=len(rows),
    )


def _prepare_batch(ids: list[int], smtp: SmtpConfig | None, report: DeliveryReport) -> list[_Prepared]:
    """Load claimed messages, drop reminders whose items all closed, ensure one delivery row per target."""
    prepared: list[_Prepared] = []
    with session_scope() as session:
        messages = list(session.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(ids))))
        known: dict[int, dict[str, OutboxDelivery]] = {i: {} for i in ids}
        for row in session.exec(select(OutboxDelivery).where(col(OutboxDelivery.message_id).in_(ids))):
            known[row.message_id][row.target_hash] = row
        # Many messages of a batch share a recipient: resolve (and decrypt) each recipient once.
        resolved: dict[tuple[int | None, str | None, bool], tuple[list[Target], str | None]] = {}
        for message in messages:
            if message.status != MessageStatus.sending.value:
                continue
            if not refresh_reminder(session, message):
                message.lease_until, message.claim_token = None, None
                report.cancelled += 1
                continue
            key = (message.recipient_id, message.team, bool(message.attachments))
            if key not in resolved:
                contact = session.get(Contact, message.recipient_id) if message.recipient_id else None
                resolved[key] = (targets_of(session, message, smtp), contact.timezone if contact else None)
            targets, timezone = resolved[key]
            prepared.append(_prepare(session, message, targets, known[message.id], timezone))  # type: ignore[index]
        session.flush()
    # Delivery ids exist only after the flush: swap the rows for their ids.
    for p in prepared:
        p.pending = [(t, d.id, attempts) for t, d, attempts in p.pending]  # type: ignore[misc]
    return prepared


def _send_one(
    target: Target, outgoing: Outgoing, smtp: SmtpConfig | None, limiter: RateLimiter
) -> tuple[DeliveryStatus, str]:
    limiter.wait(target)
    try:
        send(target, outgoing, smtp=smtp)
    except DeliveryUnknown as exc:
        return DeliveryStatus.unknown, str(exc)
    except DeliveryError as exc:
        return DeliveryStatus.failed, str(exc)
    return DeliveryStatus.sent, "sent"


def _record(
    results: list[tuple[_Prepared, int, int, DeliveryStatus, str]],
    finished: list[_Prepared],
    report: DeliveryReport,
    *,
    now: datetime,
    max_attempts: int,
) -> None:
    """Commit a group of target results, and the final status of messages whose targets are all done."""
    with session_scope() as session:
        rows = [
            {
                "id": delivery_id,
                "status": status.value,
                "result": result[:2000],
                "attempts": attempts + 1,
                "sent_at": now if status == DeliveryStatus.sent else None,
            }
            for _, delivery_id, attempts, status, result in results
        ]
        if rows:
            session.exec(update(OutboxDelivery), params=rows)  # type: ignore[call-overload]
        for prepared, _, _, status, result in results:
            _count(report, prepared.message_id, status, result)
        for prepared in finished:
            _finish(session, prepared, report, now=now, max_attempts=max_attempts)


def _count(report: DeliveryReport, message_id: int, status: DeliveryStatus, result: str) -> None:
    if status == DeliveryStatus.sent:
        report.targets_sent += 1
        return
    if status == DeliveryStatus.unknown:
        report.targets_unknown += 1
    else:
        report.targets_failed += 1
    if len(report.errors) < 20:
        report.errors.append(f"message {message_id}: {result}")


def _finish(
    session: Session, prepared: _Prepared, report: DeliveryReport, *, now: datetime, max_attempts: int
) -> None:
    errors = [r for s, r in prepared.outcomes.values() if s != DeliveryStatus.sent]
    values: dict[str, Any] = {"lease_until": None, "claim_token": None}
    if prepared.total_targets and not errors:
        values |= {"status": MessageStatus.sent.value, "sent_at": now, "last_error": None}
        report.sent += 1
    else:
        attempts = prepared.attempts + 1
        last_error = ("; ".join(errors) or NO_CHANNEL)[:2000]
        values |= {"attempts": attempts, "last_error": last_error}
        if attempts >= max_attempts:
            values["status"] = MessageStatus.dead.value
            report.dead += 1
        else:
            window = send_window(prepared.timezone)
            values |= {
                "status": MessageStatus.failed.value,
                "next_attempt_at": window.next_allowed(now + backoff(attempts)),
            }
            report.failed += 1
    session.exec(update(OutboxMessage).where(OutboxMessage.id == prepared.message_id).values(**values))
    if values["status"] == MessageStatus.dead.value:
        message = session.get(OutboxMessage, prepared.message_id)
        assert message is not None
        session.refresh(message)
        _report_dead(session, message, values["last_error"])


def _report_dead(session: Session, message: OutboxMessage, errors: str) -> None:
    manager = manager_of(session, message)
    if manager is None or message.kind in _NO_REPORT:
        log.warning("message %s is dead and has no manager to tell", message.id)
        return
    shown = ", ".join(d.target_masked for d in deliveries_of(session, message.id)) or "-"  # type: ignore[arg-type]
    queue_message(
        session,
        kind="delivery_failed",
        recipient=manager,
        relationship_id=message.relationship_id,
        context={
            "recipient_name": manager.name or manager.email,
            "message_id": message.id,
            "failed_kind": message.kind,
            "failed_to": shown,
            "failed_subject": message.subject,
            "attempts": message.attempts,
            "last_error": errors or "-",
        },
        dedupe=f"dead:{message.id}:{message.updated_at.isoformat()}",
    )


def deliver_claimed(
    ids: list[int],
    *,
    smtp: SmtpConfig | None,
    limiter: RateLimiter,
    max_workers: int = 4,
    now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> DeliveryReport:
    """Deliver claimed messages: one send per target in a bounded pool, results committed as they land.

    Results are committed in small groups as sends complete (group commit), so the window between a
    send and its record is one commit long, not one batch long.
    """
    now = now or utcnow()
    report = DeliveryReport(claimed=len(ids))
    prepared = _prepare_batch(ids, smtp, report)
    waiting = [p for p in prepared if not p.pending]  # nothing left to send: finish at once
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="tandem-send") as pool:
        futures: dict[Future[tuple[DeliveryStatus, str]], tuple[_Prepared, int, int]] = {
            pool.submit(_send_one, target, p.outgoing, smtp, limiter): (p, delivery_id, attempts)
            for p in prepared
            for target, delivery_id, attempts in p.pending
        }
        if waiting:
            _record([], waiting, report, now=now, max_attempts=max_attempts)
        while futures:
            wait(futures, return_when=FIRST_COMPLETED)
            # Group commit: gather what else lands in the next few ms, so one commit records many sends.
            done, _ = wait(futures, timeout=GROUP_COMMIT_SECONDS)
            results = []
            for future in done:
                p, delivery_id, attempts = futures.pop(future)
                status, result = future.result()
                p.outcomes[delivery_id] = (status, result)
                results.append((p, delivery_id, attempts, status, result))
            finished = list({id(r[0]): r[0] for r in results if r[0].done}.values())
            _record(results, finished, report, now=now, max_attempts=max_attempts)
    return report


def deliver_due(
    *,
    limit: int = 100,
    max_workers: int = 4,
    per_minute: int | None = None,
    smtp_password: str | None = None,
    now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    before_email: Callable[[], None] | None = None,
) -> DeliveryReport:
    """Claim up to `limit` due messages and deliver them with at most `max_workers` sends at a time."""
    now = now or utcnow()
    with session_scope() as session:
        ids = claim(session, limit=limit, now=now)
    if not ids:
        return DeliveryReport()
    limiter = shared_limiter(per_minute)
    limiter.before_email = before_email
    report = deliver_claimed(
        ids,
        smtp=smtp_config(password=smtp_password),
        limiter=limiter,
        max_workers=max_workers,
        now=now,
        max_attempts=max_attempts,
    )
    log.info(
        "delivered batch: %s claimed, %s sent, %s failed, %s dead, %s cancelled",
        report.claimed,
        report.sent,
        report.failed,
        report.dead,
        report.cancelled,
    )
    return report


def send_test_message(email: str, *, smtp_password: str | None = None) -> tuple[int, list[OutboxDelivery]]:
    """Send a test message to every channel of a contact now (quiet hours ignored); return the results."""
    now = utcnow()
    with session_scope() as session:
        contact = find_contact(session, email)
        if contact is None:
            raise NotFound(f"no contact {email!r}")
        context = {
            "recipient_name": contact.name or contact.email,
            "sent_at": now.strftime("%Y-%m-%d %H:%M UTC"),
        }
        message, _ = queue(
            session,
            kind="channel_test",
            recipient=contact,
            context=context,
            dedupe=now.isoformat(),
            now=now,
            respect_quiet_hours=False,
        )
        if message is None:
            raise InputRejected(f"{email} has no channel and no SMTP server is configured (TANDEM_SMTP_HOST)")
        message.status, message.lease_until = MessageStatus.sending.value, now + LEASE
        session.add(message)
        message_id: int = message.id  # type: ignore[assignment]
    smtp = smtp_config(password=smtp_password)
    deliver_claimed([message_id], smtp=smtp, limiter=shared_limiter(None), now=now, max_attempts=1)
    with session_scope() as session:
        return message_id, deliveries_of(session, message_id)
