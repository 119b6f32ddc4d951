"""A real `tandem web` (one server for this module's one test): the README's `curl` example, run as
written, and the scope refusals over real HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from models.core.calendar import today_local
from models.integration.reads import WINDOW_DAYS
from models.integration.tokens import create_token
from tests.support import factories as f
from tests.support.servers import free_port

README = Path(__file__).resolve().parents[3] / "README.md"
KEY = "cn-91320500ma1jg0001g"


def readme_curls() -> list[str]:
    """Return the README's `curl` commands of the API example, continuation lines joined."""
    block = (
        README.read_text(encoding="utf-8")
        .split("## An HTTP API for other systems", 1)[1]
        .split("```sh", 1)[1]
    )
    block = block.split("```", 1)[0].replace("\\\n", " ")
    commands, current = [], ""
    for line in block.splitlines():
        if line.startswith("curl "):
            current = line
        elif current and line.startswith(" "):
            current += " " + line.strip()
        if current and not line.startswith(("curl ", " ")):
            commands.append(current)
            current = ""
    return commands + ([current] if current else [])


@pytest.fixture
def server(session: Session) -> Iterator[str]:
    """Serve this test's database with `tandem web` on a free port; return the API's base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "tandem"), "web", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield f"{base}/api/v1"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_the_readme_curl_posts_a_payment_and_reads_the_new_days_to_pay(session: Session, server: str) -> None:
    rel = f.relationship(session, partner_name="Suzhou Jinggong")
    rel.key = KEY
    f.invoice(session, rel.id, "JG-2026-11", delivered=date(2026, 11, 2), invoiced_on=date(2026, 11, 4),  # type: ignore[arg-type]
              amount_minor=5_100_000)  # fmt: skip
    _, token = create_token(session, "erp", ["payments:write", "read"], actor="test")
    session.commit()
    env = {**os.environ, "TANDEM_TOKEN": token, "TANDEM_API": server}
    post, read = readme_curls()
    answers = [json.loads(subprocess.run(["bash", "-c", c], env=env, capture_output=True, check=True).stdout)
               for c in (post, post, read)]  # fmt: skip
    assert answers[0] == answers[1] == {"new": 0, "updated": 1, "paid": 1, "unchanged": 0}
    # Paid 25 days after delivery; days-to-pay covers the trailing year, so from late 2027 the README's
    # invoice is out of it (the example stays true: the figure is then null).
    in_window = today_local() - timedelta(days=WINDOW_DAYS) <= date(2026, 11, 27)
    assert answers[2]["days_to_pay"]["avg"] == (25.0 if in_window else None)
    # Scope refusals and problems over real HTTP, with the same token (no partners:write, no flows:write).
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{server}/partners/batch", json={"rows": [{}]}, headers=auth)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert httpx.post(f"{server}/exits", json={}, headers=auth).status_code == 403
    assert httpx.get(f"{server}/relationships", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert re.search(r'"openapi":\s*"3', httpx.get(f"{server}/openapi.json").text)
