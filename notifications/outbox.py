"""The outbox: every message is rendered and stored once (idempotency key), then delivered per target.

Message statuses: queued -> sending (claimed under a lease) -> sent | failed (retried with exponential
backoff) -> dead (after MAX_ATTEMPTS; the relationship manager is told) ; queued/failed -> cancelled.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from models.core import audit
from models.core.base import id_of, utcnow
from models.core.calendar import SendWindow, parse_business_days
from models.core.db import insert_rows, table_of
from models.core.errors import InputRejected, NotFound, Problem
from models.core.settings import Settings, get_settings
from models.tables import (
    ChecklistItem,
    Contact,
    MessageStatus,
    OutboxDelivery,
    OutboxMessage,
    Partner,
    Relationship,
)
from models.tables.checklist import ItemStatus
from notifications.channels import SmtpConfig, Target, contact_targets, team_targets
from notifications.render import ALL_KINDS, fold_ics_line, render, render_message
from notifications.webhooks import webhook_targets

# Reminder kinds share one idempotency family: a recipient gets at most one reminder message a day.
REMINDER_KINDS = frozenset({"item_due_soon", "item_overdue", "escalation", "digest"})
MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
# A claim's lease: renewed as the batch's sends complete (and at least every RENEW_EVERY_SECONDS while
# they are in flight), so a live worker keeps its batch and a killed one holds it for at most this long.
LEASE = timedelta(minutes=2)
OPEN_STATUSES = (MessageStatus.queued.value, MessageStatus.failed.value)


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (email only: chat channels drop attachments)."""

    filename: str
    content_type: str
    data: bytes


def idempotency_key(who: str, kind: str, relationship_id: int | None, period: str, dedupe: str) -> str:
    """Return the outbox key of (recipient or team, kind family, relationship, period, dedupe)."""
    family = "reminder" if kind in REMINDER_KINDS else kind
    raw = "\x1f".join([who, family, str(relationship_id or ""), period, dedupe])
    return hashlib.sha256(raw.encode()).hexdigest()


def send_window(tz_name: str | None, settings: Settings | None = None) -> SendWindow:
    """Return the send window (quiet hours, business days) in a timezone, default the organization's."""
    settings = settings or get_settings()
    try:
        tz = ZoneInfo(tz_name) if tz_name else settings.tz
    except (KeyError, ValueError):
        tz = settings.tz  # a bad stored timezone must not block delivery
    return SendWindow(
        tz=tz,
        quiet_start=settings.quiet_hours_start,
        quiet_end=settings.quiet_hours_end,
        business_days=parse_business_days(settings.business_days),
    )


def recipient_language(session: Session, recipient: Contact | None, settings: Settings) -> str:
    """Return the language a recipient reads: theirs, else their partner's, else the default."""
    if recipient is not None and recipient.language:
        return recipient.language
    if recipient is not None and recipient.partner_id is not None:
        partner = session.get(Partner, recipient.partner_id)
        if partner is not None and partner.preferred_language:
            return partner.preferred_language
    return settings.default_language


