"""Racing requests close an item once: concurrent POSTs to a running server, and racing CLI calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlmodel import Session, col, select

from deployments.web.security import csrf_for
from models.checklists.generation import mark_done, waive
from models.core.db import session_scope
from models.core.errors import Conflict
from models.core.settings import get_settings
from models.tables import AuditEvent, Contact
from tests.deployments.web.support import World, status_of
from tests.support.servers import free_port

RACERS = 10
PDF = b"%PDF-1.4\n% evidence\n"


@pytest.fixture
def live(app: FastAPI) -> Iterator[str]:
    """Serve the app with uvicorn on a free port in a thread; return its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _race(call: Callable[[int], Any]) -> list[Any]:
    """Run a call in RACERS threads released together; return each result or the exception raised."""
    gate = threading.Barrier(RACERS)

    def one(n: int) -> Any:
        gate.wait()
        try:
            return call(n)
        except Exception as exc:  # the losers' refusals are results here
            return exc

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(one, range(RACERS)))


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(col(AuditEvent.action) == action)))


def test_ten_parallel_posts_close_an_item_once_with_one_upload(
    live: str, world: World, session: Session
) -> None:
    url = f"{live}/portal/{world.token}/items/{world.item.id}/done"
    form = {"csrf": csrf_for(f"portal:{world.token.split('.')[0]}"), "note": "double click"}

    def post(_: int) -> int:
        files = {"file": ("proof.pdf", PDF, "application/pdf")}
        return httpx.post(url, data=form, files=files, timeout=60).status_code

    codes = _race(post)
    assert sorted(codes) == [303] + [409] * (RACERS - 1), codes
    assert status_of(session, world.item) == "done"
    assert len(_events(session, "checklist.item.done")) == 1
    [upload] = _events(session, "portal.upload")
    stored = sorted((get_settings().home / "uploads").iterdir())
    assert [p.name for p in stored] == [upload.data["stored_as"]]  # no orphaned file from a loser


def test_racing_done_and_waive_from_the_cli_close_an_item_once(world: World, session: Session) -> None:
    manager = session.get(Contact, world.rel.manager_id)
    assert manager is not None
    item_id, email = world.joint.id, manager.email

    def close(n: int) -> str:
        with session_scope() as own:  # each racer is its own process's command: its own session
            if n % 2:
                waive(own, item_id, by=email, reason="not needed")  # type: ignore[arg-type]
            else:
                mark_done(own, item_id, by=email, evidence="x")  # type: ignore[arg-type]
        return "closed"

    results = _race(close)
    assert results.count("closed") == 1, results
    assert all(isinstance(r, Conflict) for r in results if r != "closed")
    closed = _events(session, "checklist.item.done") + _events(session, "checklist.item.waived")
    assert len(closed) == 1
