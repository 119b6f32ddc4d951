"""Webhook subscriptions: add one (URL, event types and secret checked), list, remove, retry dead deliveries.

The URL and the signing secret are stored encrypted (as contact channels are) and the URL is only ever
shown in its privacy form: scheme, host and port. The secret is read from an environment variable the
operator names, never from the command line, and is never shown again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models.core import audit
from models.core.base import id_of, utcnow
from models.core.errors import Conflict, InputRejected, NotFound, Problem
from models.core.secrets import MASK, decrypt_json, encrypt_json
from models.core.settings import PLACEHOLDER_SECRETS
from models.core.vocabulary import SUBSCRIBABLE_EVENTS
from models.tables import MessageStatus, OutboxMessage, WebhookSubscription
from models.tables.webhooks import WEBHOOK_KIND

ALL_EVENTS = "*"
MAX_URL_LENGTH = 2000
# Standard Webhooks asks for 24 to 64 bytes of randomness; a shorter secret is guessable offline from
# one signed delivery.
MIN_SECRET_LENGTH = 24
MAX_SECRET_LENGTH = 512
LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problems(url: str) -> list[Problem]:
    """Return what is wrong with a webhook URL: https, or http to this machine only (tests, development)."""
    where = "URL"
    if not url or any(c.isspace() for c in url):
        return [Problem(where, "give one URL, without spaces")]
    if len(url) > MAX_URL_LENGTH:
        return [Problem(where, f"longer than {MAX_URL_LENGTH} characters")]
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return [Problem(where, "the port is not a number from 1 to 65535")]
    problems = []
    if scheme not in ("https", "http"):
        problems.append(Problem(where, "must start with https://"))
    elif not host:
        problems.append(Problem(where, "has no host"))
    elif scheme == "http" and not _is_loopback(host):
        problems.append(
            Problem(
                where, "plain http is allowed only to this machine (127.0.0.1, ::1, localhost); use https"
            )
        )
    if parts.fragment:
        problems.append(Problem(where, "must not have a #fragment"))
    return problems


def masked_url(url: str) -> str:
    """Return a URL's privacy form: scheme, host and port; path, query and credentials hidden."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    hidden = parts.path not in ("", "/") or parts.query or "@" in parts.netloc
    return f"{parts.scheme.lower()}://{host}/{MASK if hidden else ''}"


def parse_events(values: Sequence[str]) -> tuple[list[str], list[Problem]]:
    """Parse `--events` values (repeated or comma-separated; `all` for every type) against the one list."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        return [], [Problem("events", "give at least one event type, or `all`")]
    if any(n in ("all", ALL_EVENTS) for n in names):
        return [ALL_EVENTS], []
    known = [e.value for e in SUBSCRIBABLE_EVENTS]
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(known)
        return [], [Problem("events", f"unknown event type {n!r}; use {listed} or all") for n in unknown]
    return list(dict.fromkeys(names)), []


def secret_problems(name: str, environ: Mapping[str, str]) -> list[Problem]:
    """Return what is wrong with the signing secret in environment variable `name` (never its value)."""
    where = "secret_from_env"
    if not name:
        return [Problem(where, "name the environment variable that holds the signing secret")]
    value = environ.get(name)
    if value is None or not value.strip():
        return [Problem(where, f"environment variable {name} is not set or empty")]
    if value != value.strip():
        return [Problem(where, f"{name} starts or ends with whitespace")]
    if value.lower() in PLACEHOLDER_SECRETS:
        return [Problem(where, f"{name} holds a placeholder; set a random secret")]
    if not MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH:
        return [
            Problem(
                where,
                f"{name} must hold {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters "
                f"(e.g. `openssl rand -base64 32`)",
            )
        ]
    return []


def active_subscriptions(session: Session) -> list[WebhookSubscription]:
    """Return the subscriptions that receive events now, oldest first."""
    query = select(WebhookSubscription).where(col(WebhookSubscription.removed_at).is_(None))
    return list(session.exec(query.order_by(col(WebhookSubscription.id))))


def subscription_url(subscription: WebhookSubscription) -> str:
    """Return a subscription's URL in clear (for sending only: never shown)."""
    return str(decrypt_json(subscription.url_encrypted))


def signing_secret(subscription: WebhookSubscription) -> str:
    """Return a subscription's signing secret in clear (for signing only: never shown)."""
    return str(decrypt_json(subscription.secret_encrypted))


def _audit(
    session: Session, action: str, subscription_id: int | None, *, actor: str, data: dict[str, Any]
) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"webhook.{action}",
        entity="webhook_subscription",
        entity_id=subscription_id,
        data=data,
    )


