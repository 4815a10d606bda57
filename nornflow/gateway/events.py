"""Audit records as Prefect events (``nornflow.audit.<action>``) in the workspace they concern.

The hash-chained file stays the record of truth; the events make "who did what" visible in
the Event Feed to those allowed to read the workspace, and let automations react (a denial
burst, a secret read). Shipping is batched off the request path and never blocks a request;
a workspace that is down loses its events, not the audit record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nornflow.gateway.app import Gateway

log = logging.getLogger("nornflow.gateway")
#: Actions an attacker can repeat at will: shipped at most once per (action, user, address) and window,
#: so a password flood does not become a flood of writes to the workspace's database. The file keeps all.
_NOISY = frozenset({"ratelimited", "login.failed", "denied"})
_NOISY_WINDOW = 10.0
_PAYLOAD_KEYS = ("seq", "user", "action", "outcome", "ip", "method", "path", "status", "detail", "hash")


def audit_event(record: dict[str, Any]) -> dict[str, Any]:
    user = str(record.get("user") or "anonymous")
    return {
        "id": str(uuid.uuid4()),
        "occurred": record["ts"],
        "event": f"nornflow.audit.{record['action']}",
        "resource": {"prefect.resource.id": f"nornflow.user.{user}", "prefect.resource.name": user,
                     "nornflow.audit.seq": str(record.get("seq", ""))},
        "related": [],
        "payload": {key: record.get(key) for key in _PAYLOAD_KEYS},
    }


class AuditShipper:
    def __init__(self, gateway: Gateway, *, batch: int = 200) -> None:
        self.gw = gateway
        self.batch = batch
        self.queue: asyncio.Queue[dict[str, Any]] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self._last_noisy: dict[tuple[str, str, str], float] = {}

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue(maxsize=10_000)
        self.gw.audit.on_append.append(self._enqueue)
        self.task = asyncio.create_task(self._run())

    def _enqueue(self, record: dict[str, Any]) -> None:
        """Called by the audit log in whatever thread appended; hands the record to the loop."""
        if self.loop is None or self.queue is None or self.loop.is_closed():
            return
        if record.get("action") in _NOISY:
            key = (str(record.get("action")), str(record.get("user")), str(record.get("ip")))
            now = time.monotonic()
            if now - self._last_noisy.get(key, -_NOISY_WINDOW) < _NOISY_WINDOW:
                return
            if len(self._last_noisy) > 10_000:
                self._last_noisy.clear()
            self._last_noisy[key] = now
        queue = self.queue
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(lambda: None if queue.full() else queue.put_nowait(record))

    def _targets(self, record: dict[str, Any]) -> list[str]:
        if record.get("workspace"):
            return [record["workspace"]] if record["workspace"] in self.gw.upstreams else []
        user = self.gw.store.get_user(record.get("user") or "") if record.get("user") else None
        return [ws for ws, roles in (user.roles.items() if user else []) if roles and ws in self.gw.upstreams]

    async def _run(self) -> None:
        assert self.queue is not None
        while True:
            records = [await self.queue.get()]
            while len(records) < self.batch and not self.queue.empty():
                records.append(self.queue.get_nowait())
            by_workspace: dict[str, list[dict[str, Any]]] = {}
            for record in records:
                for workspace in self._targets(record):
                    by_workspace.setdefault(workspace, []).append(audit_event(record))
            for workspace, events in by_workspace.items():
                upstream = self.gw.upstreams[workspace]
                try:
                    await self.gw.client.post(f"{upstream.api_url}/events", json=events,
                                              headers={"authorization": upstream.authorization})
                except Exception as exc:  # never let shipping take the gateway down
                    log.warning("audit events for workspace %s not delivered: %s", workspace, exc)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until the queue is empty (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.queue is not None and not self.queue.empty() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.flush(2.0)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
