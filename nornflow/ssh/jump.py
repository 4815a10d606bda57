"""Jump hosts: one connection per bastion, shared by every device session that goes through it.

A bastion connection is keyed by host, port, user and (a digest of) its credentials. The first
session that needs it connects; the others wait for that connection and open a forwarding channel
(``direct-tcpip``) each; the connection closes a short while (``LINGER``) after its last channel, so
batches that follow one another reuse it. A refused login or an unreachable bastion fails every
host that waited for it with the same clear error, and the next attempt connects afresh.

Both transports can reuse one bastion connection: asyncssh tunnels a connection through an
``SSHClientConnection`` (``tunnel=``), paramiko opens a ``direct-tcpip`` channel on one
``Transport`` from many threads. The system transport (one ``ssh`` process per device) cannot
share one: that is one reason the threaded path uses paramiko for a host with NornFlow SSH settings.

The run's session gate already counts these channels (a device session holds a gate slot from
before its channel opens until after it closes); ``ssh.jump_host.max_channels`` bounds one
bastion further when it allows fewer forwarding channels than the run opens sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nornflow.ssh import algorithms, hostkeys
from nornflow.ssh.errors import HostKeyChanged, HostKeyUnknown, JumpHostError, SSHError
from nornflow.ssh.keys import asyncssh_key, paramiko_key
from nornflow.ssh.settings import JumpHost

#: Seconds a bastion connection stays open after its last device session closed.
LINGER = 2.0


def refused_login(jump: JumpHost) -> JumpHostError:
    creds = "ssh.jump_host.private_key" if jump.private_key else "ssh.jump_host.password"
    return JumpHostError(f"jump host {jump.describe()} refused the login of {jump.username or '(no user)'}: "
                         f"check ssh.jump_host.username and the secret {creds} references")


def unreachable(jump: JumpHost, exc: BaseException) -> JumpHostError:
    reason = str(exc) or type(exc).__name__
    timed_out = isinstance(exc.__context__, TimeoutError | socket.timeout)  # paramiko: "Error reading ... banner"
    if isinstance(exc, TimeoutError | socket.timeout) or timed_out or "timed out" in reason.lower():
        reason = "no answer in time (timeout_socket)"
    return JumpHostError(f"jump host {jump.describe()} cannot be reached: {reason}; check ssh.jump_host "
                         f"(host, port) and that the bastion is up")


def refused_forward(jump: JumpHost, host: str, port: int, reason: str) -> JumpHostError:
    return JumpHostError(f"jump host {jump.describe()} refused to forward to {host}:{port} ({reason}): "
                         f"allow TCP forwarding to it for {jump.username or 'that user'} on the bastion "
                         f"(sshd's AllowTcpForwarding, PermitOpen, or the key's authorized_keys options)")


def _host_key_error(jump: JumpHost, exc: SSHError) -> JumpHostError:
    return JumpHostError(f"jump host {jump.describe()}: {exc}")


@dataclass
class _AsyncEntry:
    ready: asyncio.Future[Any]
    users: int = 0
    closer: asyncio.TimerHandle | None = None
    channels: asyncio.Semaphore | None = None


class _Presented:
    """An asyncssh client that remembers the host key it was shown when the known-hosts check refused it."""

    def __init__(self) -> None:
        self.key: Any = None

    def factory(self) -> Any:
        import asyncssh

        seen = self

        class Client(asyncssh.SSHClient):
            def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
                seen.key = key
                return False

        return Client()


async def connect_asyncssh(jump: JumpHost, *, known_hosts: Path | None, timeout: float) -> Any:
    """An asyncssh connection to the bastion, its host key verified against ``known_hosts`` (None: not)."""
    import asyncssh

    presented = _Presented()
    options: dict[str, Any] = {
        "username": jump.username or None, "password": jump.password or None, "agent_path": None,
        "config": None, "known_hosts": hostkeys.load(known_hosts) if known_hosts is not None else None,
        "client_factory": presented.factory, "connect_timeout": timeout, "keepalive_interval": 30,
        "client_keys": [asyncssh_key(jump.private_key, jump.passphrase, "ssh.jump_host.private_key")]
        if jump.private_key else None,
        **algorithms.asyncssh_options(legacy=False),
    }
    try:
        return await asyncssh.connect(jump.host, jump.port, **options)
    except asyncssh.PermissionDenied:
        raise refused_login(jump) from None
    except asyncssh.HostKeyNotVerifiable:
        assert known_hosts is not None
        raise _host_key_error(jump, hostkeys.classify(f"jump host {jump.host}", jump.host, jump.port,
                                                      known_hosts, presented.key)) from None
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        explained = algorithms.explain(exc, f"jump host {jump.describe()}", legacy=False)
        raise (explained or unreachable(jump, exc)) from None


class AsyncBastions:
    """The bastion connections of the session loop (one loop per process: :data:`nornflow.engine.aio.LOOP`)."""

    def __init__(self, linger: float = LINGER) -> None:
        self.linger = linger
        self._entries: dict[tuple[Any, ...], _AsyncEntry] = {}
        self.connects = 0  # how many bastion connections were made (tests, the benchmark)

    @contextlib.asynccontextmanager
    async def channel(self, jump: JumpHost, *, known_hosts: Path | None,
                      timeout: float) -> AsyncIterator[Any]:
        """The shared bastion connection, held for one device session (and one of its channels)."""
        key = (*jump.pool_key(), str(known_hosts))  # a connection verified against one file, reused with it
        entry = self._entries.get(key)
        if entry is not None and entry.ready.done() and not entry.ready.cancelled() \
                and not entry.ready.exception() and entry.ready.result().is_closed():
            self._entries.pop(key, None)  # the bastion dropped it: connect again
            entry = None
        if entry is None:
            # The connect is a task of its own: a session abandoned at its deadline (cancelled) while it
            # waits does not cancel the connect the other sessions wait for. It has its own timeout.
            ready = asyncio.ensure_future(connect_asyncssh(jump, known_hosts=known_hosts, timeout=timeout))
            entry = _AsyncEntry(ready=ready,
                                channels=asyncio.Semaphore(jump.max_channels) if jump.max_channels else None)
            self._entries[key] = entry
            self.connects += 1

            def forget_failure(done: asyncio.Future[Any], key: tuple[Any, ...] = key,
                               entry: _AsyncEntry = entry) -> None:
                failed = done.cancelled() or done.exception() is not None  # retrieved: no "never retrieved"
                if failed and self._entries.get(key) is entry:
                    del self._entries[key]  # the next session connects afresh

            ready.add_done_callback(forget_failure)
        conn = await asyncio.shield(entry.ready)
        entry.users += 1
        if entry.closer is not None:
            entry.closer.cancel()
            entry.closer = None
        try:
            if entry.channels is not None:
                async with entry.channels:
                    yield conn
            else:
                yield conn
        finally:
            entry.users -= 1
            if entry.users == 0:
                entry.closer = asyncio.get_running_loop().call_later(self.linger, self._close, key, entry)

    def _close(self, key: tuple[Any, ...], entry: _AsyncEntry) -> None:
        if entry.users == 0 and self._entries.get(key) is entry:
            del self._entries[key]
            entry.ready.result().close()

    def open_connections(self) -> int:
        return sum(1 for e in self._entries.values() if e.ready.done() and not e.ready.exception())


ASYNC_BASTIONS = AsyncBastions()


# -- paramiko (the threaded path) ---------------------------------------------------------------


@dataclass
class _ThreadEntry:
    transport: Any = None
    users: int = 0
    timer: threading.Timer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    channels: threading.BoundedSemaphore | None = None
    error: BaseException | None = None
    failed_at: float = 0.0


def connect_paramiko(jump: JumpHost, *, known_hosts: Path | None, timeout: float) -> Any:
    """A paramiko ``Transport`` to the bastion, authenticated, its host key verified."""
    import paramiko

    try:
        sock = socket.create_connection((jump.host, jump.port), timeout=timeout)
    except OSError as exc:
        raise unreachable(jump, exc) from None
    transport = paramiko.Transport(sock, disabled_algorithms=algorithms.paramiko_disabled(legacy=False))
    started = time.monotonic()
    try:
        transport.banner_timeout = transport.auth_timeout = timeout
        transport.start_client(timeout=timeout)
        if known_hosts is not None:
            hostkeys.verify(f"jump host {jump.host}", jump.host, jump.port, known_hosts,
                            transport.get_remote_server_key())
        if jump.private_key:
            with contextlib.suppress(paramiko.AuthenticationException):
                transport.auth_publickey(jump.username, paramiko_key(jump.private_key, jump.passphrase,
                                                                      "ssh.jump_host.private_key"))
        if not transport.is_authenticated() and jump.password:
            with contextlib.suppress(paramiko.AuthenticationException):
                transport.auth_password(jump.username, jump.password)
        if not transport.is_authenticated():
            raise refused_login(jump)
        transport.set_keepalive(30)
        return transport
    except (HostKeyChanged, HostKeyUnknown) as exc:
        transport.close()
        raise _host_key_error(jump, exc) from None
    except SSHError:
        transport.close()
        raise
    except Exception as exc:
        transport.close()
        explained = algorithms.explain(exc, f"jump host {jump.describe()}", legacy=False)
        if explained is None and time.monotonic() - started >= timeout:
            exc = TimeoutError()  # paramiko's words for a silent peer vary ("No existing session", "banner")
        raise (explained or unreachable(jump, exc)) from None


class ThreadBastions:
    """The bastion transports of the threaded path, shared across host threads of every batch."""

    def __init__(self, linger: float = LINGER) -> None:
        self.linger = linger
        self._lock = threading.Lock()
        self._entries: dict[tuple[Any, ...], _ThreadEntry] = {}
        self.connects = 0

    @contextlib.contextmanager
    def channel(self, jump: JumpHost, dest: tuple[str, int], *, known_hosts: Path | None,
                timeout: float) -> Iterator[Any]:
        """A ``direct-tcpip`` channel to ``dest`` over the shared bastion transport, closed on exit."""
        import paramiko

        key = (*jump.pool_key(), str(known_hosts))  # a connection verified against one file, reused with it
        with self._lock:
            entry = self._entries.setdefault(key, _ThreadEntry(
                channels=threading.BoundedSemaphore(jump.max_channels) if jump.max_channels else None))
            entry.users += 1
            if entry.timer is not None:
                entry.timer.cancel()
                entry.timer = None
        arrived = time.monotonic()
        try:
            with entry.lock:  # one connect per bastion; the others wait for it, and share its failure
                if entry.error is not None and entry.failed_at >= arrived:
                    raise entry.error
                if entry.transport is None or not entry.transport.is_active():
                    self.connects += 1
                    try:
                        entry.transport = connect_paramiko(jump, known_hosts=known_hosts, timeout=timeout)
                    except SSHError as exc:
                        entry.error, entry.failed_at = exc, time.monotonic()
                        raise
                transport = entry.transport
            if entry.channels is not None:
                entry.channels.acquire()
            try:
                try:
                    chan = transport.open_channel("direct-tcpip", dest, ("127.0.0.1", 0), timeout=timeout)
                except paramiko.ChannelException as exc:
                    raise refused_forward(jump, dest[0], dest[1], exc.text or f"code {exc.code}") from None
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    raise refused_forward(jump, dest[0], dest[1], str(exc) or type(exc).__name__) from None
                try:
                    yield chan
                finally:
                    chan.close()
            finally:
                if entry.channels is not None:
                    entry.channels.release()
        finally:
            with self._lock:
                entry.users -= 1
                if entry.users == 0:
                    entry.timer = threading.Timer(self.linger, self._close, (key, entry))
                    entry.timer.daemon = True
                    entry.timer.start()

    def _close(self, key: tuple[Any, ...], entry: _ThreadEntry) -> None:
        with self._lock:
            if entry.users or self._entries.get(key) is not entry:
                return
            del self._entries[key]
        if entry.transport is not None:
            entry.transport.close()


THREAD_BASTIONS = ThreadBastions()
