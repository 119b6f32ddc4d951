"""The warm command runner: a flow command answers in about a second instead of four.

Most of a flow command's time goes to importing Prefect, Tandem's flows and their models in a new
process, before any work. For the embedded default (no `PREFECT_API_URL`), the first flow command
that runs on the local Prefect server starts this runner beside it, in the background: one process
that imports everything once and then runs the flow commands later `tandem` processes hand it over
a Unix socket in TANDEM_HOME. The request carries the command line and the caller's terminal (its
standard input, output and error travel as file descriptors), so the command prints, is refused and
exits exactly as it would have in the caller's own process; the caller exits with its exit code.

Trust and staleness. The socket is the owner's alone (mode 0600, and the peer's uid is checked): the
same person who could run the command in-process. A request names the fingerprint of its
environment (the interpreter, the working folder, every TANDEM_/PREFECT_ variable, `.env`, the code
and the installed packages, the local server's port); the runner declines a request whose
fingerprint is not its own, and declines while busy with another command. A declined, refused or
missing runner costs nothing: the command runs in its own process as before, and a stale runner is
replaced for the next command. `tandem server stop` ends it with the server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SOCKET_FILE = "tandem-runner.sock"
PID_FILE = "tandem-runner.pid"
LOG_FILE = "tandem-runner.log"
LOCK_FILE = "tandem-runner.lock"
STATS_FILE = "tandem-runner.json"

# The commands that run a flow: the ones worth handing over. `onboard --wait` follows a run for hours
# and stays in its own process (Ctrl-C must stop it), and so does any `--help`.
WARM_COMMANDS = frozenset({"onboard", "approve", "reject", "governance", "exit"})
STAYS_LOCAL = frozenset({"--wait", "--help", "-h"})
CODE_PACKAGES = ("models", "notifications", "tasks", "flows", "deployments")
CONNECT_TIMEOUT_S = 2.0
IDLE_CHECK_S = 15.0
_MAX_REQUEST = 1 << 20


def home() -> Path:
    """Return TANDEM_HOME (where the local server and this runner keep their files)."""
    from models.core.settings import get_settings

    return get_settings().home


# --- the fingerprint: what makes two processes interchangeable -----------------------------------


def _code_stamp() -> tuple[int, int]:
    """Return the newest modification time and the count of Tandem's source and content files."""
    root = Path(__file__).resolve().parents[1]
    newest, count = 0, 0
    todo = [root / name for name in CODE_PACKAGES]
    while todo:
        folder = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__" and not entry.name.startswith("."):
                    todo.append(Path(entry.path))
            elif not entry.name.endswith((".pyc", ".pyo")):
                stat = entry.stat()
                newest, count = max(newest, stat.st_mtime_ns), count + 1
    return newest, count


def _dot_env() -> str:
    try:
        return Path(".env").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def fingerprint(server_port: int, environ: dict[str, str] | None = None) -> str:
    """Return the fingerprint of an environment (this process's at start), the code and the server."""
    settings_env = sorted(
        (k, v)
        for k, v in (os.environ if environ is None else environ).items()
        if k.startswith(("TANDEM_", "PREFECT_")) or k == "DO_NOT_TRACK"
    )
    packages = Path(sysconfig.get_paths()["purelib"])
    try:
        installed = packages.stat().st_mtime_ns
    except OSError:
        installed = 0
    parts = [sys.executable, os.getcwd(), settings_env, _dot_env(), _code_stamp(), installed, server_port]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


# --- the client side: hand a command over, or say it was not taken ------------------------------


def warm_command(argv: list[str]) -> bool:
    """Return whether this command line runs a flow and returns soon (one for the runner)."""
    return bool(argv) and argv[0] in WARM_COMMANDS and not STAYS_LOCAL.intersection(argv)


