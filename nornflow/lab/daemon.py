"""``nornflow lab up/down/status``: a lab that outlives the command, in its own process.

``up`` starts ``python -m nornflow.lab.daemon serve`` in a new session, waits until it
has written ``state.json`` (devices up, inventory written) and returns. ``down`` sends
it SIGTERM and waits until every device has stopped and the process is gone. The lab's
event loop serves every device from that process, so the devices' CPU is not the caller's.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nornflow.exceptions import LabError
from nornflow.lab.devices import PLATFORMS
from nornflow.lab.lab import Lab

DEFAULT_DIR = Path(".nornflow/lab")


def _state_file(directory: Path) -> Path:
    return directory / "state.json"


def _alive(pid: int) -> bool:
    try:  # reap it first if it is our own child (a zombie still answers kill(pid, 0))
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(directory: Path = DEFAULT_DIR) -> dict[str, Any] | None:
    path = _state_file(directory)
    if not path.exists():
        return None
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabError(
            f"lab state file {path} is unreadable ({exc}); delete it and run `nornflow lab up`"
        ) from None
    state["running"] = _alive(int(state.get("pid", 0)))
    return state


def check_platforms(platforms: list[str] | None) -> list[str]:
    """The platform names to start, checked here so a bad name is one line, not the daemon's traceback."""
    names = [p.strip() for p in platforms or ["cisco_ios", "arista_eos"] if p.strip()]
    valid = ", ".join(sorted(PLATFORMS))
    if not names:
        raise LabError(f"no lab platform given; choose from {valid} (--platforms, comma-separated)")
    for name in names:
        if name not in PLATFORMS:
            raise LabError(f"lab platform {name!r} is not one the lab simulates; choose from {valid} "
                           "(--platforms, comma-separated)")
    return names


def _last_line(log: Path) -> str:
    """The daemon's last words (the exception line of its traceback): the rest stays in the log."""
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return "(its log cannot be read)"
    return next((line for line in reversed(lines) if line), "(its log is empty)")


def up(directory: Path = DEFAULT_DIR, size: int = 10, platforms: list[str] | None = None,
       timeout: float = 120.0) -> dict[str, Any]:
    platforms = check_platforms(platforms)
    if size < 1:
        raise LabError(f"lab size {size} must be at least 1 (--size)")
    directory = directory.resolve()
    state = read_state(directory)
    if state and state["running"]:
        raise LabError(f"a lab is already running from {directory} (pid {state['pid']}); `nornflow lab down` first")
    directory.mkdir(parents=True, exist_ok=True)
    _state_file(directory).unlink(missing_ok=True)
    log = directory / "lab.log"
    cmd = [sys.executable, "-m", "nornflow.lab.daemon", "serve", str(directory), str(size), ",".join(platforms)]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(directory)
        if state:
            return state
        if proc.poll() is not None:
            raise LabError(f"the lab exited while starting (code {proc.returncode}): {_last_line(log)} "
                           f"(full log: {log})")
        time.sleep(0.2)
    proc.terminate()
    raise LabError(f"the lab did not come up within {timeout:.0f} s; see {log}")


def down(directory: Path = DEFAULT_DIR, timeout: float = 60.0) -> bool:
    """Stop the lab; ``False`` when none was running."""
    directory = directory.resolve()
    state = read_state(directory)
    if not state:
        return False
    pid = int(state["pid"])
    if state["running"]:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    _state_file(directory).unlink(missing_ok=True)
    return True


def serve(directory: Path, size: int, platforms: list[str]) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.getLogger("asyncssh").setLevel(logging.WARNING)  # a line per connection otherwise
    lab = Lab(size=size, platforms=platforms, directory=directory)
    began = time.monotonic()
    lab.start()
    try:
        state = {"pid": os.getpid(), "start_s": round(time.monotonic() - began, 3), **lab.describe()}
        tmp = _state_file(directory).with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        tmp.replace(_state_file(directory))
        print(f"lab up: {size} devices, inventory {lab.inventory_dir}", flush=True)
        stop.wait()
    finally:
        lab.stop()
        print("lab down", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "serve":
        raise SystemExit("usage: python -m nornflow.lab.daemon serve DIR SIZE PLATFORMS")
    serve(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(","))