def add_subscription(
    session: Session,
    *,
    url: str,
    events: Sequence[str],
    secret_env: str,
    environ: Mapping[str, str],
    actor: str,
) -> WebhookSubscription:
    """Check and store a subscription, its URL and secret encrypted; refuse every problem at once."""
    url = url.strip()
    types, problems = parse_events(events)
    problems = url_problems(url) + problems + secret_problems(secret_env, environ)
    if problems:
        raise InputRejected(problems, summary="webhook not added")
    for existing in active_subscriptions(session):
        if subscription_url(existing) == url:
            raise Conflict(f"webhook {existing.id} already sends to {existing.url_masked}; remove it first")
    subscription = WebhookSubscription(
        url_encrypted=encrypt_json(url),
        url_masked=masked_url(url)[:300],
        secret_encrypted=encrypt_json(environ[secret_env]),
        events=types,
        created_by=actor,
    )
    session.add(subscription)
    session.flush()
    _audit(
        session,
        "added",
        subscription.id,
        actor=actor,
        data={"url": subscription.url_masked, "events": types, "secret_from_env": secret_env},
    )
    return subscription


def find_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    """Return one subscription (removed ones too) or raise NotFound."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"no webhook {subscription_id}")
    return subscription


def active_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    """Return one subscription that was not removed, or refuse."""
    subscription = find_subscription(session, subscription_id)
    if subscription.removed_at is not None:
        raise Conflict(f"webhook {subscription_id} was removed")
    return subscription


def remove_subscription(session: Session, subscription_id: int, *, actor: str) -> int:
    """Stop a subscription and cancel its undelivered events; return how many were cancelled.

    A delivery already on the wire may still arrive; nothing is sent after this commits.
    """
    subscription = active_subscription(session, subscription_id)
    subscription.removed_at, subscription.removed_by = utcnow(), actor
    session.add(subscription)
    reason = f"webhook {subscription_id} removed"
    # `sending` too: a worker that claimed one finds it no longer its own, and records nothing.
    cancelled = session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.webhook_id) == subscription_id,
            col(OutboxMessage.status).in_(
                (MessageStatus.queued.value, MessageStatus.failed.value, MessageStatus.sending.value)
            ),
        )
        .values(
            status=MessageStatus.cancelled.value, cancelled_reason=reason, claim_token=None, lease_until=None
        )
    ).rowcount
    _audit(
        session,
        "removed",
        subscription_id,
        actor=actor,
        data={"url": subscription.url_masked, "cancelled": cancelled},
    )
    return int(cancelled)


def retry_dead(session: Session, subscription_id: int, *, actor: str) -> int:
    """Queue a subscription's dead deliveries (not its tests) again with fresh attempts; return how many."""
    active_subscription(session, subscription_id)
    retried = session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.webhook_id) == subscription_id,
            col(OutboxMessage.kind) == WEBHOOK_KIND,
            col(OutboxMessage.status) == MessageStatus.dead.value,
        )
        .values(status=MessageStatus.queued.value, attempts=0, next_attempt_at=utcnow(), last_error=None)
    ).rowcount
    _audit(session, "retried", subscription_id, actor=actor, data={"deliveries": retried})
    return int(retried)


def list_subscriptions(session: Session, *, include_removed: bool = False) -> list[dict[str, Any]]:
    """Return subscriptions as plain data for people (URL masked, no secret) with delivery counts."""
    query = select(WebhookSubscription).order_by(col(WebhookSubscription.id))
    if not include_removed:
        query = query.where(col(WebhookSubscription.removed_at).is_(None))
    subscriptions = list(session.exec(query))
    counts: dict[int, dict[str, int]] = {id_of(s): {} for s in subscriptions}
    tally = (
        select(OutboxMessage.webhook_id, OutboxMessage.status, func.count())
        .where(col(OutboxMessage.webhook_id).in_(list(counts)))
        .group_by(col(OutboxMessage.webhook_id), col(OutboxMessage.status))
    )
    for webhook_id, status, n in session.exec(tally):
        assert webhook_id is not None  # the query reads these subscriptions' messages only
        counts[webhook_id][status] = n
    return [subscription_public(s, counts[id_of(s)]) for s in subscriptions]


def subscription_public(subscription: WebhookSubscription, deliveries: Mapping[str, int]) -> dict[str, Any]:
    """Return one subscription as plain data for people: no URL in clear, no secret."""
    return {
        "id": subscription.id,
        "url": subscription.url_masked,
        "events": list(subscription.events),
        "created_by": subscription.created_by,
        "created_at": subscription.created_at.isoformat(),
        "removed_at": subscription.removed_at.isoformat() if subscription.removed_at else None,
        "deliveries": {status.value: deliveries.get(status.value, 0) for status in MessageStatus},
    }
