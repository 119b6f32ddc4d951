"""The embedded default's Prefect server: started once under TANDEM_HOME, then reused by every command.

Without `PREFECT_API_URL`, Prefect would start a temporary server for each command that runs a flow
(15-40 s each here). Instead the first such command starts `prefect server start` in the background
with its own home and database in `TANDEM_HOME/prefect`, and writes its pid and port beside it;
later commands find it and point Prefect at it. A file lock makes commands started at once share
one server. A server whose process died, whose port does not answer, or that runs another Prefect
version is replaced. Nothing here imports Prefect: `tandem server status` stays instant, and
Prefect's settings are put in the environment before anything imports it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from models.core.errors import Refused, TandemError

PID_FILE = "prefect-server.pid"
PORT_FILE = "prefect-server.port"
LOCK_FILE = "prefect-server.lock"
LOG_FILE = "prefect-server.log"
HOST = "127.0.0.1"
# The first start took 10-20 s here on a quiet machine and more under load: wait generously.
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0

# Prefect settings Tandem needs, in the environment before Prefect is imported (Prefect reads its
# settings once, at import). A value someone set themselves wins.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no phoning home: the server's analytics,
    "DO_NOT_TRACK": "1",  # and the SDK's telemetry (Prefect 3.9 sends it from interactive terminals)
    "PREFECT_LOGGING_LEVEL": "WARNING",  # the CLI prints results; run logs are in the server's UI
    # Only if someone opts into Prefect's ephemeral mode: its first start took 15-19 s here, against
    # Prefect's 20 s default.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


class ServerFailed(TandemError):
    """The local Prefect server could not be started."""


@dataclass(frozen=True)
class ServerInfo:
    """A running local server: its process, port and Prefect version."""

    pid: int
    port: int
    version: str

    @property
    def url(self) -> str:
        """Return the server's API URL."""
        return f"http://{HOST}:{self.port}/api"


def home() -> Path:
    """Return the folder that holds the server's files (TANDEM_HOME)."""
    from models.core.settings import get_settings  # not at import: the warm runner's client skips it

    return get_settings().home


def prefect_home(base: Path | None = None) -> Path:
    """Return the local server's PREFECT_HOME (its database, profiles and result storage)."""
    return (base or home()) / "prefect"


def configure_prefect() -> None:
    """Put Tandem's Prefect settings in the environment; call before anything imports Prefect."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if "PREFECT_API_URL" not in os.environ:
        os.environ.setdefault("PREFECT_HOME", str(prefect_home()))


def installed_version() -> str:
    """Return the installed Prefect version (from package metadata: no import)."""
    return version("prefect")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Return whether the pid is a live Prefect server (a recycled pid of another program is not)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): the health and version checks still apply
    return b"prefect" in command and b"server" in command


def _get(port: int, path: str, timeout: float = 2.0) -> Any:
    """GET a JSON answer from the server, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/api{path}", timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def recorded(base: Path) -> tuple[int | None, int | None]:
    """Return the pid and port the files under `base` record (None where missing)."""
    return _read_int(base / PID_FILE), _read_int(base / PORT_FILE)


def running(base: Path | None = None) -> ServerInfo | None:
    """Return the recorded server if its process lives, it answers, and it runs our Prefect version."""
    pid, port = recorded(base or home())
    if pid is None or port is None or not _alive(pid):
        return None
    if _get(port, "/health") is not True:
        return None
    served = _get(port, "/admin/version")
    if served != installed_version():
        return None
    return ServerInfo(pid=pid, port=port, version=served)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _server_env(base: Path, port: int) -> dict[str, str]:
    """Return the server process's environment: its own home and SQLite database under `base`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    folder = prefect_home(base)
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "PREFECT_HOME": str(folder),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{folder / 'prefect.db'}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": HOST,
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    )
    return env


def _start(base: Path) -> ServerInfo:
    """Start `prefect server start` in its own session, record it, and wait until it answers."""
    port = _free_port()
    prefect_home(base).mkdir(parents=True, exist_ok=True)
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect) if prefect.exists() else "prefect", "server", "start", "--host", HOST]
    with open(base / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=base,
            env=_server_env(base, port),
            start_new_session=True,  # outlives this command; stopped as a process group
        )
    (base / PID_FILE).write_text(f"{process.pid}\n", encoding="utf-8")
    (base / PORT_FILE).write_text(f"{port}\n", encoding="utf-8")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _forget(base)
            raise ServerFailed(f"the local Prefect server exited at start; see {base / LOG_FILE}")
        info = running(base)
        if info is not None:
            return info
        time.sleep(0.25)
    _terminate(process.pid)
    _forget(base)
    raise ServerFailed(
        f"the local Prefect server did not answer in {START_TIMEOUT_S:.0f} s; see {base / LOG_FILE}"
    )


def _terminate(pid: int) -> None:
    """Stop a server's process group: SIGTERM, then SIGKILL after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not _alive(pid) or _reaped(pid):
                return
            time.sleep(0.1)


