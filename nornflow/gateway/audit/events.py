"""Audit records as Prefect events (``nornflow.audit.<action>``) in the workspace they concern.

The hash-chained file stays the record of truth; the events make "who did what" visible in
the Event Feed to those allowed to read the workspace, and let automations react (a denial
burst, a secret read). Shipping is off the request path and never blocks a request.

The shipper tails ``audit.jsonl`` itself rather than hearing only this process's appends, so
records the CLI writes (``token create|revoke|rotate-key``, ``users ...``) and records written
while a workspace was down are shipped too: it remembers, per workspace, the last seq delivered
(``audit-shipped.json`` beside the log), starts from there, wakes on every append here and polls
every ``poll_seconds`` for appends by other processes. A workspace that does not answer keeps its
place and gets the records once it is back (event ids are derived from the record, so a batch
sent twice is one set of events).

Where a record goes: to its ``workspace``; a record without one (a login, a gateway-wide CLI
action such as ``token revoke`` or ``token rotate-key``) goes to every workspace where its user holds
a role; when that user holds none (an operator's OS account running a gateway-wide command) to every
workspace: these concern the whole gateway. A failed login under a name no user has is shipped
nowhere (it stays in the audit log for ``nornflow audit tail``): what someone typed as a name, a
password pasted in the wrong field say, is nothing for every workspace's readers to see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from nornflow.gateway.audit.log import AuditLog
from nornflow.gateway.proxy.upstream import Upstream
from nornflow.gateway.store import GatewayStore

log = logging.getLogger("nornflow.gateway")
#: The wait before a workspace that refused audit events is asked again: doubling from this...
_BACKOFF_FIRST = 0.5
#: ... to at most this (seconds).
_BACKOFF_MAX = 10.0
#: Actions an attacker can repeat at will: shipped at most once per (action, user, address) and window,
#: so a password flood does not become a flood of writes to the workspace's database. The file keeps all.
_NOISY = frozenset({"ratelimited", "login.failed", "denied"})
_NOISY_WINDOW = 10.0
_PAYLOAD_KEYS = ("seq", "user", "action", "outcome", "ip", "method", "path", "status", "detail", "hash")
_EVENT_IDS = uuid.UUID("6c1f7d52-3c0e-4e0b-9a57-2f0d8c1e4b11")
AUDIT_PREFIX = "nornflow.audit."


def claims_audit(value: Any) -> bool:
    """True when parsed events (one or a list) claim to be gateway audit records (only the gateway writes those)."""
    events = value if isinstance(value, list) else [value]
    return any(isinstance(e, dict) and str(e.get("event", "")).startswith(AUDIT_PREFIX) for e in events)


def forges_audit(frame: str | bytes) -> bool:
    """:func:`claims_audit` of a raw frame; only frames that could spell the prefix (plainly or with JSON
    ``\\u`` escapes) are parsed, so the workers' stream of events costs no parse."""
    raw = frame.encode() if isinstance(frame, str) else frame
    if AUDIT_PREFIX.encode() not in raw and b"\\u" not in raw:
        return False
    try:
        return claims_audit(json.loads(raw))
    except ValueError:
        return True


def _related_runs(record: dict[str, Any]) -> list[dict[str, str]]:
    """The flow runs a record is about, so it shows on each run's own event feed too."""
    detail: dict[str, Any] = record["detail"] if isinstance(record.get("detail"), dict) else {}
    runs = [detail.get("flow_run"), *(detail.get("flow_runs") or [])]
    return [{"prefect.resource.id": f"prefect.flow-run.{run}", "prefect.resource.role": "flow-run"}
            for run in dict.fromkeys(str(r) for r in runs if r)]


def audit_event(record: dict[str, Any], workspace: str = "") -> dict[str, Any]:
    user = str(record.get("user") or "anonymous")
    return {
        "id": str(uuid.uuid5(_EVENT_IDS, f"{record.get('hash')}:{workspace}")),
        "occurred": record["ts"],
        "event": f"nornflow.audit.{record['action']}",
        "resource": {"prefect.resource.id": f"nornflow.user.{user}", "prefect.resource.name": user,
                     "nornflow.audit.seq": str(record.get("seq", ""))},
        "related": _related_runs(record),
        "payload": {key: record.get(key) for key in _PAYLOAD_KEYS},
    }