def _localized(context: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    # Datetimes are shown in the reader's timezone.
    return {k: v.astimezone(tz) if isinstance(v, datetime) else v for k, v in context.items()}


def targets_of(
    session: Session, message: OutboxMessage, smtp: SmtpConfig | None, settings: Settings | None = None
) -> list[Target]:
    """Return where a stored message goes now (resolved at delivery, so changed channels apply)."""
    if message.webhook_id is not None:
        return webhook_targets(session, message.webhook_id)
    if message.team:
        return team_targets(message.team, settings)
    contact = session.get(Contact, message.recipient_id) if message.recipient_id else None
    if contact is None:
        return []
    return contact_targets(contact, smtp, needs_email=bool(message.attachments))


def _render(kind: str, language: str, context: Mapping[str, Any]) -> Any:
    try:
        return render_message(kind, language, context)
    except jinja2.UndefinedError as exc:
        raise InputRejected([Problem(f"message {kind}", str(exc))], summary="message not rendered") from exc


@dataclass(frozen=True)
class MessageSpec:
    """One message to queue: the arguments of `queue_message`, as data for `queue_many`."""

    kind: str
    context: Mapping[str, Any]
    recipient: Contact | None = None
    team: str | None = None
    relationship_id: int | None = None
    period: str = ""
    language: str | None = None
    attachments: Sequence[Attachment] = ()
    not_before: datetime | None = None
    dedupe: str = ""
    item_ids: Sequence[int] = ()


KEYS_PER_QUERY = 500  # well under SQLite's bound-parameter limit


@dataclass
class MessageCalendar:
    """The messages some contacts have planned, per day and per month (cancelled ones left out).

    The partner's time is the budget: a partner contact gets at most one message a day and the
    tier's messages a month, notices (welcome, invitation, exit notice) first, reminders in what
    is left. The reminder sweep and the queueing of notices both plan with it.
    """

    days: dict[int, Counter[date]] = field(default_factory=lambda: defaultdict(Counter))
    notices: dict[int, Counter[tuple[int, int]]] = field(default_factory=lambda: defaultdict(Counter))
    reminders: dict[int, Counter[tuple[int, int]]] = field(default_factory=lambda: defaultdict(Counter))
    reminder_days: dict[int, set[date]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def load(cls, session: Session, contact_ids: Iterable[int], *, start: date, end: date) -> MessageCalendar:
        """Read the planned days of these contacts' messages between two dates, a chunk of ids a query."""
        calendar = cls()
        ids = sorted(set(contact_ids))
        for first in range(0, len(ids), KEYS_PER_QUERY):
            query = select(
                col(OutboxMessage.recipient_id), col(OutboxMessage.planned_on), col(OutboxMessage.kind)
            ).where(
                col(OutboxMessage.recipient_id).in_(ids[first : first + KEYS_PER_QUERY]),
                col(OutboxMessage.planned_on) >= start,
                col(OutboxMessage.planned_on) <= end,
                col(OutboxMessage.status) != MessageStatus.cancelled.value,
            )
            for contact_id, day, kind in session.connection().execute(query):
                if contact_id is None or day is None:  # never: the query asks for both
                    continue
                calendar.add(contact_id, day, reminder=kind in REMINDER_KINDS)
        return calendar

    def add(self, contact_id: int, day: date, *, reminder: bool) -> None:
        """Count one more message planned for a contact on a day."""
        self.days[contact_id][day] += 1
        (self.reminders if reminder else self.notices)[contact_id][(day.year, day.month)] += 1
        if reminder:
            self.reminder_days[contact_id].add(day)

    def taken(self, contact_id: int, day: date) -> bool:
        """Return whether the contact already has a message planned that day."""
        return self.days[contact_id][day] > 0

    def reminder_room(self, contact_id: int, day: date, *, per_month: int, reserve: int) -> bool:
        """Return whether one more reminder fits the contact's day and month, notices kept first."""
        if day in self.reminder_days[contact_id]:
            return True  # that day's reminder is already queued: a rerun finds it, and adds nothing
        month = (day.year, day.month)
        notices = max(reserve, self.notices[contact_id][month])
        return not self.taken(contact_id, day) and self.reminders[contact_id][month] < per_month - notices

    def free_day(self, contact_id: int, day: date) -> date:
        """Return the first day from `day` on with no message planned for the contact."""
        while self.taken(contact_id, day):
            day += timedelta(days=1)
        return day


def _by_keys(session: Session, keys: Sequence[str]) -> dict[str, OutboxMessage]:
    found: dict[str, OutboxMessage] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), KEYS_PER_QUERY):
        chunk = unique[start : start + KEYS_PER_QUERY]
        query = select(OutboxMessage).where(col(OutboxMessage.key).in_(chunk))
        found.update((m.key, m) for m in session.exec(query))
    return found


def _spec_key(spec: MessageSpec) -> str:
    if (spec.recipient is None) == (spec.team is None):
        raise InputRejected([Problem("recipient", "give exactly one of recipient or team")])
    if spec.kind not in ALL_KINDS:
        raise InputRejected([Problem("kind", f"unknown message kind {spec.kind!r}")])
    who = f"contact:{spec.recipient.id}" if spec.recipient is not None else f"team:{spec.team}"
    return idempotency_key(who, spec.kind, spec.relationship_id, spec.period, spec.dedupe)


def queue_message(
    session: Session,
    *,
    kind: str,
    context: Mapping[str, Any],
    recipient: Contact | None = None,
    team: str | None = None,
    relationship_id: int | None = None,
    period: str = "",
    language: str | None = None,
    attachments: Sequence[Attachment] = (),
    not_before: datetime | None = None,
    dedupe: str = "",
    item_ids: Sequence[int] = (),
) -> OutboxMessage | None:
    """Render and store a message once per key; None if the recipient has nowhere to send."""
    return queue(
        session,
        kind=kind,
        context=context,
        recipient=recipient,
        team=team,
        relationship_id=relationship_id,
        period=period,
        language=language,
        attachments=attachments,
        not_before=not_before,
        dedupe=dedupe,
        item_ids=item_ids,
    )[0]