def wants(argv: list[str]) -> bool:
    """Return whether to hand this command line to the runner: the embedded default only."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get("TANDEM_NO_RUNNER"):
        return False
    return warm_command(argv)


def _server_port(base: Path) -> int | None:
    """Return the port of the local Prefect server if it runs (the runner works only beside it)."""
    from deployments import local_server

    info = local_server.running(base)
    return info.port if info else None


def delegate(argv: list[str]) -> int | None:
    """Run `tandem ARGV` in the runner and return its exit code; None when it was not taken."""
    base = home()
    path = base / SOCKET_FILE
    if not path.exists():
        return None
    port = _server_port(base)
    if port is None:
        return None
    request = {"argv": argv, "fingerprint": fingerprint(port)}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.connect(str(path))
            sock.settimeout(None)  # the command takes as long as it takes
            sys.stdout.flush()
            sys.stderr.flush()
            socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
            answer = _read_line(sock)
            if answer is None or not answer.get("accepted"):
                return None  # declined (busy or stale) or gone: the caller runs the command itself
            done = _read_line(sock)
    except OSError:
        done = None
    if done is None or "code" not in done:
        # Taken, then lost: running it again here could do it twice. Say so instead.
        sys.stderr.write(f"error: the command runner stopped during the command; see {base / LOG_FILE}\n")
        return 1
    return int(done["code"])


def _read_line(sock: socket.socket) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > _MAX_REQUEST:
            return None
    try:
        answer = json.loads(data)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def start_if_needed(environ: dict[str, str]) -> None:
    """After a flow command ran in its own process: start a runner for the next one, in the background.

    `environ` is the command's environment as it started (before Prefect's settings were added).
    Only beside a running local server, and never twice: a runner already answering for this
    fingerprint is kept; one for another fingerprint (new code, other settings) is replaced.
    """
    base = home()
    port = _server_port(base)
    if port is None:
        return
    wanted = fingerprint(port, environ)
    with _spawn_lock(base) as held:
        if not held or _answers(base, wanted):
            return
        retire(base)
        _spawn(base, wanted, port, environ)


@contextlib.contextmanager
def _spawn_lock(base: Path) -> Iterator[bool]:
    """Hold the spawn lock if free (another command starting a runner is enough: skip)."""
    with open(base / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _answers(base: Path, wanted: str) -> bool:
    """Return whether a runner answers on the socket for this fingerprint."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.connect(str(base / SOCKET_FILE))
            sock.sendall(json.dumps({"ping": True}).encode() + b"\n")
            answer = _read_line(sock)
    except OSError:
        return False
    return answer is not None and answer.get("fingerprint") == wanted


