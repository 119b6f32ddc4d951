"""Webhook delivery: each event is signed as Standard Webhooks describes and POSTed as a CloudEvent.

Headers (docs/WEBHOOKS.md has the receiver's side, with a verification function to copy):
- `webhook-id`: the delivery id, the same on every retry of one event to one subscription; a receiver
  drops one it has seen;
- `webhook-timestamp`: seconds since the epoch when this attempt was signed; a receiver refuses one
  too far from its clock (replays);
- `webhook-signature`: `v1,` and the base64 HMAC-SHA256, keyed with the secret's UTF-8 bytes, of
  `{webhook-id}.{webhook-timestamp}.{body}` over the exact body bytes.

Redirects are not followed (the URL was checked when it was added; a redirect could lead anywhere);
any 2xx is success; a timeout after connecting is "unknown" and retried like a failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from importlib.metadata import PackageNotFoundError, version

import requests
from sqlmodel import Session

from models.core.errors import DeliveryError, DeliveryUnknown
from models.core.settings import Settings, get_settings
from models.tables import WebhookSubscription
from models.webhooks.events import CONTENT_TYPE
from models.webhooks.subscriptions import signing_secret, subscription_url
from notifications.channels import SEND_TIMEOUT_SECONDS, Outgoing, Target, scrub, team_targets

CHANNEL = "webhook"
SIGNATURE_VERSION = "v1"
CONNECT_TIMEOUT_SECONDS = 5.0


def _user_agent() -> str:
    try:
        return f"Tandem-Webhooks/{version('tandem')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "Tandem-Webhooks"


USER_AGENT = _user_agent()


def sign(secret: str, *, delivery_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value of one attempt: `v1,` and the base64 HMAC-SHA256."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(
    secret: str, *, delivery_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Return the headers of one attempt, signed now (or at `timestamp`)."""
    at = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
        "webhook-id": delivery_id,
        "webhook-timestamp": str(at),
        "webhook-signature": sign(secret, delivery_id=delivery_id, timestamp=at, body=body),
    }


def webhook_targets(session: Session, subscription_id: int) -> list[Target]:
    """Return where a webhook delivery goes: its subscription's URL, or nowhere once it was removed."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.removed_at is not None:
        return []
    return [
        Target(
            channel=CHANNEL,
            url=subscription_url(subscription),
            shown=subscription.url_masked,
            identity=f"webhook:{subscription_id}",
            secret=signing_secret(subscription),
        )
    ]


def post(target: Target, outgoing: Outgoing) -> None:
    """POST one signed event; raise DeliveryError, or DeliveryUnknown when it may have arrived."""
    body = outgoing.text.encode("utf-8")
    headers = signed_headers(target.secret, delivery_id=outgoing.key, body=body)
    try:
        with requests.post(
            target.url,
            data=body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT_SECONDS, SEND_TIMEOUT_SECONDS),
            allow_redirects=False,
            stream=True,  # the answer's body is never read: only its status counts
        ) as response:
            status = response.status_code
    except requests.ReadTimeout:
        raise DeliveryUnknown(f"{target.shown}: no answer within {SEND_TIMEOUT_SECONDS:g} s") from None
    except requests.RequestException as exc:
        # The exception's text names the URL (tokens in its path): only its type is kept.
        raise DeliveryError(scrub(f"{target.shown}: {type(exc).__name__}", {target.url})) from None
    if 200 <= status < 300:
        return
    raise DeliveryError(f"{target.shown}: HTTP {status}")


def report_team(settings: Settings | None = None) -> str | None:
    """Return the team told about dead webhook deliveries, if it has a channel."""
    team = (settings or get_settings()).webhook_report_team
    return team if team and team_targets(team, settings) else None
