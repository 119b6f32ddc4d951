"""Real local servers for notification tests: an SMTP server (aiosmtpd) and a threaded HTTP receiver.

Both listen on 127.0.0.1 on a free port. The HTTP receiver can fail a share of requests (deterministic,
seeded), answer with a provider error body, or stall; the SMTP server can refuse the first N messages,
be slow to answer, or be stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One HTTP request the receiver accepted."""

    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A threaded HTTP server that records accepted POSTs; failures are answered before recording."""

    fail_share: float = 0.0
    seed: int = 7
    reply: dict[str, Any] = field(default_factory=dict)
    delay_seconds: float = 0.0
    # Called with the request's number (1, 2, ...) as each request arrives, before the delay: a test's
    # hook into "a send is in flight now".
    on_request: Callable[[int], None] | None = None
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> HttpReceiver:
        """Start serving in a background thread."""
        self._random = random.Random(self.seed)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.handle(self, body)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        """Return the port served on."""
        return int(self._server.server_address[1])

    @property
    def base(self) -> str:
        """Return the http://host:port base URL."""
        return f"http://127.0.0.1:{self.port}"

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        """Answer one POST: maybe stall, maybe fail, else record it and reply."""
        with self._lock:
            self.requests += 1
            number = self.requests
        if self.on_request is not None:
            self.on_request(number)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        with self._lock:
            fail = self._random.random() < self.fail_share
            if fail:
                self.refused += 1
            else:
                path, _, query = handler.path.partition("?")
                self.received.append(Received(path, query, dict(handler.headers.items()), body))
        payload = json.dumps({"error": "injected"} if fail else self.reply).encode()
        handler.send_response(503 if fail else 200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def bodies(self) -> list[Any]:
        """Return every accepted body parsed as JSON."""
        with self._lock:
            return [r.json() for r in self.received]

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.server.delay_seconds:
            await asyncio.sleep(self.server.delay_seconds)
        return self.server.accept(envelope.rcpt_tos, envelope.content)


@dataclass
class SmtpServer:
    """A real SMTP server (aiosmtpd) that keeps every message; can refuse the first N or be stopped."""

    port: int = field(default_factory=free_port)
    refuse_first: int = 0
    delay_seconds: float = 0.0  # before answering DATA: a slow server, so the sender times out
    password: str | None = None
    logins: list[str] = field(default_factory=list)
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    refused: int = 0
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, rcpt_tos: list[str], content: bytes) -> str:
        """Keep one message, or refuse it while refusals remain."""
        with self._lock:
            if self.refused < self.refuse_first:
                self.refused += 1
                return "451 4.3.0 try again later (injected)"
            self.messages.append(message_from_bytes(content, policy=policy.default))  # type: ignore[arg-type]
            self.recipients.append(list(rcpt_tos))
        return "250 OK"

    def start(self) -> SmtpServer:
        """Start listening on the port."""
        auth: dict[str, Any] = {}
        if self.password is not None:
            auth = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **auth)
        self._controller.start()
        return self

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password.decode() == self.password
        if ok:
            self.logins.append(data.login.decode())
        # handled=False: aiosmtpd answers a refused login with 535 (handled=True would leave it unanswered).
        return AuthResult(success=ok, handled=ok)

    def stop(self) -> None:
        """Stop listening (a send now fails with connection refused)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def subjects(self) -> list[str]:
        """Return every received subject, decoded."""
        with self._lock:
            return [str(m["subject"]) for m in self.messages]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """Start a real SMTP server on 127.0.0.1 for one test."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """Start a real HTTP receiver on 127.0.0.1 for one test."""
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_settings(smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Point Tandem's SMTP settings at the test server (password and all)."""
    from models.core.settings import get_settings

    def apply(**extra: str) -> None:
        values = {
            "TANDEM_SMTP_HOST": "127.0.0.1",
            "TANDEM_SMTP_PORT": str(smtp_server.port),
            "TANDEM_SMTP_TLS": "none",
            "TANDEM_SMTP_FROM": "Tandem <tandem@example.org>",
            **extra,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    apply()
    return apply