def queue(
    session: Session,
    *,
    kind: str,
    context: Mapping[str, Any],
    recipient: Contact | None = None,
    team: str | None = None,
    relationship_id: int | None = None,
    period: str = "",
    language: str | None = None,
    attachments: Sequence[Attachment] = (),
    not_before: datetime | None = None,
    dedupe: str = "",
    item_ids: Sequence[int] = (),
    now: datetime | None = None,
    respect_quiet_hours: bool = True,
) -> tuple[OutboxMessage | None, bool]:
    """Like `queue_message` (at a given logical time), also saying whether this call queued it."""
    spec = MessageSpec(
        kind=kind,
        context=context,
        recipient=recipient,
        team=team,
        relationship_id=relationship_id,
        period=period,
        language=language,
        attachments=attachments,
        not_before=not_before,
        dedupe=dedupe,
        item_ids=item_ids,
    )
    return queue_many(session, [spec], now=now, respect_quiet_hours=respect_quiet_hours)[0]


def queue_many(
    session: Session,
    specs: Sequence[MessageSpec],
    *,
    now: datetime | None = None,
    respect_quiet_hours: bool = True,
) -> list[tuple[OutboxMessage | None, bool]]:
    """Queue many messages as `queue` would, one after another, in three statements; one result each.

    Every spec is checked and rendered before anything is written, so one that cannot be rendered
    rejects the whole call. A key given twice is queued once: the later spec gets the stored row.
    """
    batch = render_many(session, specs, now=now, respect_quiet_hours=respect_quiet_hours)
    inserted = store_rendered(session, batch)
    stored = {**batch.existing, **_by_keys(session, list(batch.rows))} if batch.rows else batch.existing
    results: list[tuple[OutboxMessage | None, bool]] = []
    for key in batch.keys:
        results.append((stored.get(key), key in inserted))
        inserted.discard(key)  # only the first spec of a key queued it
    return results


@dataclass
class RenderedBatch:
    """Messages rendered and ready to insert: one row per new key, in the order of the specs."""

    keys: list[str]
    rows: dict[str, dict[str, Any]]
    existing: dict[str, OutboxMessage]


def render_many(
    session: Session,
    specs: Sequence[MessageSpec],
    *,
    now: datetime | None = None,
    respect_quiet_hours: bool = True,
) -> RenderedBatch:
    """Check and render messages without writing (keys already queued are looked up, not rendered)."""
    keys = [_spec_key(spec) for spec in specs]
    existing = _by_keys(session, keys)
    settings = get_settings()
    now = now or utcnow()
    rows: dict[str, dict[str, Any]] = {}
    skipped: set[str] = set()
    windows: dict[str | None, tuple[SendWindow, datetime | None]] = {}
    calendar = _notice_calendar(session, specs, now)
    for key, spec in zip(keys, specs, strict=True):
        if key in existing or key in rows or key in skipped:
            continue
        # A contact's message is kept even when no channel is configured yet (nothing lost): delivery
        # then fails with a clear "no channel" error and is retried once SMTP or a chat URL is set.
        if spec.team is not None and not team_targets(spec.team, settings):
            skipped.add(key)
            continue
        rows[key] = _message_row(session, key, spec, settings, now, respect_quiet_hours, windows, calendar)
    return RenderedBatch(keys, rows, existing)


def _is_partner_notice(spec: MessageSpec) -> bool:
    """Return whether a message is a notice to a partner contact (planned on a day of its own)."""
    return spec.recipient is not None and spec.recipient.side == "partner" and spec.kind not in REMINDER_KINDS


def _notice_calendar(session: Session, specs: Sequence[MessageSpec], now: datetime) -> MessageCalendar:
    """Read the planned days of the partner contacts these notices go to (reminders plan their own)."""
    ids = [id_of(spec.recipient) for spec in specs if spec.recipient is not None and _is_partner_notice(spec)]
    if not ids:
        return MessageCalendar()
    today = now.date()
    start, end = today - timedelta(days=1), today + timedelta(days=120)
    return MessageCalendar.load(session, ids, start=start, end=end)


