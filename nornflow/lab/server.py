"""The lab's SSH side: every device in one asyncio event loop, one listener per device port.

The loop runs in a background thread of whichever process owns the :class:`~nornflow.lab.Lab`
(the test process, or ``nornflow lab up``'s own), so the lab's Python API and the sessions
share the devices' state in memory. asyncssh does the SSH; :class:`~nornflow.lab.terminal.LineReader`
echoes and edits what a client types at a terminal; a platform shell (:mod:`nornflow.lab.shell`)
turns each line into an answer. Nothing here blocks the loop: a held answer (a delay fault)
waits on the loop's clock, polling the device's release event.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from nornflow.lab.devices import LabPlatform
from nornflow.lab.shell import Terminal
from nornflow.lab.store import DeviceState, DeviceStore
from nornflow.lab.terminal import LineReader

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Key exchanges a network OS of today offers (no post-quantum hybrids; those also cost more CPU).
KEX = ("curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256")
#: What an IOS box of the 2010s speaks, and nothing newer (a device :meth:`Lab.set_legacy_ssh` made old).
LEGACY = {"kex_algs": ["diffie-hellman-group14-sha1"], "encryption_algs": ["aes128-cbc"],
          "mac_algs": ["hmac-sha1"], "signature_algs": ["ssh-rsa"]}


def load_host_key(path: Path, kind: str) -> asyncssh.SSHKey:
    """The lab's host key of ``kind`` kept at ``path`` (made and written there the first time): a lab
    started again in the same directory presents the same key, so its known_hosts stays true."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key(kind, key_size=2048) if kind == "ssh-rsa" else \
        asyncssh.generate_private_key(kind)
    key.write_private_key(str(path))
    path.chmod(0o600)
    return key


class LabConnection(asyncssh.SSHServer):
    """One client connection to one device: password login against the device's credentials."""

    def __init__(self, server: LabServer, device: str) -> None:
        self.server = server
        self.device = device
        self.username = ""
        self.opened = time.time()
        self.authenticated = False
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.server.connections.setdefault(self.device, set()).add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.authenticated = False
        self.server.connections.get(self.device, set()).discard(self)

    def begin_auth(self, username: str) -> bool:
        self.username = username
        return True

    def password_auth_supported(self) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return bool(self.server.authorized_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self.server.username and key.public_data in self.server.authorized_keys

    def validate_password(self, username: str, password: str) -> bool:
        state = self.server.store.get(self.device)
        with state.lock:
            return username == self.server.username and password == state.password

    def auth_completed(self) -> None:
        self.authenticated = True


class LabServer:
    """The listeners of one lab's devices, in an event loop of their own thread."""

    def __init__(self, store: DeviceStore, platforms: Mapping[str, LabPlatform], username: str,
                 extra_commands: Mapping[str, Any] | None = None, byte_delay: float = 0.0,
                 host_key: asyncssh.SSHKey | None = None) -> None:
        self.store = store
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self.legacy_key: asyncssh.SSHKey | None = None  # an ssh-rsa key, for devices made old
        self.legacy: set[str] = set()  # devices that speak only the LEGACY algorithms
        self.authorized_keys: set[bytes] = set()  # public keys any device accepts for the lab user
        self.platforms = platforms  # device name -> its platform
        self.username = username
        self.extra_commands = dict(extra_commands or {})
        self.byte_delay = byte_delay
        self.connections: dict[str, set[LabConnection]] = {}
        self.acceptors: dict[str, asyncssh.SSHAcceptor] = {}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="nornflow-lab", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        """Run ``coro`` in the lab's loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def sessions(self, device: str | None = None) -> list[LabConnection]:
        """The logged-in connections now open (to ``device``, or to any)."""
        async def collect() -> list[LabConnection]:
            names = [device] if device else list(self.connections)
            return [c for n in names for c in self.connections.get(n, ()) if c.authenticated]

        return self.call(collect(), timeout=10)

    # -- in the loop --

    async def listen(self, device: str, port: int) -> None:
        """Start ``device``'s listener on 127.0.0.1:``port`` (raises OSError when the port is taken)."""
        algs: dict[str, Any] = {"kex_algs": KEX, "server_host_keys": [self.host_key]}
        if device in self.legacy:
            assert self.legacy_key is not None
            algs = {**LEGACY, "server_host_keys": [self.legacy_key]}
        self.acceptors[device] = await asyncssh.create_server(
            functools.partial(LabConnection, self, device), "127.0.0.1", port,
            process_factory=functools.partial(self._session, device),
            password_auth=True, kbdint_auth=False, public_key_auth=True,
            line_editor=False, keepalive_interval=0, **algs,
        )

    async def close(self, device: str) -> None:
        """Stop ``device``: no new connections, and the open ones dropped (a device going down)."""
        acceptor = self.acceptors.pop(device, None)
        if acceptor is not None:
            acceptor.close()
            await acceptor.wait_closed()
        for connection in list(self.connections.get(device, ())):
            if connection.conn is not None:
                connection.conn.abort()

    async def close_all(self) -> None:
        await asyncio.gather(*(self.close(d) for d in list(self.acceptors)), return_exceptions=True)
        for device in list(self.connections):
            await self.close(device)
        await asyncio.sleep(0)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def shutdown(self) -> None:
        """Stop every device and the loop; the ports are free when this returns."""
        if self.loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self.call(self.close_all(), timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        if not self._thread.is_alive():
            self.loop.close()

    async def _hold(self, state: DeviceState, seconds: float, process: asyncssh.SSHServerProcess[str]) -> None:
        """Hold the answer ``seconds``, or until the test releases the device, or the client leaves."""
        deadline = time.monotonic() + seconds
        while not state.release.is_set() and time.monotonic() < deadline and not process.is_closing():
            await asyncio.sleep(0.05)

    async def _session(self, device: str, process: asyncssh.SSHServerProcess[str]) -> None:
        state = self.store.get(device)
        username = str(process.get_extra_info("username") or self.username)
        shell = self.platforms[device].open(Terminal(device, state, username, self.extra_commands))
        connection = process.channel.get_connection()
        tty = process.get_terminal_type() is not None  # a terminal: echo, and \r\n line ends

        def write(text: str) -> None:
            if text:
                process.stdout.write(text.replace("\n", "\r\n") if tty else text)

        keys = LineReader()
        try:
            if process.command is not None:  # `ssh device 'show version'`: one command, no prompt
                write(shell.run_once(process.command).output)
                return
            write(shell.greeting() + shell.prompt())
            pending = ""
            while not process.is_closing():
                if not pending:
                    try:
                        pending = await process.stdin.read(4096)
                    except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived, asyncssh.SignalReceived):
                        continue
                    if not pending:
                        break
                echo, line, pending = keys.feed(pending)
                if tty and echo:
                    process.stdout.write(echo)
                if line is None:
                    continue
                if self.byte_delay:
                    await asyncio.sleep(self.byte_delay * (len(line) + 1))
                reply = shell.handle(line)
                if reply.drop:
                    connection.abort()
                    return
                write(reply.output)
                if reply.hold:
                    await self._hold(state, reply.hold, process)
                if reply.close or process.is_closing():
                    return  # the channel closes; the client closes the connection (as scrapli expects)
                keys.echo = not reply.secret  # a password is not echoed
                write(shell.prompt())
        except (OSError, asyncssh.Error, asyncio.IncompleteReadError) as exc:
            log.debug("lab session on %s ended: %s: %s", device, type(exc).__name__, exc)
        finally:
            shell.close()
            if not process.is_closing():
                process.exit(0)
