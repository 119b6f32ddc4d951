"""The warm command runner: every command answers in a fraction of a second, flow commands included.

Most of a command's time goes to importing SQLAlchemy, the table models and, for a flow command,
Prefect and the flows, in a new process, before any work (0.6 s for a listing, 3 s for a flow command
here). For the embedded default (no `PREFECT_API_URL`), a command that ran in its own process starts
this runner in the background: one process that imports everything once and then runs the commands
later `tandem` processes hand it over a Unix socket in TANDEM_HOME (flow commands on the local Prefect
server, which it starts on first use as any command would). A request carries the command line and
the caller's terminal (its standard input, output and error travel as file descriptors), so the
command prints, is refused and exits exactly as it would have in the caller's own process; the caller
exits with its exit code, and its Ctrl-C interrupts the command.

Trust and staleness. The socket is the owner's alone (mode 0600, and the peer's uid is checked): the
same person who could run the command in-process. A request names the fingerprint of its
environment (the interpreter, the working folder, every TANDEM_/PREFECT_ variable, `.env`, the code
and the installed packages); the runner declines a request whose fingerprint is not its own, and
declines while busy with another command. A declined or missing runner costs nothing: the command
runs in its own process as before, and a stale runner is replaced for the next command. A runner
nobody used for 30 minutes exits. Long-running and server-managing commands (`server`, `web`,
`serve`, `deploy`, `db`, `onboard --wait`) always run in their own process, and `tandem server stop`
ends the runner with the server. `TANDEM_NO_RUNNER=1` keeps a command in its own process.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import hashlib
import json
import os
import queue
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SOCKET_FILE = "tandem-runner.sock"
PID_FILE = "tandem-runner.pid"
LOG_FILE = "tandem-runner.log"
LOCK_FILE = "tandem-runner.lock"
STATS_FILE = "tandem-runner.json"

# Commands that serve, wait for hours, or manage the server and schema stay in their own process.
LOCAL_COMMANDS = frozenset({"server", "web", "serve", "deploy", "db"})
LOCAL_FLAGS = frozenset({"--wait"})
FINGERPRINT_ENV = "TANDEM_RUNNER_FINGERPRINT"
CODE_PACKAGES = ("models", "notifications", "tasks", "flows", "deployments")
CONNECT_TIMEOUT_S = 2.0
IDLE_CHECK_S = 15.0
IDLE_EXIT_S = 30 * 60.0  # a runner nobody used for this long goes; the next command starts another
_MAX_REQUEST = 1 << 20
MAX_SOCKET_PATH = 100  # bytes; Linux allows 107 in sockaddr_un
INTERRUPT = b"INT\n"
# Besides TANDEM_* and PREFECT_* (any case): what changes a command's behaviour, so a runner started
# with other values is not used (time zone, locale, home, proxies and certificates for sends).
BEHAVIOUR_ENV = frozenset(
    {
        "DO_NOT_TRACK", "TZ", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_TIME", "HOME", "USER",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PYTHONPATH", "PYTHONHASHSEED", "VIRTUAL_ENV",
    }
)  # fmt: skip
# How the caller's terminal wants output: not settings (no fingerprint), passed with each command.
DISPLAY_ENV = frozenset({"COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM", "TTY_COMPATIBLE"})


def home() -> Path:
    """Return TANDEM_HOME as the settings would, without loading them (a cheap first step).

    Wrong here only means not finding the runner: a runner is used only when its fingerprint, which
    covers every setting, matches.
    """
    named = {k.upper(): v for k, v in os.environ.items() if k.upper() == "TANDEM_HOME"}
    value = named.get("TANDEM_HOME")
    if value is None and Path(".env").is_file():
        from dotenv import dotenv_values

        value = {k.upper(): v for k, v in dotenv_values(".env").items()}.get("TANDEM_HOME")
    return Path(value or "~/.tandem").expanduser()


def socket_path(base: Path) -> Path:
    """Return where the runner of TANDEM_HOME listens: in it, or in a private folder if that is too long.

    A Unix socket's path is limited to 107 bytes on Linux: a deep TANDEM_HOME gets a short path in
    an owner-only folder of the temporary directory instead (refused if anyone else could write there).
    """
    path = base / SOCKET_FILE
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    folder = Path(tempfile.gettempdir()) / f"tandem-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = folder.lstat()
    except OSError:
        return path  # binding it fails: commands then run in their own process, as without a runner
    if found.st_uid != os.getuid() or found.st_mode & 0o077 or not stat.S_ISDIR(found.st_mode):
        return path  # someone else's folder: never listen or connect there
    name = hashlib.sha256(os.fsencode(base.resolve())).hexdigest()[:24]
    return folder / f"{name}.sock"


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
                newest, count = max(newest, entry.stat().st_mtime_ns), count + 1
    return newest, count


def _matters(name: str) -> bool:
    """Return whether a variable can change what a command does (settings are read in any case)."""
    upper = name.upper()
    return upper.startswith(("TANDEM_", "PREFECT_")) or upper in BEHAVIOUR_ENV


def _dot_env() -> str:
    try:
        return Path(".env").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def fingerprint(environ: dict[str, str] | None = None) -> str:
    """Return the fingerprint of an environment (this process's at start) and the code."""
    settings_env = sorted(
        (k, v) for k, v in (os.environ if environ is None else environ).items() if _matters(k)
    )
    packages = Path(sysconfig.get_paths()["purelib"])
    try:
        installed = packages.stat().st_mtime_ns
    except OSError:
        installed = 0
    parts = [sys.executable, os.getcwd(), settings_env, _dot_env(), _code_stamp(), installed]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


# --- the client side: hand a command over, or say it was not taken ------------------------------


def warm_command(argv: list[str]) -> bool:
    """Return whether this command line is one for the runner (it returns and needs no own process)."""
    return (
        bool(argv)
        and argv[0] not in LOCAL_COMMANDS
        and not argv[0].startswith("-")
        and not (LOCAL_FLAGS.intersection(argv))
    )


def wants(argv: list[str]) -> bool:
    """Return whether to hand this command line to the runner: the embedded default only."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get("TANDEM_NO_RUNNER"):
        return False
    return warm_command(argv)


def delegate(argv: list[str]) -> int | None:
    """Run `tandem ARGV` in the runner and return its exit code; None when it was not taken."""
    base = home()
    path = socket_path(base)
    if not path.exists():
        return None
    display = {k: v for k, v in os.environ.items() if k in DISPLAY_ENV}
    request = {"argv": argv, "fingerprint": fingerprint(), "display": display}
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
            done = _wait_for_code(sock)
    except OSError:
        done = None
    if done is None or "code" not in done:
        # Taken, then lost: running it again here could do it twice. Say so instead.
        sys.stderr.write(f"error: the command runner stopped during the command; see {base / LOG_FILE}\n")
        return 1
    return int(done["code"])


def _wait_for_code(sock: socket.socket) -> dict[str, Any] | None:
    """Wait for the command's exit code; a Ctrl-C here interrupts the command there (a second one, us)."""
    try:
        return _read_line(sock)
    except KeyboardInterrupt:
        sock.sendall(INTERRUPT)
        try:
            return _read_line(sock)
        except KeyboardInterrupt:
            return {"code": 130}


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
    base.mkdir(parents=True, exist_ok=True)
    wanted = fingerprint(environ)
    with _spawn_lock(base) as held:
        if not held or _answers(base, wanted):
            return
        retire(base)
        _spawn(base, wanted, environ)


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
            sock.connect(str(socket_path(base)))
            sock.sendall(json.dumps({"ping": True}).encode() + b"\n")
            answer = _read_line(sock)
    except OSError:
        return False
    return answer is not None and answer.get("fingerprint") == wanted


def _spawn(base: Path, wanted: str, environ: dict[str, str]) -> None:
    """Start a runner in its own session (it outlives this command), logging beside the server's."""
    # No display variables of its own: Rich would fix its width from COLUMNS at import, for good;
    # each command brings its caller's.
    env = {k: v for k, v in environ.items() if k not in DISPLAY_ENV}
    # In the environment, which only its owner can read, not in the command line `ps` shows everyone:
    # the fingerprint is a hash over settings that include secrets.
    env[FINGERPRINT_ENV] = wanted
    with open(base / LOG_FILE, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "deployments.warm", str(base)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def retire(base: Path) -> int | None:
    """Take the runner's socket away: it finishes a command it is running, then exits by itself."""
    pid = _read_pid(base)
    socket_path(base).unlink(missing_ok=True)
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
    alive = pid is not None and _is_runner(pid) and socket_path(base).exists()
    try:
        stats = json.loads((base / STATS_FILE).read_text(encoding="utf-8")) if alive else {}
    except (OSError, ValueError):
        stats = {}
    return {"running": alive, "pid": pid if alive else None, "commands_run": stats.get("commands_run", 0)}


# --- the runner side ----------------------------------------------------------------------------


@dataclass
class Job:
    """A command handed over: its line, the caller's descriptors, and where its exit code goes."""

    argv: list[str]
    fds: list[int]
    display: dict[str, str]
    done: threading.Event = field(default_factory=threading.Event)
    code: int = 1


class Runner:
    """The warm process: commands run one at a time on its main thread (so Ctrl-C can reach them)."""

    def __init__(self, wanted: str, base: Path) -> None:
        self.fingerprint = wanted
        self.base = base
        self.busy = threading.Lock()
        self.jobs: queue.Queue[Job] = queue.Queue()
        self.commands_run = 0
        self.inode: int | None = None
        self.listener: socket.socket | None = None
        self.running: Job | None = None
        self.context = contextvars.copy_context()
        self.last_used = time.monotonic()

    def warm_up(self) -> None:
        """Import what commands need, once: the time a command no longer pays."""
        from deployments.cli import COMMANDS
        from deployments.cli.lazy import load_command
        from deployments.local_server import configure_prefect

        configure_prefect()
        import deployments.approvals  # noqa: F401
        import flows.exit_relationship  # noqa: F401
        import flows.setup_governance  # noqa: F401

        for name, entry in COMMANDS.items():
            if name not in LOCAL_COMMANDS:
                load_command(name, entry.target)

    def listen(self) -> None:
        """Bind the owner-only socket and record this runner."""
        path = socket_path(self.base)
        path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)  # the socket is created owner-only: no window where others connect
        try:
            listener.bind(str(path))
        finally:
            os.umask(old_mask)
        listener.listen(8)
        self.inode = path.stat().st_ino
        self.listener = listener
        (self.base / PID_FILE).write_text(f"{os.getpid()}\n", encoding="utf-8")
        self._write_stats()

    def accept(self) -> None:
        """Take connections until the socket is closed; each is answered on its own thread."""
        assert self.listener is not None  # listen() first
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def run_jobs(self) -> None:
        """Run handed-over commands on this (the main) thread, forever."""
        while True:
            try:
                job = self.jobs.get()
                self.running = job
                with _environment(job.display):
                    job.code = self._run(job.argv, job.fds)
            except KeyboardInterrupt:
                continue  # a Ctrl-C that came as the command ended: it has its code already
            finally:
                self.running = None
            job.done.set()

    def watch(self) -> None:
        """Exit the process when the socket is no longer ours (stopped or replaced) or nobody used it."""
        while True:
            time.sleep(IDLE_CHECK_S)
            try:
                ours = socket_path(self.base).stat().st_ino == self.inode
            except OSError:
                ours = False
            if self.busy.locked():
                continue  # never leave a command half done
            if not ours or time.monotonic() - self.last_used > IDLE_EXIT_S:
                os._exit(0)  # Prefect's background threads must not keep a retired runner alive

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
        peer = getattr(socket, "SO_PEERCRED", None)
        if peer is None:  # no way to check who calls (not Linux): take no command at all
            raise ValueError("peer credentials unavailable")
        creds = conn.getsockopt(socket.SOL_SOCKET, peer, struct.calcsize("3i"))
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
        """Decline, or accept the command, pass on the caller's Ctrl-C, and send its exit code."""
        argv = request.get("argv")
        if request.get("ping"):
            _send(conn, {"fingerprint": self.fingerprint})
        elif request.get("fingerprint") != self.fingerprint:
            _send(conn, {"declined": "stale"})
        elif not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or len(fds) != 3:
            _send(conn, {"declined": "malformed"})
        elif not warm_command(argv):
            _send(conn, {"declined": "local"})
        elif not self.busy.acquire(blocking=False):
            _send(conn, {"declined": "busy"})
        else:
            try:
                _send(conn, {"accepted": True})
                display = request.get("display")
                job = Job(argv, fds, _display(display))
                self.jobs.put(job)
                self._relay_interrupts(conn, job)
                _send(conn, {"code": job.code})
            finally:
                self.busy.release()

    def _relay_interrupts(self, conn: socket.socket, job: Job) -> None:
        """Until the job is done: the caller's Ctrl-C (or its going away) interrupts the command."""
        caller_here = True
        while not job.done.wait(0.05):
            if caller_here and select.select([conn], [], [], 0)[0]:
                caller_here = conn.recv(16) == INTERRUPT
                if self.running is job:
                    signal.raise_signal(signal.SIGINT)  # a KeyboardInterrupt on the main thread

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
            # Each command in a fresh copy of the start-up context: nothing (the principal above all)
            # carries over from one command to the next.
            code = self.context.copy().run(_exit_code, app, argv)
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            sys.stdin, sys.stdout, sys.stderr = streams
            for fd, n in zip(saved, (0, 1, 2), strict=True):
                os.dup2(fd, n)
                os.close(fd)
        self.commands_run += 1
        self.last_used = time.monotonic()
        self._write_stats()
        return code

    def _write_stats(self) -> None:
        stats = {"pid": os.getpid(), "commands_run": self.commands_run}
        (self.base / STATS_FILE).write_text(json.dumps(stats), encoding="utf-8")


def _display(value: Any) -> dict[str, str]:
    """Return the caller's display variables from a request (only those, only strings)."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k in DISPLAY_ENV and isinstance(v, str)}


@contextlib.contextmanager
def _environment(display: dict[str, str]) -> Iterator[None]:
    """Use the caller's display variables for one command (the runner's own are put back after)."""
    saved = {k: os.environ.get(k) for k in DISPLAY_ENV}
    for key in DISPLAY_ENV:
        os.environ.pop(key, None)
    os.environ.update(display)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _send(conn: socket.socket, answer: dict[str, Any]) -> None:
    conn.sendall(json.dumps(answer).encode() + b"\n")


def _exit_code(app: Any, argv: list[str]) -> int:
    """Run the Typer app on argv as `tandem` would, and return its exit code."""
    try:
        app(args=argv, prog_name="tandem")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        return 130  # as the caller's own process ends on Ctrl-C
    except Exception:  # the command's own outer boundary: show the traceback where it ran, as in-process
        traceback.print_exc()
        return 1
    return 0


def main(args: list[str]) -> None:
    """Entry point: `python -m deployments.warm TANDEM_HOME`, the fingerprint in its environment."""
    wanted, base = os.environ.pop(FINGERPRINT_ENV), Path(args[0])
    runner = Runner(wanted, base)
    runner.warm_up()
    runner.listen()
    threading.Thread(target=runner.watch, daemon=True).start()
    threading.Thread(target=runner.accept, daemon=True).start()
    sys.stdout.write(f"tandem runner {os.getpid()} ready in {base}\n")
    sys.stdout.flush()
    runner.run_jobs()


if __name__ == "__main__":
    main(sys.argv[1:])