def store_rendered(session: Session, batch: RenderedBatch, *, keys: set[str] | None = None) -> set[str]:
    """Insert rendered messages (only `keys`, if given) once per key; return the keys inserted now."""
    rows = [row for key, row in batch.rows.items() if keys is None or key in keys]
    if not rows:
        return set()
    table = table_of(OutboxMessage)
    found = insert_rows(session, table, rows, on_conflict="ON CONFLICT (key) DO NOTHING", returning=("key",))
    return {key for (key,) in found}


def _message_row(
    session: Session,
    key: str,
    spec: MessageSpec,
    settings: Settings,
    now: datetime,
    respect_quiet_hours: bool,
    windows: dict[str | None, tuple[SendWindow, datetime | None]],
    calendar: MessageCalendar,
) -> dict[str, Any]:
    """Render one message and return its outbox row (the values `OutboxMessage` would hold)."""
    recipient = spec.recipient
    lang = spec.language or recipient_language(session, recipient, settings)
    tz_name = recipient.timezone if recipient is not None else None
    if tz_name not in windows:
        window = send_window(tz_name, settings)
        # Within one call `now` is fixed, so the next allowed time is the same for every message here.
        windows[tz_name] = (window, window.next_allowed(now) if respect_quiet_hours else None)
    window, next_now = windows[tz_name]
    if not respect_quiet_hours:
        not_before = spec.not_before
    elif spec.not_before is None or spec.not_before <= now:
        not_before = next_now
    else:
        not_before = window.next_allowed(spec.not_before)
    planned = (not_before or spec.not_before or now).astimezone(window.tz).date() if recipient else None
    if recipient is not None and planned is not None and _is_partner_notice(spec):
        # Never two messages to a partner on one day: a notice waits for the next free day.
        free = calendar.free_day(id_of(recipient), planned)
        if free != planned:
            not_before = window.next_allowed(datetime.combine(free, time(), tzinfo=window.tz))
            planned = not_before.astimezone(window.tz).date()
        calendar.add(id_of(recipient), planned, reminder=False)
    rendered = _render(spec.kind, lang, _localized(spec.context, window.tz))
    created = utcnow()
    return {
        "key": key,
        "kind": spec.kind,
        "recipient_id": recipient.id if recipient is not None else None,
        "team": spec.team,
        "relationship_id": spec.relationship_id,
        "period": spec.period,
        "language": lang,
        "subject": rendered.subject[:300],
        "body_text": rendered.text,
        "body_html": rendered.html,
        "attachments": [_attachment_json(a) for a in spec.attachments],
        "item_ids": list(spec.item_ids),
        "context": dict(spec.context) if spec.kind in REMINDER_KINDS else {},
        "status": MessageStatus.queued.value,
        "attempts": 0,
        "next_attempt_at": now,
        "not_before": not_before,
        "planned_on": planned,
        "lease_until": None,
        "claim_token": None,
        "last_error": None,
        "cancelled_reason": None,
        "sent_at": None,
        "created_at": created,
        "updated_at": created,
    }


def _attachment_json(attachment: Attachment) -> dict[str, str]:
    return {
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "data": base64.b64encode(attachment.data).decode(),
    }


def attachments_of(message: OutboxMessage) -> list[tuple[str, str, bytes]]:
    """Return a stored message's attachments as (filename, content type, bytes)."""
    return [(a["filename"], a["content_type"], base64.b64decode(a["data"])) for a in message.attachments]


def make_ics(
    *,
    uid: str,
    summary: str,
    description: str,
    start: datetime,
    end: datetime,
    organizer: str,
    attendees: Sequence[str],
) -> Attachment:
    """Build a calendar invitation (VCALENDAR with one VEVENT, RFC 5545) as an .ics attachment."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InputRejected([Problem("start", "meeting times must be timezone-aware")])
    # A template, not icalendar's object model: the review sweep writes one invitation per partner,
    # and icalendar took 1.5 ms for each (property objects and folding); tests parse the result with it.
    text = render(
        "calendar/invite.ics.j2",
        {
            "uid": uid,
            "stamp": utcnow(),
            "start": start,
            "end": end,
            "summary": summary,
            "description": description,
            "organizer": organizer,
            "attendees": attendees,
        },
    )
    data = "".join(fold_ics_line(line) + "\r\n" for line in text.splitlines()).encode("utf-8")
    return Attachment(filename="invite.ics", content_type="text/calendar", data=data)


def _drop_relationship(message: OutboxMessage, relationship_id: int) -> bool:
    """Remove one relationship's entries from a queued reminder; True if something was removed."""
    groups = message.context.get("groups", [])
    kept = [g for g in groups if g.get("relationship_id") != relationship_id]
    if len(kept) == len(groups) and message.relationship_id != relationship_id:
        return False
    open_ids = {e["item_id"] for g in kept for e in g["entries"]}
    _rerender(message, kept, open_ids)
    return True


