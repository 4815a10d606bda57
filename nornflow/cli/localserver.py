"""One local Prefect server, started on first use and shared by every ``nornflow`` command.

Without ``PREFECT_API_URL``, Prefect starts a temporary server inside each process that runs a
flow (5-15 s before the first device is touched) and stops it at exit. Here the first command
that needs a server starts ``prefect server start`` in the background on a loopback port
(4200 when free) and later commands reuse it: the API, the UI and the history stay up between
commands. Its state lives in ``$PREFECT_HOME/nornflow-server/`` (``server.json`` with pid, port
and URL; ``server.log``; a ``lock`` file), beside the database it serves
(``$PREFECT_HOME/prefect.db``, Prefect's default). ``nornflow server status|stop`` shows and stops it.

- A configured API (``PREFECT_API_URL`` in the environment or in the active Prefect profile)
  always wins: nothing is started, that server is used.
- Two commands starting at once share one server: whoever takes the lock first starts it and
  writes ``server.json`` before letting go; the other finds it there and waits for the same
  server to answer, never starting its own.
- A server that died (its pid gone, or the pid now another program's) is replaced by a new one.

Nothing here imports Prefect: this runs before it is imported, and decides the URL it will use.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from nornflow.exceptions import NornFlowError
from nornflow.settings import PREFECT_DEFAULTS

DEFAULT_PORT = 4200
HOST = "127.0.0.1"
STATE_FOLDER = "nornflow-server"


class LocalServerError(NornFlowError, RuntimeError):
    """The local Prefect server could not be started or did not answer."""


@dataclass
class Server:
    """Where the Prefect API is: the local server (``managed``) or a configured URL."""

    api_url: str
    managed: bool
    pid: int | None = None
    port: int | None = None
    started_at: float | None = None
    state_dir: str | None = None
    started_now: bool = False

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")

    @property
    def log(self) -> Path | None:
        return Path(self.state_dir) / "server.log" if self.state_dir else None


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()


def state_dir() -> Path:
    """Where the local server's files live: ``$NORNFLOW_SERVER_DIR``, else ``$PREFECT_HOME/nornflow-server``."""
    explicit = os.environ.get("NORNFLOW_SERVER_DIR")
    return Path(explicit).expanduser() if explicit else prefect_home() / STATE_FOLDER


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` from the environment, else from the active Prefect profile (``profiles.toml``)."""
    url = os.environ.get("PREFECT_API_URL", "").strip()
    if url:
        return url
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or prefect_home() / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    value = profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")
    return (str(value).strip() or None) if value else None


# -- state on disk -----------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read(directory: Path) -> Server | None:
    try:
        data = json.loads((directory / "server.json").read_text(encoding="utf-8"))
        return Server(**{**data, "managed": True, "started_now": False, "state_dir": str(directory)})
    except (OSError, ValueError, TypeError):
        return None


def _write(directory: Path, server: Server) -> None:
    data = {k: v for k, v in asdict(server).items() if k not in ("managed", "started_now", "state_dir")}
    temp = directory / "server.json.tmp"
    temp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    temp.replace(directory / "server.json")


def _is_ours(pid: int | None) -> bool:
    """The pid is alive and (where /proc tells) still a Prefect server, not a reused pid."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not the server we started
    cmdline = b""
    for _ in range(50):  # empty while the process is still inside exec (a server spawned a moment ago)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return True  # no /proc here: trust the pid
        if cmdline:
            break
        time.sleep(0.01)
    else:
        return True
    words = cmdline.split(b"\0")
    return b"prefect" in words and b"server" in words


def _owns_port(pid: int | None, port: int | None) -> bool | None:
    """Whether ``pid`` holds the socket listening on the loopback ``port``; None where /proc cannot tell.

    A server that could not bind its port (another command's server took it first) must not
    take the other server's answers for its own: two state directories would share one server.
    """
    if not pid or not port:
        return None
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return None
    wanted = f"0100007F:{port:04X}"
    inodes = {f"socket:[{cols[9]}]" for cols in (line.split() for line in table)
              if len(cols) > 9 and cols[1] == wanted and cols[3] == "0A"}  # 0A: LISTEN
    for fd in fds:
        with contextlib.suppress(OSError):
            if str(fd.readlink()) in inodes:
                return True
    return False


def _healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as answer:  # noqa: S310 - loopback URL
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _pick_port() -> int:
    wanted = os.environ.get("NORNFLOW_SERVER_PORT")
    if wanted:
        port = int(wanted)
        if not _free(port):
            raise LocalServerError(f"NORNFLOW_SERVER_PORT={port} is in use: pick another port or unset it")
        return port
    if _free(DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _server_env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(prefect_home()),
        PREFECT_SERVER_API_HOST=HOST,
        PREFECT_SERVER_API_PORT=str(port),  # the UI calls the API here (else on 4200)
        PREFECT_UI_API_URL=f"http://{HOST}:{port}/api",
    )
    for key, value in PREFECT_DEFAULTS.items():  # no telemetry, events kept 30 days...
        env.setdefault(key, value)
    return env


def _spawn(directory: Path) -> Server:
    port = _pick_port()
    log = (directory / "server.log").open("ab")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_server_env(port),
            start_new_session=True,  # not in the command's process group: Ctrl-C there does not stop it
        )
    finally:
        log.close()
    server = Server(api_url=f"http://{HOST}:{port}/api", managed=True, pid=process.pid, port=port,
                    started_at=time.time(), state_dir=str(directory), started_now=True)
    _write(directory, server)
    return server


def _log_tail(directory: Path, lines: int = 1) -> str:
    try:
        text = (directory / "server.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    meaningful = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(meaningful[-lines:])


def _wait(server: Server, directory: Path, timeout: float) -> bool:
    """Wait until the server answers (True) or its process is gone (False); raise on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if _healthy(server.api_url, timeout=min(2.0, max(0.1, deadline - time.monotonic()))) and (
            _owns_port(server.pid, server.port) is not False
        ):
            return True
        if not _is_ours(server.pid):
            return False
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise LocalServerError(
        f"the local Prefect server (pid {server.pid}, {server.api_url}) did not answer within {timeout:.0f} s; "
        f"see {directory / 'server.log'}, or stop it with `nornflow server stop` and try again"
    )


# -- what the CLI calls --------------------------------------------------------------------------


def ensure(timeout: float = 120.0, on_start: Callable[[Server], None] | None = None) -> Server:
    """The server this command should talk to, started if need be, and ``PREFECT_API_URL`` set to it.

    ``on_start(server)`` is called when this call starts the server (to say so before the wait).
    Call before Prefect is imported: Prefect reads ``PREFECT_API_URL`` when it loads its settings.
    """
    url = configured_api_url()
    if url:
        return Server(api_url=url, managed=False)
    directory = state_dir()
    announced = False
    for _attempt in range(3):  # a port taken between the pick and the server's bind: another port
        with _locked(directory):
            server = _read(directory)
            if server is None or not _is_ours(server.pid):
                server = _spawn(directory)
                if on_start is not None and not announced:
                    on_start(server)
                    announced = True
        if _wait(server, directory, timeout):
            os.environ["PREFECT_API_URL"] = server.api_url
            return server
        with _locked(directory):  # it died: forget it, unless someone already replaced it
            current = _read(directory)
            if current is not None and current.pid == server.pid:
                (directory / "server.json").unlink(missing_ok=True)
    tail = _log_tail(directory)
    raise LocalServerError(
        f"the local Prefect server exited while starting{': ' + tail if tail else ''} "
        f"(full log: {directory / 'server.log'})"
    )


def status() -> Server | None:
    """The local server when it runs (healthy or still starting), else None; a configured URL as is."""
    url = configured_api_url()
    if url:
        return Server(api_url=url, managed=False)
    directory = state_dir()
    server = _read(directory)
    return server if server is not None and _is_ours(server.pid) else None


def healthy(server: Server) -> bool:
    """The server answers, and (a local one) on the port it was started on."""
    return _healthy(server.api_url) and (not server.managed or _owns_port(server.pid, server.port) is not False)


def stop(timeout: float = 20.0) -> Server | None:
    """Stop the local server (its whole process group); return what was stopped, None when none ran."""
    directory = state_dir()
    with _locked(directory):
        server = _read(directory)
        (directory / "server.json").unlink(missing_ok=True)
        if server is None or not _is_ours(server.pid):
            return None
        assert server.pid is not None
        _signal_group(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(server.pid):
            time.sleep(0.1)
        if _alive(server.pid):
            _signal_group(server.pid, signal.SIGKILL)
        return server


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the server was started in a session (and group) of its own
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (our own child, not yet reaped) is gone for our purpose
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
