"""Benchmark: deliver N queued messages to a local HTTP receiver; print one JSON line.

Run: python -m benchmarks.delivery --messages 5000 [--workers 4] [--batch 200] [--webhooks]
Target (issue 5): at least 200 messages a second, memory flat (RSS sampled after every batch).
With --webhooks the outbox holds N signed webhook events (CloudEvents, one subscription) instead of
chat messages: the same delivery loop, through the webhook sender.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.sharedctypes
import os
import platform
import resource
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Receiver(BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with _Receiver.lock:
            _Receiver.count += 1
        self._reply(b"{}")

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._reply(str(_Receiver.count).encode())

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


def _serve(port: multiprocessing.sharedctypes.Synchronized[int]) -> None:
    # A separate process, as a real receiver would be: it must not share our interpreter lock.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    port.value = server.server_address[1]
    server.serve_forever()


def _start_receiver() -> tuple[multiprocessing.Process, int]:
    port = multiprocessing.Value("i", 0)
    process = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    process.start()
    while not port.value:
        time.sleep(0.01)
    return process, int(port.value)


def _received(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as response:
        return int(response.read())


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _setup(home: str, port: int, messages: int, webhooks: bool) -> None:
    os.environ.update(
        {
            "TANDEM_HOME": home,
            "TANDEM_DATABASE_URL": f"sqlite:///{home}/bench.db",
            "TANDEM_QUIET_HOURS_START": "0",
            "TANDEM_QUIET_HOURS_END": "0",
            "TANDEM_BUSINESS_DAYS": "1,2,3,4,5,6,7",
        }
    )
    from models.core.db import session_scope, upgrade_schema
    from models.partners.registry import ContactCreate, add_contact
    from models.tables.core import Side
    from notifications.outbox import queue_message

    upgrade_schema()
    if webhooks:
        _queue_webhook_events(port, messages)
        return
    context = {"partner_name": "", "relationship_id": 1, "recipient_name": "Bench"}
    context |= {"manager_name": "Ann", "manager_email": "ann@example.org"}
    with session_scope() as session:
        channel = f"json://127.0.0.1:{port}/hook/benchTOKEN"
        data = ContactCreate(email="bench@example.org", side=Side.ours, channels=[channel])
        contact = add_contact(session, data, actor="bench")
        for n in range(messages):
            context["partner_name"] = f"Partner {n}"
            queue_message(session, kind="welcome", context=context, recipient=contact, dedupe=str(n))


def _queue_webhook_events(port: int, events: int) -> None:
    """Subscribe the receiver and queue N stage-change events for it (one transaction)."""
    from models.core.db import session_scope
    from models.core.vocabulary import EventType
    from models.webhooks.events import Event, queue_events
    from models.webhooks.subscriptions import add_subscription

    secret = {"BENCH_SECRET": "bench-secret-of-at-least-24-chars"}
    with session_scope() as session:
        url = f"http://127.0.0.1:{port}/hook/benchTOKEN"
        add_subscription(
            session, url=url, events=["all"], secret_env="BENCH_SECRET", environ=secret, actor="b"
        )
        data = {"relationship": {"id": 1, "partner": {"legal_name": "云栈 Software"}}, "from": "a", "to": "b"}
        queue_events(
            session, [Event(EventType.stage_changed, f"relationships/{n}", data) for n in range(events)]
        )


def main() -> None:
    """Queue N messages, deliver them all, print throughput and memory as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--webhooks", action="store_true", help="signed webhook events, not chat messages")
    args = parser.parse_args()
    receiver, port = _start_receiver()
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as home:
        started = time.perf_counter()
        _setup(home, port, args.messages, args.webhooks)
        queue_seconds = time.perf_counter() - started
        from notifications.delivery import deliver_due

        rss, sent, started, cpu = [_rss_mb()], 0, time.perf_counter(), time.process_time()
        while True:
            report = deliver_due(limit=args.batch, max_workers=args.workers, per_minute=0)
            if report.claimed == 0:
                break
            sent += report.sent
            rss.append(_rss_mb())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    received = _received(port)
    receiver.terminate()
    result = {
        "benchmark": "delivery-webhooks" if args.webhooks else "delivery",
        "messages": args.messages,
        "sent": sent,
        "received": received,
        "workers": args.workers,
        "batch": args.batch,
        "seconds": round(seconds, 2),
        "messages_per_second": round(sent / seconds, 1) if seconds else None,
        "cpu_ms_per_message": round(cpu / sent * 1000, 2) if sent else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "queue_seconds": round(queue_seconds, 2),
        "rss_mb_first_batch": round(rss[1] if len(rss) > 1 else rss[0], 1),
        "rss_mb_last_batch": round(rss[-1], 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