def _rerender(message: OutboxMessage, groups: list[dict[str, Any]], open_ids: set[int]) -> None:
    """Re-render a reminder with only the given groups (cancelled if none is left)."""
    groups = [{**g, "entries": [e for e in g["entries"] if e["item_id"] in open_ids]} for g in groups]
    groups = [g for g in groups if g["entries"]]
    if not groups:
        message.status = MessageStatus.cancelled.value
        message.cancelled_reason = "every item it reminded of is closed"
        return
    context = {**message.context, "groups": groups, "total": sum(len(g["entries"]) for g in groups)}
    kind = reminder_kind(groups)
    rendered = render_message(kind, message.language, context)
    message.kind, message.context = kind, context
    message.subject, message.body_text, message.body_html = (
        rendered.subject[:300],
        rendered.text,
        rendered.html,
    )
    message.item_ids = sorted(open_ids & set(message.item_ids))


def reminder_kind(groups: Sequence[Mapping[str, Any]]) -> str:
    """Return the template for a reminder: the single item's own kind, else the digest."""
    entries = [e for g in groups for e in g["entries"]]
    if len(entries) != 1:
        return "digest"
    return {"due_soon": "item_due_soon", "overdue": "item_overdue"}.get(entries[0]["state"], "escalation")


def cancel_reminders(session: Session, *, relationship_id: int, reason: str) -> int:
    """Cancel queued reminders about a relationship (digests keep their other relationships); return count."""
    query = select(OutboxMessage).where(
        col(OutboxMessage.status).in_(OPEN_STATUSES), col(OutboxMessage.kind).in_(REMINDER_KINDS)
    )
    count = 0
    for message in session.exec(query):
        if not _drop_relationship(message, relationship_id):
            continue
        if message.status == MessageStatus.cancelled.value:
            message.cancelled_reason = reason
        count += 1
        session.add(message)
    if count:
        audit.record(
            session,
            actor="system",
            action="outbox.reminders_cancelled",
            entity="relationship",
            entity_id=relationship_id,
            relationship_id=relationship_id,
            reason=reason,
            data={"messages": count},
        )
    session.flush()
    return count


def cancel_unsent(session: Session, *, relationship_id: int, reason: str) -> int:
    """Cancel every queued or failed message of a relationship other than reminders; return how many."""
    query = select(OutboxMessage).where(
        col(OutboxMessage.relationship_id) == relationship_id,
        col(OutboxMessage.status).in_(OPEN_STATUSES),
        col(OutboxMessage.kind).not_in(REMINDER_KINDS),
        # Events for other systems record what happened (the exit itself among them): never withdrawn.
        col(OutboxMessage.webhook_id).is_(None),
    )
    messages = list(session.exec(query))
    for message in messages:
        message.status, message.cancelled_reason = MessageStatus.cancelled.value, reason
        session.add(message)
    if messages:
        audit.record(
            session,
            actor="system",
            action="outbox.messages_cancelled",
            entity="relationship",
            entity_id=relationship_id,
            relationship_id=relationship_id,
            reason=reason,
            data={"messages": [m.id for m in messages]},
        )
    session.flush()
    return len(messages)


def refresh_reminder(session: Session, message: OutboxMessage) -> bool:
    """Re-check a reminder's items just before sending; False if it was cancelled (all closed)."""
    if message.kind not in REMINDER_KINDS or not message.item_ids:
        return True
    query = select(ChecklistItem.id).where(
        col(ChecklistItem.id).in_(message.item_ids), col(ChecklistItem.status) == ItemStatus.open.value
    )
    open_ids = {i for i in session.exec(query) if i is not None}
    if open_ids != set(message.item_ids):
        _rerender(message, list(message.context.get("groups", [])), open_ids)
        session.add(message)
    return message.status != MessageStatus.cancelled.value


