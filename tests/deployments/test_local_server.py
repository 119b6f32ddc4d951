"""The local Prefect server's records and the quiet, unretried refusal (no server is started here).

Starting, reuse by concurrent commands, replacing a stale server and stopping run on a real server
in tests/integration/test_local_server.py.
"""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from deployments import local_server
from models.core.errors import InputRejected, NotFound, TransitionRefused
from tasks.retries import unless_refused


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _record(home: Path, pid: int, port: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / local_server.PID_FILE).write_text(f"{pid}\n")
    (home / local_server.PORT_FILE).write_text(f"{port}\n")


def test_nothing_recorded_is_not_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    info = local_server.status(tmp_path)
    assert (info["running"], info["stale"], info["pid"]) == (False, False, None)
    assert info["log"] == str(tmp_path / "prefect-server.log")


def test_a_dead_or_foreign_pid_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    _record(tmp_path, _dead_pid(), 9)
    assert local_server.running(tmp_path) is None
    assert local_server.status(tmp_path)["stale"] is True
    # A live process that is not a Prefect server (a recycled pid) is never taken for ours, nor stopped.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _record(tmp_path, sleeper.pid, 9)
        assert local_server.running(tmp_path) is None
        assert local_server.stop_server(tmp_path) is None
        assert sleeper.poll() is None and not (tmp_path / local_server.PID_FILE).exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_configured_api_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    info = local_server.status(tmp_path)
    assert info["configured_api_url"] == "http://prefect.example:4200/api" and not info["running"]


def _record_of(exc: BaseException | None, message: str, level: int = logging.ERROR) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc else None
    return logging.LogRecord("prefect.task_runs", level, __file__, 1, message, None, exc_info)


def test_refusals_stay_off_the_console_and_failures_do_not() -> None:
    quiet = local_server.RefusalFilter()
    refused = TransitionRefused("onboarding is not complete", reasons=["#1 a"])
    assert not quiet.filter(_record_of(refused, "Task run failed with exception: ... - Retries exhausted"))
    assert not quiet.filter(_record_of(None, "Finished in state Failed('exception TransitionRefused: x')"))
    assert not quiet.filter(_record_of(None, "Finished in state Failed('exception. InputRejected: x')"))
    assert quiet.filter(_record_of(ValueError("bug"), "Task run failed with exception: ValueError('bug')"))
    assert quiet.filter(_record_of(None, "Finished in state Failed('exception ValueError: bug')"))


def test_a_refusal_is_never_retried() -> None:
    from prefect.states import Failed

    for refusal in (TransitionRefused("no", reasons=["#1"]), InputRejected("bad"), NotFound("none")):
        assert unless_refused(None, None, Failed(data=refusal)) is False
    assert unless_refused(None, None, Failed(data=OSError("database is locked"))) is True


def test_every_retried_task_skips_refusals() -> None:
    from prefect import Task

    retried = [
        obj
        for name in ("tasks.lifecycle", "tasks.review", "tasks.notify")
        for obj in vars(importlib.import_module(name)).values()
        if isinstance(obj, Task) and obj.retries
    ]
    assert len(retried) >= 10
    assert all(task.retry_condition_fn is unless_refused for task in retried), [t.name for t in retried]


def test_a_refusal_keeps_its_reasons_through_pickling() -> None:
    import pickle

    sent = TransitionRefused("onboarding is not complete", reasons=["#1", "#2"])
    refused = pickle.loads(pickle.dumps(sent))
    assert (str(refused), refused.reasons) == ("onboarding is not complete", ["#1", "#2"])
