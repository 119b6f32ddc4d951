"""Delivery: claim due outbox messages, send each to each target, record every target's result.

Every send ends in a recorded result: an unexpected exception from one target is a (scrubbed) failure
of that target, and the batch's results are recorded on every path out of it (try/finally). Results
are recorded only under the claim token that won the batch: a worker whose lease ran out and whose
messages another worker took over records nothing for them. The lease is renewed as sends complete.

The duplicate window (docs/NOTIFICATIONS.md): target results are committed as they land. A worker
killed between a send and its commit leaves the message `sending`; when its lease runs out (at most
LEASE after the last renewal) the next run takes it over and resends only to targets not recorded
`sent`, so only the sends in flight at the kill (at most `max_workers`) can arrive twice. A TIMEOUT
("unknown") is retried too. Every email carries a Message-ID derived from the outbox key and the target,
so the copies are identical and a mail server or client that drops duplicates drops it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from models.core.base import id_of, utcnow
from models.core.db import session_scope
from models.core.errors import DeliveryError, DeliveryUnknown, InputRejected, NotFound, TandemError
from models.core.settings import get_settings
from models.partners.registry import find_contact
from models.tables import Contact, DeliveryStatus, MessageStatus, OutboxDelivery, OutboxMessage
from models.tables.webhooks import WEBHOOK_TEST_KIND
from models.webhooks.events import queue_events, webhook_test_event
from models.webhooks.subscriptions import active_subscription
from notifications import webhooks
from notifications.channels import (
    Outgoing,
    RateLimiter,
    SmtpConfig,
    Target,
    apprise_config_problems,
    init_mimetypes,
    scrub,
    secrets_of,
    send,
    shared_limiter,
    smtp_config,
    team_channels,
)
from notifications.outbox import (
    LEASE,
    MAX_ATTEMPTS,
    Claim,
    attachments_of,
    backoff,
    claim,
    deliveries_of,
    hold,
    manager_of,
    queue,
    queue_message,
    refresh_reminder,
    send_window,
    targets_of,
)

log = logging.getLogger("tandem.notifications")
# While sends are in flight, the batch's lease is renewed at least this often (LEASE is 2 minutes).
RENEW_EVERY_SECONDS = 30.0
# Operational kinds never report their own failure (no dead-letter loops).
_NO_REPORT = frozenset({"delivery_failed", "channel_test", WEBHOOK_TEST_KIND})
NO_CHANNEL = "no channel to send to: set TANDEM_SMTP_HOST, or give the recipient a chat channel"


@dataclass
class DeliveryReport:
    """What one delivery run did, in counts (masked errors only)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0
    deferred: int = 0  # claimed in the recipient's quiet hours: put back until the next allowed time
    lost: int = 0  # claimed, then taken over by another worker: nothing recorded for them here
    targets_sent: int = 0
    targets_failed: int = 0
    targets_unknown: int = 0
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # configuration problems found at start-up

    def add(self, other: DeliveryReport) -> None:
        """Add another report's counts to this one."""
        for name, value in vars(other).items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.errors = (self.errors + other.errors)[:20]
        self.problems = list(dict.fromkeys(self.problems + other.problems))

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        return {k: list(v) if isinstance(v, list) else v for k, v in vars(self).items()}


def delivery_problems() -> list[str]:
    """Return what in the configuration keeps messages from being delivered (checked at start-up)."""
    return apprise_config_problems()


