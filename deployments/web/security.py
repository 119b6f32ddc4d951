"""Web security: response headers, request-body limits, CSRF tokens and a limiter for failed attempts."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import HTTPException, Path, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import LOGGING_CONFIG

from models.core.errors import Problem
from models.core.settings import get_settings
from models.portal.links import scope_ok, sign_scope

# No inline script or style anywhere; pages carry tokens in their URL, so no referrer and no cache.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cache-control": "no-store",
}
CSRF_COOKIE = "tandem_csrf"
MAX_ID = 2**31 - 1  # row ids are 32-bit integers in PostgreSQL: a larger one names no row
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present
                ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


PEER = "tandem.peer"  # the scope key holding the address that opened the connection
LOOPBACK = frozenset({"127.0.0.1", "::1"})


class PeerAddress:
    """ASGI middleware keeping the connection's own address before proxy headers replace the client's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[PEER] = scope["client"][0] if scope.get("client") else ""
        await self.app(scope, receive, send)


def from_trusted_proxy(request: Request) -> bool:
    """Say whether the request came straight from the configured proxy (or, without one, this host)."""
    allowed = get_settings().trusted_proxies or LOOPBACK
    return request.scope.get(PEER, "") in allowed


def is_loopback(host: str) -> bool:
    """Say whether a listening address is reachable from this machine only."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def serving_problems(host: str) -> list[Problem]:
    """Say why the web app must not serve on an address with the settings it has (empty: it may)."""
    settings = get_settings()
    if settings.dashboard_trusted_header and not settings.trusted_proxies and not is_loopback(host):
        return [
            Problem(
                "TANDEM_DASHBOARD_TRUSTED_PROXY",
                f"the dashboard trusts the {settings.dashboard_trusted_header} header and would listen on "
                f"{host}: set TANDEM_DASHBOARD_TRUSTED_PROXY to the proxy's address, or listen on 127.0.0.1",
            )
        ]
    return []


class BodyTooLarge(HTTPException):
    """A request body is larger than the limit (raised while it streams in)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request body too large")


class BodyLimit:
    """ASGI middleware refusing request bodies over a size: by Content-Length first, then as it streams.

    Paths under `exempt` (the API, which bounds its own bodies and answers in its own format) pass.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: str | None = None) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.exempt and scope.get("path", "").startswith(self.exempt)):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _plain(send, 413, b"request body too large")
            return
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge()
            return message

        await self.app(scope, counting, send)


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class FailureLimiter:
    """Count failed attempts in a sliding window per client and credential, and per client address.

    A client is refused one credential (a portal link, a dashboard token) after `limit` failures with
    it: a colleague behind the same NAT address with a good link is not locked out. An address is
    refused everything after `address_limit` failures (ten times `limit` by default), which bounds a
    spray of made-up links.
    """

    def __init__(
        self,
        limit: int = 10,
        window_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
        address_limit: int | None = None,
    ) -> None:
        self.limit, self.window, self.clock, self.max_clients = limit, window_seconds, clock, max_clients
        self.address_limit = address_limit or limit * 10
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(client: str, credential: str) -> str:
        # A digest, not the credential: the limiter never holds a token in memory.
        return f"{client} {hashlib.sha256(credential.encode()).hexdigest()[:32]}"

    def _recent(self, key: str) -> list[float]:
        since = self.clock() - self.window
        recent = [t for t in self._failures.get(key, []) if t > since]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def blocked(self, client: str, credential: str) -> bool:
        """Say whether a client has used up its failed attempts with a credential, or at all, for now."""
        with self._lock:
            return (
                len(self._recent(self._key(client, credential))) >= self.limit
                or len(self._recent(client)) >= self.address_limit
            )

    def fail(self, client: str, credential: str) -> None:
        """Record one failed attempt of a client with a credential."""
        with self._lock:
            for key in (self._key(client, credential), client):
                self._failures[key] = [*self._recent(key), self.clock()]
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_clients:  # bounded memory under a spray of addresses
                self._failures.popitem(last=False)


def client_key(request: Request) -> str:
    """Return who is asking, for rate limits (the proxy's forwarded address when uvicorn trusts it)."""
    return request.client.host if request.client else "unknown"


def csrf_for(scope: str) -> str:
    """Return the CSRF token of a form scope (a portal link's id, or a dashboard browser's cookie)."""
    return sign_scope(f"csrf:{scope}")


def csrf_valid(scope: str, token: str | None) -> bool:
    """Say whether a submitted CSRF token belongs to the scope."""
    return scope_ok(f"csrf:{scope}", token)


def browser_id(request: Request) -> str:
    """Return the browser's random CSRF cookie value, or a new one to set."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)


def require(condition: bool, status: int = 403, detail: str = "forbidden") -> None:
    """Refuse the request unless a condition holds."""
    if not condition:
        raise HTTPException(status_code=status, detail=detail)


# A portal path keeps its first 16 characters (the link's id, which `tandem portal revoke` takes);
# a whole token anywhere else (an error message) goes entirely.
_PORTAL_PATH = re.compile(r"(/portal/[A-Za-z0-9_-]{0,16})[^/?#\s\"']*")
_TOKEN_ANYWHERE = re.compile(r"[A-Za-z0-9_-]{16}\.\d{1,12}\.\d{1,12}\.\d{1,12}\.[A-Za-z0-9_-]{43}")


def redact(text: str) -> str:
    """Remove portal link tokens from a text meant for a log."""
    return _TOKEN_ANYWHERE.sub("[token]", _PORTAL_PATH.sub(r"\1...", text))


class RedactTokens(logging.Filter):
    """Logging filter taking portal tokens out of every record (uvicorn's access log prints each path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's message, arguments and traceback in place; keep the record."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):  # the access log formats its own arguments: keep their shape
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        message = record.getMessage()
        if redact(message) != message:  # a token inside some other object: give up the arguments
            record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def log_config() -> dict[str, Any]:
    """Return uvicorn's logging configuration with every handler redacting portal tokens."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_tokens": {"()": RedactTokens}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_tokens"]
    return config
