"""Webhook test helpers: the receiver's verification function, taken from docs/WEBHOOKS.md as a reader
would copy it, a subscription added the way `tandem webhook add` adds one, and the events received."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from sqlmodel import Session

from models.tables import WebhookSubscription
from models.webhooks.subscriptions import add_subscription
from tests.support.servers import HttpReceiver

DOCS = Path(__file__).resolve().parents[2] / "docs" / "WEBHOOKS.md"
SECRET = "whk-TEST-secret-7f3a9c2e51d84b6a"  # 32 characters, searched for everywhere it must not be


@cache
def _documented() -> dict[str, Any]:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    code = next(b for b in blocks if "def verify_webhook" in b)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - the documented code is the test subject
    return namespace


def verify_webhook(secret: str, headers: dict[str, str], body: bytes, **options: Any) -> str:
    """Run the documented verification function."""
    return _documented()["verify_webhook"](secret, headers, body, **options)  # type: ignore[no-any-return]


def refused_error() -> type[Exception]:
    """Return the documented exception a refused delivery raises."""
    return _documented()["WebhookRefused"]  # type: ignore[no-any-return]


def checking(secret: str = SECRET) -> Callable[[dict[str, str], bytes], None]:
    """Return a receiver hook that refuses any delivery the documented function does not verify."""

    def check(headers: dict[str, str], body: bytes) -> None:
        verify_webhook(secret, headers, body)

    return check


def subscribe(
    session: Session,
    receiver: HttpReceiver,
    *,
    events: tuple[str, ...] = ("all",),
    path: str = "/hooks/tandem-TOKEN123",
    secret: str = SECRET,
) -> WebhookSubscription:
    """Subscribe the receiver (its URL carries a token, as real ones often do) and commit."""
    subscription = add_subscription(
        session,
        url=receiver.base + path,
        events=list(events),
        secret_env="TANDEM_TEST_WEBHOOK_SECRET",
        environ={"TANDEM_TEST_WEBHOOK_SECRET": secret},
        actor="test",
    )
    session.commit()
    return subscription


def delivered_events(receiver: HttpReceiver) -> list[dict[str, Any]]:
    """Return the CloudEvents the receiver accepted, in arrival order."""
    return receiver.bodies()
