"""fakenos platform data and the two fixes the lab needs from its SSH server.

Platforms are data: each entry says which fakenos NOS to serve, which Nornir/scrapli
platform a client uses, and which extra commands its scrapli driver sends on open
that fakenos does not know (so the session is clean, not full of ``% Invalid input``).
"""

from __future__ import annotations

import collections
import io
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: Delay after each byte the server reads, seconds (fakenos itself sleeps 10 ms).
BYTE_DELAY = {"value": 0.0}


@dataclass(frozen=True)
class LabPlatform:
    fakenos: str
    nornir: str
    group: str
    short: str
    extra_commands: dict[str, Any] = field(default_factory=dict)


def _silent(*commands: str, prompts: tuple[str, ...] = ("{base_prompt}>", "{base_prompt}#")) -> dict[str, Any]:
    return {c: {"output": "", "help": "lab: accepted, no output", "prompt": list(prompts)} for c in commands}


PLATFORMS: dict[str, LabPlatform] = {
    "cisco_ios": LabPlatform(
        "cisco_ios", "cisco_iosxe", "ios", "ios", _silent("terminal width 512")
    ),
    "arista_eos": LabPlatform(
        "arista_eos", "arista_eos", "eos", "eos", _silent("terminal width 32767")
    ),
}


def channel_to_shell_tap(channel_stdio: Any, shell_stdin: Any, shell_replied_event: threading.Event,
                         run_srv: threading.Event) -> None:
    """fakenos's keystroke pump, with the lost-reply race fixed and the per-byte sleep configurable.

    fakenos clears ``shell_replied_event`` *after* handing a line to the shell; when the
    shell answers first, the signal is lost and every later keystroke waits 10 s. Here the
    flag is cleared before the line is handed over.
    """
    buffer = io.BytesIO()
    while run_srv.is_set():
        byte: bytes = channel_stdio.read(1)
        shell_replied_event.wait(10)
        if not channel_stdio.channel.active or byte == b"":
            break
        try:
            if byte in (b"\r", b"\n"):
                channel_stdio.write(b"\r\n")
                buffer.write(byte)
                line = buffer.getvalue().decode("utf-8", errors="replace")
                buffer.seek(0)
                buffer.truncate()
                shell_replied_event.clear()
                shell_stdin.write(line)
            else:
                channel_stdio.write(byte)
                if byte != b"\x00":
                    buffer.write(byte)
            if BYTE_DELAY["value"]:
                time.sleep(BYTE_DELAY["value"])
        except (OSError, EOFError) as exc:
            log.debug("lab channel closed: %s", exc)
            break


class BlockingTapIO(io.StringIO):
    """fakenos's line pipe between the SSH channel and the shell, without busy-waiting.

    fakenos's ``TapIO.readline`` polls every 10 ms; with two per session, a few hundred
    open sessions keep the lab's CPU busy doing nothing. This one sleeps on a condition
    until a line arrives (waking every 0.2 s to notice a closed session).
    """

    def __init__(self, run_srv: threading.Event, initial_value: str = "", newline: str = "\n") -> None:
        super().__init__(initial_value, newline)
        self.run_srv = run_srv
        self.lines: collections.deque[str] = collections.deque()
        self._ready = threading.Condition()

    def readline(self, size: int | None = -1) -> Any:  # type: ignore[override]
        with self._ready:
            while self.run_srv.is_set():
                if self.lines:
                    return self.lines.popleft()
                self._ready.wait(0.2)
        return None

    def write(self, value: str) -> int:
        with self._ready:
            self.lines.append(value)
            self._ready.notify()
        return len(value)


def _serve(connection_function: Any, client: Any, is_running: threading.Event) -> None:
    """One connection; a client that leaves before it logs in (a port probe, a health check)
    ends quietly, as ``sshd`` logs "closed [preauth]", instead of a thread traceback."""
    import paramiko

    try:
        connection_function(client, is_running)
    except (EOFError, paramiko.SSHException, OSError) as exc:
        logging.getLogger(__name__).debug("lab connection closed early: %s: %s", type(exc).__name__, exc)


def _listen(self: Any) -> None:
    """fakenos's accept loop, with daemon connection threads.

    fakenos starts each connection in a non-daemon thread that can wait for ever in
    paramiko's ``Transport.accept`` when a client authenticates (or fails to) and never
    opens a channel; one such thread keeps the whole Python process from exiting.
    """

    listener = self._socket
    if listener is None:
        return
    listener.listen()
    while self._is_running.is_set():
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            break
        thread = threading.Thread(target=_serve, args=(self.connection_function, client, self._is_running),
                                  daemon=True)
        thread.start()
        self._connection_threads = [t for t in self._connection_threads if t.is_alive()]
        self._connection_threads.append(thread)


def patch_fakenos(byte_delay: float = 0.0) -> None:
    """Install the fixes above into fakenos's server classes (idempotent)."""
    from fakenos.core.servers import TCPServerBase
    from fakenos.plugins.servers import ssh_server_paramiko

    BYTE_DELAY["value"] = byte_delay
    ssh_server_paramiko.channel_to_shell_tap = channel_to_shell_tap  # type: ignore[assignment]
    ssh_server_paramiko.TapIO = BlockingTapIO  # type: ignore[misc,assignment]
    TCPServerBase._listen = _listen  # type: ignore[method-assign]
