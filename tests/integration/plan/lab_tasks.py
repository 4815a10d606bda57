"""Nornir tasks and a lab-side session counter for the plan integration tests."""

from __future__ import annotations

import threading
import time
from typing import Any

from nornir.core.task import Result, Task


def hold(task: Task, seconds: float = 1.0) -> Result:
    """Open a session, run one command, keep the session for ``seconds``; return the times."""
    conn = task.host.get_connection("scrapli", task.nornir.config)
    conn.send_command("show version")
    start = time.time()
    time.sleep(seconds)
    return Result(host=task.host, result={"start": start, "end": time.time()})


class SessionCounter:
    """Counts device sessions as the lab's SSH server sees them.

    A sampler thread reads, every 10 ms, the logged-in connections of every device of the lab
    (:meth:`nornflow.lab.Lab.sessions`; a connection leaves that list as soon as the client
    closes its socket).
    """

    def __init__(self, lab: Any, interval: float = 0.01) -> None:
        self.lab = lab
        self.interval = interval
        self.peak = 0
        self.seen: set[Any] = set()  # the connection objects themselves: ids of freed ones get reused
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="session-counter", daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            live = self.lab.sessions()
            self.seen.update(live)
            self.peak = max(self.peak, len(live))
            self._stop.wait(self.interval)

    @property
    def total(self) -> int:
        return len(self.seen)

    def reset(self) -> None:
        self.peak = 0
        self.seen.clear()

    def __enter__(self) -> SessionCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
