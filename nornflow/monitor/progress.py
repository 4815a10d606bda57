"""Live progress of one engine run: a Prefect progress artifact, updated as batches finish.

The engine calls :func:`start` when a run begins and :meth:`RunProgress.batch_done` each
time a batch finishes (per batch, never per host). Everything that talks to the Prefect
API happens on one background thread that sends only the newest state, so a slow API
never slows the run: the flow's thread only counts and wakes that thread. The artifact
is keyed ``<run name>-progress`` (``backup-configs-progress``); its description is what
the UI's artifact card shows (``37 of 100 hosts (37%): 35 ok, 2 failed``), its value the
percentage. Outside a flow run, or with ``NORNFLOW_MONITOR=off``, nothing is published.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from nornflow.monitor import enabled
from nornflow.records import HostRecord
from nornflow.redaction import redact_text

log = logging.getLogger(__name__)

#: How long the end of a run waits for the last update to reach the API.
FLUSH_TIMEOUT = 10.0


def progress_key(label: str) -> str:
    """The artifact key of a run's progress: lowercase letters, digits and dashes."""
    return (re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-") or "run") + "-progress"


class Counts:
    """Hosts done, ok, failed and being retried, out of the total; no I/O."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.records: dict[str, HostRecord] = {}
        self.retrying = 0
        self.batches_done = 0

    def add(self, records: Iterable[HostRecord]) -> None:
        for record in records:
            self.records[record.host] = record

    @property
    def done(self) -> int:
        return len(self.records)

    @property
    def ok(self) -> int:
        return sum(1 for r in self.records.values() if r.ok)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.records.values() if r.failed)

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.done / self.total, 1)

    def describe(self, finished: bool = False) -> str:
        text = (f"{self.label}: {self.done} of {self.total} hosts ({self.percent:.0f}%): "
                f"{self.ok} ok, {self.failed} failed")
        if self.retrying and not finished:
            text += f", retrying {self.retrying}"
        return text + (" (finished)" if finished else "")


class RunProgress:
    """The progress artifact of one engine run (use :func:`start`)."""

    def __init__(self, counts: Counts, flow_run_id: UUID, context: contextvars.Context) -> None:
        self.counts = counts
        self._flow_run_id = flow_run_id
        self._wake = threading.Condition()
        self._pending: tuple[float, str] | None = (counts.percent, counts.describe())
        self._closing = False
        self.sent = 0
        self.artifact_id: UUID | None = None
        self._thread = threading.Thread(target=context.run, args=(self._publish,),
                                         name=f"nornflow-progress-{counts.label}", daemon=True)
        self._thread.start()

    # -- the flow's thread: count and wake, nothing else ------------------------------
    def _post(self, finished: bool = False) -> None:
        with self._wake:
            self._pending = (self.counts.percent, self.counts.describe(finished))
            self._wake.notify()

    def batch_done(self, records: list[HostRecord]) -> None:
        """A batch finished: its hosts count as done (a retried host replaces its earlier record)."""
        self.counts.add(records)
        self.counts.batches_done += 1
        self._post()

    def retrying(self, hosts: list[str]) -> None:
        self.counts.retrying = len(hosts)
        self._post()

    def finish(self, records: Iterable[HostRecord] = ()) -> None:
        """The run ended: publish the final counts and wait (bounded) until they are sent."""
        self.counts.add(records)
        self.counts.retrying = 0
        self._post(finished=True)
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(FLUSH_TIMEOUT)

    # -- the background thread: the only one that talks to the API ---------------------
    def _publish(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import ArtifactCreate, ArtifactUpdate

        try:
            with get_client(sync_client=True) as client:
                while True:
                    with self._wake:
                        while self._pending is None and not self._closing:
                            self._wake.wait()
                        if self._pending is None:  # closing, and the last state is sent
                            return
                        (value, text), self._pending = self._pending, None
                    text = redact_text(text)
                    if self.artifact_id is None:
                        self.artifact_id = client.create_artifact(ArtifactCreate(
                            key=progress_key(self.counts.label), type="progress", data=value,
                            description=text, flow_run_id=self._flow_run_id)).id
                    else:
                        client.update_artifact(self.artifact_id, ArtifactUpdate(data=value, description=text))
                    self.sent += 1
        except Exception as exc:  # progress is a courtesy: never fail the run over it
            log.warning("progress of %s not published: %s: %s", self.counts.label, type(exc).__name__, exc)


class NoProgress:
    """What :func:`start` returns when progress is off or there is no flow run: does nothing."""

    counts: Counts | None = None
    artifact_id: UUID | None = None

    def batch_done(self, records: list[HostRecord]) -> None:
        pass

    def retrying(self, hosts: list[str]) -> None:
        pass

    def finish(self, records: Iterable[HostRecord] = ()) -> None:
        pass


def start(label: str, total: int, done: Iterable[HostRecord] = ()) -> RunProgress | NoProgress:
    """Begin the progress of a run over ``total`` hosts (``done``: hosts already decided, e.g. pre-failed)."""
    if not enabled("progress"):
        return NoProgress()
    flow_run_id: Any = None
    with contextlib.suppress(Exception):
        from prefect.context import FlowRunContext

        ctx = FlowRunContext.get()
        flow_run_id = ctx.flow_run.id if ctx and ctx.flow_run else None
    if flow_run_id is None:
        return NoProgress()
    counts = Counts(label, total)
    counts.add(done)
    return RunProgress(counts, flow_run_id, contextvars.copy_context())