def _spawn(base: Path, wanted: str, port: int, environ: dict[str, str]) -> None:
    """Start a runner in its own session (it outlives this command), logging beside the server's."""
    env = environ | {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    with open(base / LOG_FILE, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "deployments.warm", wanted, str(base)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def retire(base: Path) -> int | None:
    """Take the runner's socket away: it finishes a command it is running, then exits by itself."""
    pid = _read_pid(base)
    (base / SOCKET_FILE).unlink(missing_ok=True)
    (base / PID_FILE).unlink(missing_ok=True)
    return pid if pid is not None and _is_runner(pid) else None


def stop(base: Path) -> int | None:
    """Stop the runner recorded under `base` now (with the local server); return its pid."""
    pid = retire(base)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, 15)
    return pid


def _read_pid(base: Path) -> int | None:
    try:
        return int((base / PID_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _is_runner(pid: int) -> bool:
    """Return whether the pid is a live runner (not a recycled pid of another program)."""
    try:
        return b"deployments.warm" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def status(base: Path) -> dict[str, Any]:
    """Describe the runner: whether it runs, its pid, and how many commands it has run."""
    pid = _read_pid(base)
    alive = pid is not None and _is_runner(pid) and (base / SOCKET_FILE).exists()
    try:
        stats = json.loads((base / STATS_FILE).read_text(encoding="utf-8")) if alive else {}
    except (OSError, ValueError):
        stats = {}
    return {"running": alive, "pid": pid if alive else None, "commands_run": stats.get("commands_run", 0)}


# --- the runner side ----------------------------------------------------------------------------


class Runner:
    """The warm process: one command at a time, in the caller's terminal, with the caller's exit code."""

    def __init__(self, wanted: str, base: Path) -> None:
        self.fingerprint = wanted
        self.base = base
        self.busy = threading.Lock()
        self.commands_run = 0
        self.inode: int | None = None
        self.listener: socket.socket | None = None

    def warm_up(self) -> None:
        """Import what flow commands need, once (this is the second a command no longer pays)."""
        from deployments.local_server import configure_prefect

        configure_prefect()
        import deployments.approvals  # noqa: F401
        import deployments.cli.lifecycle  # noqa: F401
        import flows.exit_relationship  # noqa: F401
        import flows.setup_governance  # noqa: F401

    def serve(self) -> None:
        """Listen on the socket until it is taken away or the local server is gone."""
        path = self.base / SOCKET_FILE
        path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)  # the socket is created owner-only: no window where others connect
        try:
            listener.bind(str(path))
        finally:
            os.umask(old_mask)
        listener.listen(8)
        self.inode = path.stat().st_ino
        (self.base / PID_FILE).write_text(f"{os.getpid()}\n", encoding="utf-8")
        self._write_stats()
        self.listener = listener
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed by the watcher
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def watch(self) -> None:
        """Exit the process when the socket is no longer ours (stopped or replaced) or the server has gone."""
        from deployments import local_server

        while True:
            time.sleep(IDLE_CHECK_S)
            try:
                ours = (self.base / SOCKET_FILE).stat().st_ino == self.inode
            except OSError:
                ours = False
            if self.busy.locked():
                continue  # never leave a command half done
            if not ours or local_server.running(self.base) is None:
                os._exit(0)  # noqa: SLF001 - daemon threads of Prefect must not keep it alive

    def _handle(self, conn: socket.socket) -> None:
        """Answer one connection: a ping, or a command to run."""
        fds: list[int] = []
        with conn:
            try:
                request, fds = self._receive(conn)
                self._answer(conn, request, fds)
            except (OSError, ValueError):
                pass
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _receive(self, conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
        """Read the request line (and the caller's descriptors), after checking who is calling."""
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != os.getuid():
            raise ValueError("another user")
        data, fds, _flags, _addr = socket.recv_fds(conn, _MAX_REQUEST, 3)
        while not data.endswith(b"\n") and len(data) < _MAX_REQUEST:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        request = json.loads(data)
        if not isinstance(request, dict):
            raise ValueError("not a request")
        return request, list(fds)

    def _answer(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        """Decline, or accept and run the command, then send its exit code."""
        argv = request.get("argv")
        if request.get("ping"):
            _send(conn, {"fingerprint": self.fingerprint})
        elif request.get("fingerprint") != self.fingerprint:
            _send(conn, {"declined": "stale"})
        elif not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or len(fds) != 3:
            _send(conn, {"declined": "malformed"})
        elif not warm_command(argv) or not self.busy.acquire(blocking=False):
            _send(conn, {"declined": "busy"})
        else:
            try:
                _send(conn, {"accepted": True})
                _send(conn, {"code": self._run(argv, fds)})
            finally:
                self.busy.release()

    def _run(self, argv: list[str], fds: list[int]) -> int:
        """Run `tandem ARGV` with the caller's descriptors as this process's 0, 1 and 2."""
        from deployments.cli import app

        saved = [os.dup(n) for n in (0, 1, 2)]
        streams = sys.stdin, sys.stdout, sys.stderr
        try:
            for fd, n in zip(fds, (0, 1, 2), strict=True):
                os.dup2(fd, n)
            # Fresh text streams on 0/1/2, whatever this process's streams were wrapped in.
            sys.stdin, sys.stdout, sys.stderr = (
                open(n, mode, encoding=stream.encoding, errors=stream.errors, closefd=False)  # noqa: SIM115
                for n, mode, stream in zip((0, 1, 2), "rww", streams, strict=True)
            )
            code = _exit_code(app, argv)
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            sys.stdin, sys.stdout, sys.stderr = streams
            for fd, n in zip(saved, (0, 1, 2), strict=True):
                os.dup2(fd, n)
                os.close(fd)
        self.commands_run += 1
        self._write_stats()
        return code

    def _write_stats(self) -> None:
        stats = {"pid": os.getpid(), "commands_run": self.commands_run, "fingerprint": self.fingerprint}
        (self.base / STATS_FILE).write_text(json.dumps(stats), encoding="utf-8")


def _send(conn: socket.socket, answer: dict[str, Any]) -> None:
    conn.sendall(json.dumps(answer).encode() + b"\n")


def _exit_code(app: Any, argv: list[str]) -> int:
    """Run the Typer app on argv as `tandem` would, and return its exit code."""
    try:
        app(args=argv, prog_name="tandem")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except Exception:  # the command's own outer boundary: show the traceback where it ran, as in-process
        traceback.print_exc()
        return 1
    return 0


def main(args: list[str]) -> None:
    """Entry point: `python -m deployments.warm FINGERPRINT TANDEM_HOME`."""
    wanted, base = args[0], Path(args[1])
    runner = Runner(wanted, base)
    runner.warm_up()
    threading.Thread(target=runner.watch, daemon=True).start()
    sys.stdout.write(f"tandem runner {os.getpid()} ready for {wanted}\n")
    sys.stdout.flush()
    runner.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
