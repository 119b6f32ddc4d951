"""The warm command runner's rules: which commands it takes, when it declines, and how it answers.

A runner serves here in a thread of the test process (no local Prefect server is needed for that);
the whole path, from `tandem` through a runner beside a real local server, runs in
tests/integration/test_local_server.py.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments import warm


@pytest.mark.parametrize(
    ("argv", "taken"),
    [
        (["onboard", "P1", "--approve"], True),
        (["approve", "7"], True),
        (["governance", "4"], True),
        (["exit", "4", "--reason", "r", "--trigger", "breach"], True),
        (["partner", "list", "--json"], True),
        (["governance", "--help"], True),
        (["onboard", "P1", "--wait"], False),  # follows a run for hours in its own process
        (["server", "stop"], False),  # manages the runner itself
        (["web"], False),
        (["serve"], False),
        (["db", "upgrade"], False),
        (["--help"], False),
        ([], False),
    ],
)
def test_commands_that_return_are_handed_over(
    argv: list[str], taken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("TANDEM_NO_RUNNER", raising=False)
    assert warm.wants(argv) is taken


def test_a_configured_prefect_api_or_opting_out_keeps_commands_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example/api")
    assert not warm.wants(["governance", "4"])
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setenv("TANDEM_NO_RUNNER", "1")
    assert not warm.wants(["governance", "4"])


def test_the_fingerprint_follows_the_folder_dot_env_and_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path)
    first = warm.fingerprint()
    assert warm.fingerprint() == first
    assert warm.fingerprint({**os.environ, "TANDEM_SMTP_PORT": "2525"}) != first  # another setting
    assert warm.fingerprint({**os.environ, "COLUMNS": "99"}) == first  # display only: not a setting
    assert warm.fingerprint({**os.environ, "tandem_smtp_port": "2525"}) != first  # settings in any case
    assert warm.fingerprint({**os.environ, "HTTPS_PROXY": "http://proxy:3128"}) != first  # how sends go
    assert warm.fingerprint({**os.environ, "TZ": "Asia/Shanghai"}) != first
    (tmp_path / ".env").write_text("TANDEM_SMTP_HOST=mail.example\n")
    assert warm.fingerprint() != first  # settings from .env
    monkeypatch.chdir(tmp_path / "a")
    assert warm.fingerprint() != first  # another folder (relative paths, its own .env)


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[warm.Runner]:
    """A runner serving on a socket under a temporary home, in a thread of this process."""
    serving = warm.Runner("fp-1", tmp_path)
    serving.listen()
    threading.Thread(target=serving.accept, daemon=True).start()
    threading.Thread(target=serving.run_jobs, daemon=True).start()
    yield serving
    assert serving.listener is not None
    serving.listener.close()


def _ask(base: Path, request: dict[str, object], fds: list[int]) -> tuple[list[dict[str, object]], str]:
    """Send a request with descriptors; return the runner's answers and what it wrote to our stderr."""
    read_err, write_err = os.pipe()
    sent = [*fds, write_err] if fds else []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(warm.socket_path(base)))
        socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], sent)
        os.close(write_err)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    with os.fdopen(read_err) as err:
        return [json.loads(line) for line in data.splitlines()], err.read()


def test_the_runner_declines_other_settings_and_commands_that_stay_local(runner: warm.Runner) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        stale, _ = _ask(runner.base, {"argv": ["governance", "4"], "fingerprint": "fp-0"}, [devnull, devnull])
        local, _ = _ask(runner.base, {"argv": ["server", "stop"], "fingerprint": "fp-1"}, [devnull, devnull])
    finally:
        os.close(devnull)
    assert stale == [{"declined": "stale"}] and local == [{"declined": "local"}]
    assert runner.commands_run == 0
    assert warm.socket_path(runner.base).stat().st_mode & 0o777 == 0o600


@pytest.mark.usefixtures("schema")
def test_the_runner_runs_a_command_in_the_callers_terminal_with_its_exit_code(runner: warm.Runner) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        answers, shown = _ask(
            runner.base, {"argv": ["governance", "999"], "fingerprint": "fp-1"}, [devnull, devnull]
        )
    finally:
        os.close(devnull)
    assert answers == [{"accepted": True}, {"code": 1}]  # refused, as in the caller's own process
    assert "999" in shown and "Traceback" not in shown  # written straight to the caller's stderr
    assert runner.commands_run == 1


def test_a_deep_home_gets_a_short_private_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    path = warm.socket_path(deep)
    assert len(str(path)) <= warm.MAX_SOCKET_PATH and path.parent.stat().st_mode & 0o777 == 0o700
    assert path == warm.socket_path(deep) != warm.socket_path(tmp_path / ("d" * 60) / ("f" * 60))
    assert warm.socket_path(tmp_path) == tmp_path / warm.SOCKET_FILE  # a short home keeps it inside