def _reaped(pid: int) -> bool:
    """Reap our own child (the process that started the server) so it does not linger as a zombie."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def _forget(base: Path) -> None:
    for name in (PID_FILE, PORT_FILE):
        (base / name).unlink(missing_ok=True)


@contextmanager
def _locked(base: Path) -> Iterator[None]:
    """Hold the server lock: one command at a time checks, starts or stops the server."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _replace_stale(base: Path) -> None:
    """Stop what a stale record points to (a hung or outdated server) and forget it."""
    pid, _port = recorded(base)
    if pid is not None and _alive(pid):
        _terminate(pid)
    _forget(base)


def ensure_server(base: Path | None = None, *, announce: Any = None) -> tuple[ServerInfo, bool]:
    """Return the local server, starting it if none runs; say whether this call started it.

    `announce` is a context manager factory shown while starting (the CLI's spinner).
    """
    base = base or home()
    with _locked(base):
        info = running(base)
        if info is not None:
            return info, False
        _replace_stale(base)
        with announce() if announce else nullcontext():
            return _start(base), True


def stop_server(base: Path | None = None) -> ServerInfo | None:
    """Stop the local server if one is recorded; return what was stopped."""
    from deployments import warm

    base = base or home()
    with _locked(base):
        info = running(base)
        warm.stop(base)  # the warm runner works only beside this server
        _replace_stale(base)
    return info


def status(base: Path | None = None) -> dict[str, Any]:
    """Describe the local server (or the configured Prefect API) as plain data."""
    from deployments import warm

    base = base or home()
    configured = os.environ.get("PREFECT_API_URL")
    info = None if configured else running(base)
    pid, port = recorded(base)
    return {
        "configured_api_url": configured,
        "running": info is not None,
        "stale": info is None and pid is not None and not configured,
        **({**asdict(info), "url": info.url} if info else {"pid": pid, "port": port}),
        "prefect_version": installed_version(),
        "home": str(prefect_home(base)),
        "log": str(base / LOG_FILE),
        "runner": warm.status(base) | {"log": str(base / warm.LOG_FILE)},
    }


def point_prefect_here() -> None:
    """For a long-running process (`web`, `serve`, `deploy`): set PREFECT_API_URL to the local server.

    Called before Prefect is imported; with PREFECT_API_URL set, or Prefect already imported (and so
    configured), nothing is started.
    """
    configure_prefect()
    if os.environ.get("PREFECT_API_URL") or "prefect" in sys.modules:
        return
    os.environ["PREFECT_API_URL"] = _local_url()


def _local_url() -> str:
    """Return the local server's API URL, starting it (with a spinner, and a word once started)."""
    info, started = ensure_server(announce=spinner)
    if started:
        _say(f"local Prefect server started at {info.url} (pid {info.pid}); `tandem server stop` ends it")
    return info.url


@contextmanager
def prefect_runtime() -> Iterator[None]:
    """Run flows inside this: on the configured Prefect API, else on the local server (started once)."""
    configure_prefect()
    from prefect.settings import get_current_settings, temporary_settings

    # A heartbeat thread costs about 1 s per flow run here; a command's run is short and watched.
    updates: dict[str, Any] = {"flows.heartbeat_frequency": None}
    if not get_current_settings().api.url:  # neither the environment, a profile nor a test harness
        updates["api.url"] = _local_url()
    quiet = RefusalFilter()
    handlers = _console_handlers()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        with temporary_settings(updates=updates):
            yield
            _flush_events()
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def _flush_events() -> None:
    """Send the run's events now, while the server is known, rather than warn about them at exit."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all()


class RefusalFilter(logging.Filter):
    """Keep Prefect's console quiet about a refusal: the command prints it once, with every reason.

    A refused task still ends Failed (in the UI, with its log); only the terminal is spared the
    traceback and the same message three times.
    """

    _NAMED = re.compile(r"exception\.? (\w+):")

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for a record about a refusal."""
        if record.exc_info and isinstance(record.exc_info[1], Refused):
            return False
        if record.levelno < logging.ERROR:
            return True
        named = self._NAMED.search(record.getMessage())
        return not (named and named.group(1) in _refusal_names())


def _refusal_names() -> set[str]:
    """Return the class names of every refusal (to recognize them in Prefect's state messages)."""
    names, todo = set(), [Refused]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def _console_handlers() -> list[logging.Handler]:
    """Return the handlers that write Prefect's logs to the terminal (not the one to its API)."""
    found: list[logging.Handler] = []
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):  # "": the root logger
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and handler not in found:
                found.append(handler)
    return found


def spinner() -> Any:
    """Return a spinner on stderr saying the local server is starting."""
    from rich.console import Console

    console = Console(stderr=True)
    return console.status(
        "starting the local Prefect server (once; later commands reuse it) ...", spinner="dots"
    )


def _say(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, markup=False, highlight=False, soft_wrap=True).print(message)