def backoff(attempts: int) -> timedelta:
    """Return the wait before the next attempt after `attempts` failures (exponential, capped)."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


@dataclass(frozen=True)
class Claim:
    """A batch of messages claimed under one token: only the holder of the token records their results."""

    token: str
    ids: list[int]


def claim(session: Session, *, limit: int, now: datetime | None = None, lease: timedelta = LEASE) -> Claim:
    """Claim up to `limit` due messages under a lease (status sending) and a fresh token, oldest first."""
    now = now or utcnow()
    due = or_(
        col(OutboxMessage.status).in_(OPEN_STATUSES)
        & (col(OutboxMessage.next_attempt_at) <= now)
        & (col(OutboxMessage.not_before).is_(None) | (col(OutboxMessage.not_before) <= now)),
        # A lease that ran out means the worker died mid-delivery: take the message over.
        (col(OutboxMessage.status) == MessageStatus.sending.value) & (col(OutboxMessage.lease_until) < now),
    )
    token = uuid.uuid4().hex
    # Oldest first, and among messages due at the same instant, in the order they were queued (a tie
    # was returned in any order on PostgreSQL, so one of two same-time messages could overtake).
    order = (col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
    candidates = list(session.exec(select(OutboxMessage.id).where(due).order_by(*order).limit(limit)))
    if not candidates:
        return Claim(token, [])
    # Compare-and-set: a row another worker claimed in between no longer matches `due`.
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(candidates), due)
        .values(status=MessageStatus.sending.value, lease_until=now + lease, claim_token=token)
    )
    session.commit()
    claimed = select(OutboxMessage.id).where(col(OutboxMessage.claim_token) == token)
    return Claim(token, sorted(i for i in session.exec(claimed) if i is not None))  # ids: never None


def hold(session: Session, ids: Sequence[int], *, token: str, lease_until: datetime) -> set[int]:
    """Renew the lease of the messages still claimed under `token`; return their ids.

    Run first in the transaction that records results: the row locks (PostgreSQL) or the write lock
    (SQLite) it takes keep another worker from re-claiming them until the results are committed.
    """
    if not ids:
        return set()
    statement = (
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(ids),
            col(OutboxMessage.claim_token) == token,
            col(OutboxMessage.status) == MessageStatus.sending.value,
        )
        .values(lease_until=lease_until)
        .returning(col(OutboxMessage.id))
    )
    return set(session.exec(statement).scalars())


def find_message(session: Session, message_id: int) -> OutboxMessage:
    """Return one outbox message or raise NotFound."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"no outbox message {message_id}")
    return message


def retry_message(session: Session, message_id: int, *, actor: str) -> OutboxMessage:
    """Put a dead or failed message back in the queue with fresh attempts."""
    message = find_message(session, message_id)
    if message.status not in (MessageStatus.dead.value, MessageStatus.failed.value):
        raise InputRejected(
            [
                Problem(
                    f"message {message_id}", f"is {message.status}; only dead or failed messages are retried"
                )
            ],
            summary="retry refused",
        )
    message.status, message.attempts = MessageStatus.queued.value, 0
    message.next_attempt_at, message.last_error = utcnow(), None
    session.add(message)
    audit.record(
        session,
        actor=actor,
        action="outbox.retried",
        entity="outbox_message",
        entity_id=message.id,
        relationship_id=message.relationship_id,
    )
    session.flush()
    return message


def list_messages(session: Session, *, status: str | None = None, limit: int = 200) -> list[OutboxMessage]:
    """Return outbox messages, newest first, optionally of one status."""
    query = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
    if status:
        query = query.where(col(OutboxMessage.status) == status)
    return list(session.exec(query))


def message_public(message: OutboxMessage, deliveries: Sequence[OutboxDelivery] = ()) -> dict[str, Any]:
    """Return a message as plain data for people: no bodies, targets masked."""
    data = message.model_dump(
        mode="json", exclude={"body_text", "body_html", "attachments", "context", "claim_token", "key"}
    )
    data["attachments"] = [a["filename"] for a in message.attachments]
    data["deliveries"] = [
        d.model_dump(mode="json", include={"channel", "target_masked", "status", "attempts", "result"})
        for d in deliveries
    ]
    return data


def deliveries_of(session: Session, message_id: int) -> list[OutboxDelivery]:
    """Return a message's per-target deliveries."""
    query = (
        select(OutboxDelivery)
        .where(col(OutboxDelivery.message_id) == message_id)
        .order_by(col(OutboxDelivery.id))
    )
    return list(session.exec(query))


def manager_of(session: Session, message: OutboxMessage) -> Contact | None:
    """Return the relationship manager who answers for a message (for dead-letter reports)."""
    rel_ids = [message.relationship_id] if message.relationship_id else []
    rel_ids += [g["relationship_id"] for g in message.context.get("groups", [])]
    for rel_id in rel_ids:
        rel = session.get(Relationship, rel_id)
        if rel is not None:
            return session.get(Contact, rel.manager_id)
    return None
