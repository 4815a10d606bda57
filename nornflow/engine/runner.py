"""A Nornir runner with a per-host deadline and a session gate shared across batches.

Nornir's ``ThreadedRunner`` waits for every host for ever: one read that never returns
holds the whole run, and its pool threads keep the process alive at exit. This runner
starts one daemon thread per host, lets at most ``gate``'s size of them hold a device
session at once (the gate is shared by every batch of an engine run, so the run as a
whole never opens more than ``max_sessions`` sessions), and gives up on a host whose
session has run longer than ``host_timeout`` seconds: the host is reported as timed out
and the batch returns.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from nornir.core.inventory import Host
from nornir.core.task import AggregatedResult, MultiResult, Task


class _Slot:
    """One host's place in the run: when its session started, and whether it is over."""

    __slots__ = ("done", "released", "result", "started")

    def __init__(self) -> None:
        self.started: float | None = None
        self.result: MultiResult | None = None
        self.done = threading.Event()
        self.released = False


class DeadlineRunner:
    """Run a task over hosts in daemon threads, bounded by a shared gate and a per-host deadline."""

    def __init__(self, gate: threading.Semaphore | None = None, host_timeout: float = 120.0) -> None:
        self.gate = gate
        self.host_timeout = host_timeout
        self.timed_out: list[str] = []
        self._lock = threading.Lock()

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            if slot.released:
                return
            slot.released = True
        if self.gate is not None:
            self.gate.release()

    def _work(self, task: Task, host: Host, slot: _Slot) -> None:
        try:
            if self.gate is not None:
                self.gate.acquire()
            slot.started = time.monotonic()
            slot.result = task.start(host)
        finally:
            self._release(slot)
            slot.done.set()

    def run(self, task: Task, hosts: list[Host]) -> AggregatedResult:
        result = AggregatedResult(task.name)
        slots: dict[str, _Slot] = {}
        for host in hosts:
            slot = slots[host.name] = _Slot()
            threading.Thread(
                target=self._work, args=(task.copy(), host, slot), name=f"nornflow:{host.name}", daemon=True
            ).start()
        pending = dict(slots)
        while pending:
            now = time.monotonic()
            for name, slot in list(pending.items()):
                if slot.done.is_set():
                    del pending[name]
                elif slot.started is not None and now - slot.started > self.host_timeout:
                    # Give the session slot back: the stuck thread may never return it.
                    self._release(slot)
                    self.timed_out.append(name)
                    del pending[name]
            if pending:
                next(iter(pending.values())).done.wait(0.05)
        for name, slot in slots.items():
            if slot.result is not None and name not in self.timed_out:
                result[name] = slot.result
        return result


def run_kwargs(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments for ``Nornir.run`` that make every selected host run, failed before or not."""
    return {"on_good": True, "on_failed": True, "raise_on_error": False, **kwargs}