@dataclass
class _Prepared:
    """One claimed message, ready to send: what to send, to which targets, and what is already sent."""

    message_id: int
    attempts: int
    timezone: str | None
    outgoing: Outgoing
    quiet_hours: bool  # False for webhooks: systems, not people, so retries keep their backoff only
    pending: list[tuple[Target, int, int]]  # target, delivery id, delivery attempts so far
    total_targets: int
    no_target: str  # why there is nothing to send to, when there is not
    outcomes: dict[int, tuple[DeliveryStatus, str]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Return whether every pending target has an outcome."""
        return len(self.outcomes) == len(self.pending)


def _prepare(
    session: Session,
    message: OutboxMessage,
    targets: list[Target],
    known: dict[str, OutboxDelivery],
    timezone: str | None,
) -> tuple[_Prepared, list[tuple[Target, OutboxDelivery, int]]]:
    """Return the message ready to send, its targets still to send to given by delivery rows for now
    (new rows have their ids only after the flush)."""
    fresh = [
        OutboxDelivery(
            message_id=id_of(message),
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
    prepared = _Prepared(
        message_id=id_of(message),
        attempts=message.attempts,
        timezone=timezone,
        quiet_hours=message.webhook_id is None,
        outgoing=Outgoing(
            message.subject, message.body_text, message.body_html, attachments_of(message), key=message.key
        ),
        pending=[],
        total_targets=len(rows),
        no_target="" if targets else _no_target(message),
    )
    return prepared, [(t, d, d.attempts) for t, d in rows if d.status != DeliveryStatus.sent.value]


def _no_target(message: OutboxMessage) -> str:
    if message.webhook_id is not None:
        return f"webhook {message.webhook_id} was removed"
    if message.team is None:
        return NO_CHANNEL
    return team_channels().problem or f"no URL has the tag {message.team!r} in TANDEM_APPRISE_CONFIG"


def _defer(message: OutboxMessage, until: datetime) -> None:
    """Put a claimed message back until its recipient's next allowed hour (attempts unchanged)."""
    message.status = MessageStatus.queued.value if message.attempts == 0 else MessageStatus.failed.value
    message.not_before = until
    message.lease_until, message.claim_token = None, None


def _prepare_batch(
    batch: Claim, smtp: SmtpConfig | None, report: DeliveryReport, *, now: datetime, respect_quiet_hours: bool
) -> list[_Prepared]:
    """Load the claimed messages still ours; put back those in quiet hours, drop reminders whose items
    all closed, and ensure one delivery row per target of the rest."""
    prepared: list[tuple[_Prepared, list[tuple[Target, OutboxDelivery, int]]]] = []
    with session_scope() as session:
        # FOR UPDATE (PostgreSQL): nobody takes the batch over between this read and our writes.
        query = (
            select(OutboxMessage)
            .where(
                col(OutboxMessage.id).in_(batch.ids),
                col(OutboxMessage.claim_token) == batch.token,
                col(OutboxMessage.status) == MessageStatus.sending.value,
            )
            .order_by(col(OutboxMessage.id))  # sent in the order queued (PostgreSQL has no order otherwise)
            .with_for_update()
        )
        messages = list(session.exec(query))
        report.lost += len(batch.ids) - len(messages)
        recipient_ids = {m.recipient_id for m in messages if m.recipient_id is not None}
        contacts = {c.id: c for c in session.exec(select(Contact).where(col(Contact.id).in_(recipient_ids)))}
        known: dict[int, dict[str, OutboxDelivery]] = {id_of(m): {} for m in messages}
        for row in session.exec(
            select(OutboxDelivery).where(col(OutboxDelivery.message_id).in_(list(known)))
        ):
            known[row.message_id][row.target_hash] = row
        allowed: dict[str | None, datetime] = {}
        # Many messages of a batch share a recipient: resolve (and decrypt) each recipient once.
        resolved: dict[tuple[int | None, str | None, int | None, bool], list[Target]] = {}
        for message in messages:
            contact = contacts.get(message.recipient_id)
            timezone = contact.timezone if contact is not None else None
            if respect_quiet_hours and message.webhook_id is None:
                # Quiet hours are checked again here, not only when queued: a backlog or a lease taken
                # over must not go out at 22:00 in the recipient's zone.
                if timezone not in allowed:
                    allowed[timezone] = send_window(timezone).next_allowed(now)
                if allowed[timezone] > now:
                    _defer(message, allowed[timezone])
                    report.deferred += 1
                    continue
            if not refresh_reminder(session, message):
                message.lease_until, message.claim_token = None, None
                report.cancelled += 1
                continue
            key = (message.recipient_id, message.team, message.webhook_id, bool(message.attachments))
            if key not in resolved:
                resolved[key] = targets_of(session, message, smtp)
            prepared.append(_prepare(session, message, resolved[key], known[id_of(message)], timezone))
        session.flush()
    # Delivery ids exist only after the flush: give each message its pending targets by delivery id.
    for p, pending in prepared:
        p.pending = [(t, id_of(d), attempts) for t, d, attempts in pending]
    return [p for p, _ in prepared]


def _send_one(
    target: Target, outgoing: Outgoing, smtp: SmtpConfig | None, limiter: RateLimiter
) -> tuple[DeliveryStatus, str]:
    """Send to one target and return its outcome; never raise (one target must not sink the batch)."""
    try:
        limiter.wait(target)
        if target.channel == webhooks.CHANNEL:
            webhooks.post(target, outgoing)
        else:
            send(target, outgoing, smtp=smtp)
    except DeliveryUnknown as exc:
        return DeliveryStatus.unknown, str(exc)
    except DeliveryError as exc:
        return DeliveryStatus.failed, str(exc)
    except Exception as exc:  # noqa: BLE001 - the per-target boundary: anything else is this target's failure
        text = scrub(f"{target.shown}: unexpected {type(exc).__name__}: {exc}", secrets_of(target, smtp))
        log.warning("send failed unexpectedly: %s", text)
        return DeliveryStatus.failed, text[:1000]
    return DeliveryStatus.sent, "sent"


_Result = tuple[_Prepared, int, int, DeliveryStatus, str]  # message, delivery id, attempts, status, text


def _record(
    results: list[_Result],
    finished: list[_Prepared],
    report: DeliveryReport,
    *,
    token: str,
    hold_ids: set[int],
    lease_until: datetime,
    now: datetime,
    max_attempts: int,
) -> list[int]:
    """Commit results and final statuses of the messages still held under `token` (renewing their lease);
    return the ids of messages that went dead."""
    counts = DeliveryReport()  # added to the report only once the commit succeeded
    with session_scope() as session:
        held = hold(session, sorted(hold_ids), token=token, lease_until=lease_until)
        results = [r for r in results if r[0].message_id in held]
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
            session.exec(update(OutboxDelivery), params=rows)
        for prepared, _, _, status, result in results:
            _count(counts, prepared.message_id, status, result)
        for prepared in finished:
            if prepared.message_id not in held:
                log.warning("message %s was taken over by another worker: not recorded", prepared.message_id)
                counts.lost += 1
        dead = _finish(
            session, [p for p in finished if p.message_id in held], counts, now=now, max_attempts=max_attempts
        )
    report.add(counts)
    return dead


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


def _all_sent(prepared: _Prepared) -> bool:
    return all(status == DeliveryStatus.sent for status, _ in prepared.outcomes.values())


def _finish(
    session: Session, finished: list[_Prepared], report: DeliveryReport, *, now: datetime, max_attempts: int
) -> list[int]:
    """Write the final status of finished messages (the sent ones in one statement); return the dead ones."""
    released: dict[str, Any] = {"lease_until": None, "claim_token": None}
    sent = {p.message_id for p in finished if p.total_targets and _all_sent(p)}
    if sent:
        values: dict[str, Any] = {"status": MessageStatus.sent.value, "sent_at": now, "last_error": None}
        session.exec(
            update(OutboxMessage).where(col(OutboxMessage.id).in_(sorted(sent))).values(**values, **released)
        )
        report.sent += len(sent)
    dead: list[int] = []
    for prepared in finished:
        if prepared.message_id in sent:
            continue
        errors = [r for s, r in prepared.outcomes.values() if s != DeliveryStatus.sent]
        attempts = prepared.attempts + 1
        values = {
            "attempts": attempts,
            "last_error": ("; ".join(errors) or prepared.no_target)[:2000],
            **released,
        }
        if attempts >= max_attempts:
            values["status"] = MessageStatus.dead.value
            report.dead += 1
            dead.append(prepared.message_id)
        else:
            retry_at = now + backoff(attempts)
            if prepared.quiet_hours:
                retry_at = send_window(prepared.timezone).next_allowed(retry_at)
            values |= {"status": MessageStatus.failed.value, "next_attempt_at": retry_at}
            report.failed += 1
        session.exec(
            update(OutboxMessage).where(col(OutboxMessage.id) == prepared.message_id).values(**values)
        )
    return dead


def _report_dead(message_ids: list[int]) -> None:
    """Tell each dead message's relationship manager; a report that cannot be queued is only logged."""
    for message_id in message_ids:
        try:
            with session_scope() as session:
                message = session.get(OutboxMessage, message_id)
                if message is not None:
                    _queue_dead_report(session, message)
        except (TandemError, SQLAlchemyError) as exc:
            # Separate from the results' transaction, so a failing report never undoes them.
            log.error("message %s is dead; its report was not queued: %s", message_id, type(exc).__name__)


def _queue_dead_report(session: Session, message: OutboxMessage) -> None:
    """Tell who answers for a dead message: a webhook's report team if it has a channel, else the manager."""
    if message.kind in _NO_REPORT:
        return
    team = webhooks.report_team() if message.webhook_id is not None else None
    manager = None if team else manager_of(session, message)
    if manager is None and team is None:
        log.warning("message %s is dead and has no manager to tell", message.id)
        return
    shown = ", ".join(d.target_masked for d in deliveries_of(session, id_of(message))) or "-"
    context = {
        "recipient_name": (manager.name or manager.email) if manager else team,
        "message_id": message.id,
        "failed_kind": message.kind,
        "failed_to": shown,
        "failed_subject": message.subject,
        "attempts": message.attempts,
        "last_error": message.last_error or "-",
    }
    relationship_id, dedupe = message.relationship_id, f"dead:{message.id}:{message.updated_at.isoformat()}"
    if message.webhook_id is not None:
        # One report a day per webhook and reader: an endpoint that is down kills many deliveries at once,
        # and `tandem webhook retry` resends them all.
        context["webhook_id"] = message.webhook_id
        relationship_id, dedupe = None, f"webhook-dead:{message.webhook_id}:{utcnow().date().isoformat()}"
    queue_message(
        session,
        kind="delivery_failed",
        recipient=manager,
        team=team,
        relationship_id=relationship_id,
        context=context,
        dedupe=dedupe,
    )


@dataclass
class _Recorder:
    """Collects a batch's outcomes as they land and commits them, renewing the batch's lease."""

    batch: Claim
    prepared: list[_Prepared]
    report: DeliveryReport
    now: datetime
    max_attempts: int
    results: list[_Result] = field(default_factory=list)
    finished: list[_Prepared] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    renewed: float = field(default_factory=time.monotonic)

    def land(
        self, prepared: _Prepared, delivery_id: int, attempts: int, outcome: tuple[DeliveryStatus, str]
    ) -> None:
        """Take one target's outcome."""
        prepared.outcomes[delivery_id] = outcome
        self.results.append((prepared, delivery_id, attempts, *outcome))
        if prepared.done:
            self.finished.append(prepared)

    def flush(self) -> None:
        """Commit what landed since the last flush; renew the whole batch's lease when it is due."""
        clock = time.monotonic()
        renew = clock - self.renewed >= RENEW_EVERY_SECONDS
        if not (self.results or self.finished or renew):
            return
        ids = {r[0].message_id for r in self.results} | {p.message_id for p in self.finished}
        if renew:
            ids |= {p.message_id for p in self.prepared if not p.done}
        self.dead += _record(
            self.results,
            self.finished,
            self.report,
            token=self.batch.token,
            hold_ids=ids,
            # Leases are in the batch's logical time (`now`), like the claim that set them.
            lease_until=self.now + timedelta(seconds=clock - self.started) + LEASE,
            now=self.now,
            max_attempts=self.max_attempts,
        )
        self.results, self.finished = [], []
        self.renewed = clock if renew else self.renewed


def deliver_claimed(
    batch: Claim,
    *,
    smtp: SmtpConfig | None,
    limiter: RateLimiter,
    max_workers: int = 4,
    now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    respect_quiet_hours: bool = True,
) -> DeliveryReport:
    """Deliver a claimed batch: one send per target in a bounded pool, results committed as they land.

    Results are committed as sends complete (whatever completed meanwhile goes in one commit), so the
    window between a send and its record is one commit long, not one batch long.
    """
    now = now or utcnow()
    init_mimetypes()  # before any send thread: Apprise's lazy initialisation races between threads
    report = DeliveryReport(claimed=len(batch.ids))
    prepared = _prepare_batch(batch, smtp, report, now=now, respect_quiet_hours=respect_quiet_hours)
    recorder = _Recorder(batch, prepared, report, now, max_attempts)
    recorder.finished = [p for p in prepared if not p.pending]  # nothing left to send: finish at once
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="tandem-send") as pool:
        futures: dict[Future[tuple[DeliveryStatus, str]], tuple[_Prepared, int, int]] = {
            pool.submit(_send_one, target, p.outgoing, smtp, limiter): (p, delivery_id, attempts)
            for p in prepared
            for target, delivery_id, attempts in p.pending
        }
        try:
            recorder.flush()
            while futures:
                done, _ = wait(futures, timeout=RENEW_EVERY_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    recorder.land(*futures.pop(future), future.result())
                recorder.flush()
        finally:
            # Every path records what was sent: wait for the sends still in flight, then commit
            # everything not committed yet (a failed commit above is retried here once).
            for future in list(futures):
                recorder.land(*futures.pop(future), future.result())
            recorder.flush()
            _report_dead(recorder.dead)
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
        batch = claim(session, limit=limit, now=now)
    if not batch.ids:
        return DeliveryReport()
    limiter = shared_limiter(per_minute)
    limiter.before_email = before_email
    report = deliver_claimed(
        batch,
        smtp=smtp_config(password=smtp_password),
        limiter=limiter,
        max_workers=max_workers,
        now=now,
        max_attempts=max_attempts,
    )
    log.info(
        "delivered batch: %s claimed, %s sent, %s failed, %s dead, %s cancelled, %s deferred, %s lost",
        report.claimed,
        report.sent,
        report.failed,
        report.dead,
        report.cancelled,
        report.deferred,
        report.lost,
    )
    return report


def deliver_batches(
    run_batch: Callable[[int], DeliveryReport], *, limit: int, batch_size: int
) -> DeliveryReport:
    """Run `run_batch(size)` until nothing is due or `limit` messages were claimed; return the total."""
    total = DeliveryReport()
    while total.claimed < limit:
        part = run_batch(min(batch_size, limit - total.claimed))
        total.add(part)
        if part.claimed == 0:
            break
    return total


def _claim_one(message: OutboxMessage, now: datetime) -> Claim:
    """Claim a message just queued in this session, to deliver it at once in this process."""
    batch = Claim(uuid.uuid4().hex, [id_of(message)])
    message.status, message.lease_until = MessageStatus.sending.value, now + LEASE
    message.claim_token = batch.token
    return batch


def _deliver_once(batch: Claim, smtp: SmtpConfig | None, now: datetime) -> list[OutboxDelivery]:
    """Deliver a claimed test message once (quiet hours ignored, one attempt); return its deliveries."""
    deliver_claimed(
        batch, smtp=smtp, limiter=shared_limiter(None), now=now, max_attempts=1, respect_quiet_hours=False
    )
    with session_scope() as session:
        return deliveries_of(session, batch.ids[0])


def _queue_now(
    session: Session, kind: str, contact: Contact, context: dict[str, Any], now: datetime, *, unsendable: str
) -> Claim:
    """Queue a message a person is waiting for (quiet hours ignored) and claim it for delivery now."""
    message, _ = queue(
        session,
        kind=kind,
        recipient=contact,
        context=context,
        dedupe=now.isoformat(),
        now=now,
        respect_quiet_hours=False,
    )
    if message is None:
        raise InputRejected(unsendable)
    batch = _claim_one(message, now)
    session.add(message)
    return batch


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
        batch = _queue_now(
            session,
            "channel_test",
            contact,
            context,
            now,
            unsendable=f"{email} has no channel and no SMTP server is configured (TANDEM_SMTP_HOST)",
        )
    return batch.ids[0], _deliver_once(batch, smtp_config(password=smtp_password), now)


def send_sign_in_link(email: str, url: str, *, minutes: int) -> None:
    """Email a sign-in link now through the outbox (quiet hours ignored: the person is waiting)."""
    now = utcnow()
    with session_scope() as session:
        contact = find_contact(session, email)
        if contact is None:  # a staff user who is no relationship's contact yet: one of ours
            contact = Contact(email=email, side="ours")
            session.add(contact)
            session.flush()
        context = {
            "recipient_name": contact.name or contact.email,
            "url": url,
            "minutes": minutes,
            "organization_name": get_settings().organization_name,
        }
        batch = _queue_now(
            session,
            "sign_in_link",
            contact,
            context,
            now,
            unsendable="no SMTP server is configured (TANDEM_SMTP_HOST) to email a sign-in link",
        )
    _deliver_once(batch, smtp_config(), now)


def send_test_event(subscription_id: int, *, actor: str) -> tuple[int, list[OutboxDelivery]]:
    """Send a signed `webhook.test` event to one subscription now, through the outbox; return the result."""
    now = utcnow()
    with session_scope() as session:
        subscription = active_subscription(session, subscription_id)
        ids = queue_events(
            session,
            [webhook_test_event(subscription, actor=actor)],
            subscriptions=[subscription],
            every_type=True,
            kind=WEBHOOK_TEST_KIND,
        )
        message = session.get(OutboxMessage, ids[0])
        assert message is not None  # queued just now, in this session
        batch = _claim_one(message, now)
    return batch.ids[0], _deliver_once(batch, None, now)