class AuditShipper:
    def __init__(self, audit: AuditLog, store: GatewayStore, upstreams: Mapping[str, Upstream],
                 client: httpx.AsyncClient, *, batch: int = 200, poll_seconds: float = 2.0) -> None:
        self.audit = audit
        self.store = store
        self.upstreams = upstreams
        self.client = client
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.state_path = Path(audit.path).with_name("audit-shipped.json")
        self.shipped: dict[str, int] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.wake: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self._offset, self._offset_seq = 0, 0  # the file position after record _offset_seq
        self._last_noisy: dict[tuple[str, str, str], tuple[float, int]] = {}  # key -> (ts, seq) last shipped
        # A workspace whose server refused or did not answer: (failures in a row, not retried before).
        self._backoff: dict[str, tuple[int, float]] = {}

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self.shipped = self._load_state()
        self.audit.on_append.append(self._poke)
        self.task = asyncio.create_task(self._run())

    def _load_state(self) -> dict[str, int]:
        try:
            state = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("audit shipping state %s unreadable (%s): shipping the whole log again", self.state_path, exc)
            return {}
        return {str(k): int(v) for k, v in state.items() if isinstance(v, int)} if isinstance(state, dict) else {}

    def _save_state(self) -> None:
        temporary = self.state_path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")  # two gateways, one data dir
        temporary.write_text(json.dumps(self.shipped, sort_keys=True))
        temporary.replace(self.state_path)

    def _poke(self, record: dict[str, Any]) -> None:
        """Called by the audit log in whatever thread appended: wake the shipper."""
        loop, wake = self.loop, self.wake
        if loop is None or wake is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(wake.set)

    def _floor(self) -> int:
        return min((self.shipped.get(ws, 0) for ws in self.upstreams), default=0)

    def _read(self) -> list[tuple[dict[str, Any], int]]:
        """Up to ``batch`` records after the slowest workspace's last shipped seq, each with its end offset."""
        floor = self._floor()
        if floor < self._offset_seq:
            self._offset, self._offset_seq = 0, 0  # a workspace fell behind where we were: rescan
        found: list[tuple[dict[str, Any], int]] = []
        with open(self.audit.path, "rb") as audit:
            audit.seek(self._offset)
            position = self._offset
            for raw in audit:
                if not raw.endswith(b"\n"):
                    break  # a record being written
                position += len(raw)
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
                    continue
                if record["seq"] <= floor:
                    self._offset, self._offset_seq = position, record["seq"]
                    continue
                found.append((record, position))
                if len(found) >= self.batch:
                    break
        return found

    def _targets(self, record: dict[str, Any]) -> list[str]:
        if record.get("workspace"):
            return [record["workspace"]] if record["workspace"] in self.upstreams else []
        user = self.store.get_user(record.get("user") or "") if record.get("user") else None
        if user is None and str(record.get("action", "")).startswith("login."):
            return []
        mine = [ws for ws, roles in (user.roles.items() if user else []) if roles and ws in self.upstreams]
        return mine or list(self.upstreams)

    def _muted(self, record: dict[str, Any]) -> bool:
        if record.get("action") not in _NOISY:
            return False
        try:
            at = datetime.fromisoformat(str(record.get("ts"))).timestamp()
        except ValueError:
            return False
        key = (str(record.get("action")), str(record.get("user")), str(record.get("ip")))
        last_at, last_seq = self._last_noisy.get(key, (at - 2 * _NOISY_WINDOW, -1))
        if last_seq != record["seq"] and 0 <= at - last_at < _NOISY_WINDOW:
            return True  # (a batch read again after a failed delivery keeps what it shipped the first time)
        if len(self._last_noisy) > 10_000:
            self._last_noisy.clear()
        self._last_noisy[key] = (at, record["seq"])
        return False

    async def ship_once(self) -> int:
        """Ship one batch; the number of records read (0 when every workspace is up to date)."""
        records = await asyncio.to_thread(self._read)
        if not records:
            return 0
        last_seq = records[-1][0]["seq"]
        by_workspace: dict[str, list[dict[str, Any]]] = {ws: [] for ws in self.upstreams
                                                          if self.shipped.get(ws, 0) < last_seq}
        for record, _ in records:
            if self._muted(record):
                continue
            for workspace in self._targets(record):
                if workspace in by_workspace and record["seq"] > self.shipped.get(workspace, 0):
                    by_workspace[workspace].append(audit_event(record, workspace))
        delivered = False
        now = time.monotonic()
        for workspace, events in by_workspace.items():
            upstream = self.upstreams[workspace]
            failures, not_before = self._backoff.get(workspace, (0, 0.0))
            if now < not_before:
                continue  # a server that is down is asked again after its backoff, not at every audit record
            try:
                if events:
                    reply = await self.client.post(f"{upstream.api_url}/events", json=events,
                                                      headers={"authorization": upstream.authorization})
                    reply.raise_for_status()
            except Exception as exc:  # never let shipping take the gateway down; retried from here
                failures += 1
                self._backoff[workspace] = (failures, now + min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (failures - 1)))
                if failures == 1 or failures % 10 == 0:
                    log.warning("audit events for workspace %s not delivered (kept for a retry; %d attempt(s) "
                                "so far, retried at most every %.0f s): %s", workspace, failures, _BACKOFF_MAX, exc)
                continue
            if failures:
                log.info("audit events for workspace %s delivered again after %d failed attempt(s)",
                         workspace, failures)
                del self._backoff[workspace]
            self.shipped[workspace] = last_seq
            delivered = True
        if delivered:
            await asyncio.to_thread(self._save_state)
        return len(records) if delivered else 0

    async def _run(self) -> None:
        assert self.wake is not None
        while True:
            try:
                while await self.ship_once() >= self.batch:
                    pass  # catching up: the next batch at once
            except Exception:
                log.exception("audit shipping failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.poll_seconds)
            self.wake.clear()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every workspace has what the log holds now (tests, shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        head = self.audit.head()[0]
        while self._floor() < head and loop.time() < deadline:
            if self.wake is not None:
                self.wake.set()
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.flush(2.0)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
