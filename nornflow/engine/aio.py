"""Device sessions on one asyncio loop: scrapli's ``AsyncScrapli`` over asyncssh, for the built-in reads.

The threaded path (:class:`~nornflow.engine.runner.DeadlineRunner` + nornir-scrapli over paramiko)
costs a thread per open session, plus paramiko's own per transport; at a thousand devices
that is most of the client's CPU and memory. A built-in task that has an *async twin*
(:func:`async_twin`) instead runs every host of a batch as a coroutine on one event loop
that all batches of the process share: one thread, asyncssh's sessions, the same session
gate (``max_sessions``), the same per-host deadline, the same credential refresh when a
rotated secret is refused. Nornir stays the inventory and the filters; a user's own
synchronous Nornir task keeps the threaded path.

The SSH side of a session (jump hosts through one shared bastion connection, the inventory's
known-hosts file, keys from secrets, which algorithms are offered) is :mod:`nornflow.ssh.async_connect`.

Set ``NORNFLOW_ASYNC_SESSIONS=0`` to send every task through the threaded path.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from nornir.core.inventory import Host
from nornir.core.task import MultiResult, Result

log = logging.getLogger(__name__)

T = TypeVar("T")
#: ``async def op(conn, host, **kwargs) -> value``: the work on one open AsyncScrapli session.
AsyncOp = Callable[..., Awaitable[Any]]
#: scrapli's names for the Nornir platform names nornir-scrapli accepts (its PLATFORM_MAP).
PLATFORM_MAP = {"ios": "cisco_iosxe", "nxos": "cisco_nxos", "iosxr": "cisco_iosxr", "eos": "arista_eos",
                "junos": "juniper_junos"}
#: Threaded-transport options that mean nothing to asyncssh.
_SYNC_ONLY = ("transport", "transport_options")


def async_twin(op: AsyncOp, before_session: Callable[[Host], object] | None = None) -> Callable[[T], T]:
    """Mark a synchronous Nornir task as having ``op`` as its async twin (used when sessions can be async).

    ``before_session(host)`` runs before the session opens; what it raises fails the host unconnected
    (an unknown platform, say, is refused without a login to the device).
    """

    def mark(task: T) -> T:
        task.nornflow_async = op  # type: ignore[attr-defined]
        if before_session is not None:
            op.nornflow_before_session = before_session  # type: ignore[attr-defined]
        return task

    return mark


def twin_of(task: Callable[..., Any]) -> AsyncOp | None:
    """The async twin of ``task`` when the async path is on, else None (the threaded path)."""
    if os.environ.get("NORNFLOW_ASYNC_SESSIONS", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    op = getattr(task, "nornflow_async", None)
    return op if callable(op) else None


class _Loop:
    """The process's one event loop for device sessions, on a daemon thread started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="nornflow-sessions", daemon=True).start()
                self._loop = loop
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.get())


LOOP = _Loop()


class Gate:
    """At most ``size`` sessions open at once, across every batch of a run (an asyncio semaphore on LOOP)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._semaphore: asyncio.Semaphore | None = None

    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:  # created on the loop's thread, where it is used
            self._semaphore = asyncio.Semaphore(self.size)
        return self._semaphore


def connection_kwargs(host: Host) -> dict[str, Any]:
    """``AsyncScrapli`` arguments for ``host``, from the same inventory fields nornir-scrapli reads."""
    params = host.get_connection_parameters("scrapli")
    extras = {k: v for k, v in (params.extras or {}).items() if k not in _SYNC_ONLY}
    platform = str(params.platform or "")
    return {
        "host": params.hostname, "port": params.port or 22,
        "auth_username": params.username or "", "auth_password": params.password or "",
        "platform": PLATFORM_MAP.get(platform, platform), "ssh_config_file": False,
        **extras, "transport": "asyncssh",
    }


async def _session(host: Host, op: AsyncOp, kwargs: dict[str, Any]) -> Any:
    from scrapli import AsyncScrapli

    from nornflow.ssh.async_connect import session_options

    check = getattr(op, "nornflow_before_session", None)
    if callable(check):
        check(host)
    async with session_options(host, connection_kwargs(host)) as (options, plan):
        conn = AsyncScrapli(**options)
        try:
            await conn.open()
        except Exception as exc:
            explained = plan.explain(exc)
            if explained is exc:
                raise
            raise explained from None
        try:
            return await op(conn, host, **kwargs)
        finally:
            with contextlib.suppress(Exception):  # a device that dropped the session makes close() raise
                await conn.close()


async def _one(host: Host, op: AsyncOp, kwargs: dict[str, Any], gate: Gate, host_timeout: float,
               session_limits: tuple[str, ...], resolver: Any, logger: Any) -> MultiResult | None:
    """One host: a MultiResult like Nornir's, or None when the host ran past its deadline."""
    from nornflow.deploy.locks import limit_names
    from nornflow.engine.explain import is_auth_failure

    async with gate.semaphore():
        started = time.perf_counter()
        holding: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext()
        if session_limits:
            from prefect.concurrency.asyncio import concurrency

            holding = concurrency(limit_names(host, session_limits), occupy=1, strict=True)
        multi = MultiResult(op.__name__)
        try:
            async with asyncio.timeout(host_timeout), holding:
                try:
                    value = await _session(host, op, kwargs)
                except Exception as exc:
                    if resolver is None or not is_auth_failure(exc):
                        raise
                    from nornflow.secrets import refresh_host_credentials

                    if not await asyncio.to_thread(refresh_host_credentials, host, resolver):
                        raise
                    (logger or log).info(
                        "[%s] the device refused the cached credentials and the secret has changed since it "
                        "was read: retrying with the new one", host.name)
                    value = await _session(host, op, kwargs)
            multi.append(Result(host=host, result=value, duration=time.perf_counter() - started))
        except TimeoutError:
            return None
        except Exception as exc:
            multi.append(Result(host=host, failed=True, exception=exc, duration=time.perf_counter() - started))
        return multi


class _Collector:
    """A full garbage collection every ``every`` closed sessions, on the session loop.

    A closed asyncssh/scrapli session leaves reference cycles that live long enough to reach
    the oldest generation, which Python collects rarely: at 1,000 hosts they added ~13 MB to
    the peak. A collection every 250 sessions (a few tens of ms each) keeps the peak flat.
    """

    def __init__(self, every: int = 250) -> None:
        self.every = every
        self.closed = 0

    def session_closed(self) -> None:
        self.closed += 1
        if self.closed % self.every == 0:
            gc.collect()


COLLECTOR = _Collector()


def run_hosts(hosts: list[Host], op: AsyncOp, kwargs: dict[str, Any], *, gate: Gate, host_timeout: float,
              session_limits: tuple[str, ...] = (), resolver: Any = None,
              logger: Any = None) -> dict[str, MultiResult | None]:
    """Run ``op`` on every host on the shared loop and wait; blocks the calling thread (a Prefect task run)."""

    async def one(host: Host) -> MultiResult | None:
        try:
            return await _one(host, op, kwargs, gate, host_timeout, session_limits, resolver, logger)
        finally:
            COLLECTOR.session_closed()

    async def run_all() -> list[MultiResult | None]:
        return await asyncio.gather(*(one(h) for h in hosts))

    results = LOOP.submit(run_all()).result()
    return {h.name: r for h, r in zip(hosts, results, strict=True)}
