"""Live progress of one engine run: a Prefect progress artifact, updated as batches finish.

The engine calls :func:`start` when a run begins and :meth:`RunProgress.batch_done` each
time a batch finishes (per batch, never per host). Everything that talks to the Prefect
API happens on one background thread that sends only the newest state, so a slow API
never slows the run: the flow's thread only counts and wakes that thread. The end of a
run does not wait either: :meth:`RunProgress.finish` hands the final counts to the same
thread, which sends them while the flow engine records the run's final state; the
process waits for it (bounded by ``FLUSH_TIMEOUT``) only when it exits, the way Prefect
drains its events, and :func:`flush` waits on demand (tests, a caller reading the
artifact back). A run whose counts come from elsewhere (a sharded parent merging its
shards' states) reports them with :meth:`RunProgress.update`. The artifact
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
import time
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from nornflow.engine.records import HostRecord
from nornflow.monitor import device_events, enabled, flush_before_threads_stop
from nornflow.secrets.redaction import redact_text

log = logging.getLogger(__name__)

#: How long an exiting process (or :func:`flush`) waits for the last updates to reach the API.
FLUSH_TIMEOUT = 10.0

#: Publishers whose final update may not be sent yet; :func:`flush` waits for them.
_open: set[RunProgress] = set()
_open_lock = threading.Lock()


def flush(timeout: float = FLUSH_TIMEOUT) -> bool:
    """Wait (at most ``timeout`` seconds in all) until every finished run's last update (and its
    device events, :func:`nornflow.monitor.device_events.flush`) is sent.

    Returns whether all were sent. It also runs when the process exits.
    """
    deadline = time.monotonic() + timeout
    with _open_lock:
        pending = list(_open)
    for watch in pending:
        watch.join(max(0.0, deadline - time.monotonic()))
    events_sent = device_events.flush(max(0.0, deadline - time.monotonic()))  # the runs' device events too
    return not any(w.alive for w in pending) and events_sent


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
        self.merged: tuple[int, int, int] | None = None  # done, ok, failed reported by update()

    def add(self, records: Iterable[HostRecord]) -> None:
        for record in records:
            self.records[record.host] = record

    def set(self, done: int, ok: int, failed: int, total: int | None = None) -> None:
        """Counts merged from elsewhere (shards); they replace the per-host ones."""
        for name, value in (("done", done), ("ok", ok), ("failed", failed), ("total", total)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"progress {name} must be a whole number >= 0, got {value!r}")
        if ok + failed > done:
            raise ValueError(f"progress ok ({ok}) + failed ({failed}) exceed done ({done}); pass hosts decided")
        if total is not None:
            self.total = total
        self.merged = (done, ok, failed)

    @property
    def done(self) -> int:
        return self.merged[0] if self.merged else len(self.records)

    @property
    def ok(self) -> int:
        return self.merged[1] if self.merged else sum(1 for r in self.records.values() if r.ok)

    @property
    def failed(self) -> int:
        return self.merged[2] if self.merged else sum(1 for r in self.records.values() if r.failed)

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
        with _open_lock:
            _open.add(self)
        flush_before_threads_stop(flush)
        self._thread.start()

    # -- the flow's thread: count and wake, nothing else ------------------------------
    def _post(self, finished: bool = False) -> None:
        with self._wake:
            self._pending = (self.counts.percent, self.counts.describe(finished))
            self._wake.notify_all()

    def batch_done(self, records: list[HostRecord]) -> None:
        """A batch finished: its hosts count as done (a retried host replaces its earlier record)."""
        self.counts.add(records)
        self.counts.batches_done += 1
        self._post()

    def retrying(self, hosts: list[str]) -> None:
        self.counts.retrying = len(hosts)
        self._post()

    def update(self, done: int, ok: int, failed: int, total: int | None = None) -> None:
        """Counts merged from elsewhere (a sharded parent's shard states): publish them as they are."""
        self.counts.set(done, ok, failed, total)
        self._post()

    def finish(self, records: Iterable[HostRecord] = ()) -> None:
        """The run ended: hand the final counts to the background thread and return at once.

        The thread sends them and ends; :func:`flush` (also run at process exit) waits for it.
        """
        with self._wake:
            records = list(records)
            if records:
                self.counts.add(records)
                self.counts.merged = None  # the records are exact: they replace counts merged from elsewhere
            self.counts.retrying = 0
            self._pending = (self.counts.percent, self.counts.describe(finished=True))
            self._closing = True
            self._wake.notify_all()
        flush_before_threads_stop(flush)  # again: after Prefect's events worker registered its exit hook

    def poll_shards(self, ids: list[UUID], every: float) -> None:
        """Until :meth:`finish`: sum the shard runs' progress into this run's (see :func:`follow`)."""
        from prefect.client.orchestration import get_client

        try:
            with get_client(sync_client=True) as client:
                while True:
                    with self._wake:
                        if self._closing:
                            return
                    done, ok, failed = shard_counts(client, ids)
                    with self._wake:  # finish() may have come meanwhile: never overwrite the final counts
                        if self._closing:
                            return
                        self.counts.set(done, ok, failed)
                        self._pending = (self.counts.percent, self.counts.describe())
                        self._wake.notify_all()
                        self._wake.wait(every)
        except Exception as exc:  # progress is a courtesy
            log.warning("shard progress of %s not read: %s: %s", self.counts.label, type(exc).__name__, exc)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

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
        finally:
            with _open_lock:
                _open.discard(self)


class NoProgress:
    """What :func:`start` returns when progress is off or there is no flow run: does nothing."""

    counts: Counts | None = None
    artifact_id: UUID | None = None

    def batch_done(self, records: list[HostRecord]) -> None:
        pass

    def retrying(self, hosts: list[str]) -> None:
        pass

    def update(self, done: int, ok: int, failed: int, total: int | None = None) -> None:
        pass

    def finish(self, records: Iterable[HostRecord] = ()) -> None:
        pass


_COUNTS = re.compile(r"(\d+) of (\d+) hosts \([^)]*\): (\d+) ok, (\d+) failed")


def parse_counts(description: str | None) -> tuple[int, int, int, int] | None:
    """``(done, total, ok, failed)`` from a progress artifact's description, None if it is not one of ours."""
    found = _COUNTS.search(description or "")
    return None if found is None else (int(found[1]), int(found[2]), int(found[3]), int(found[4]))


def shard_counts(client: Any, flow_run_ids: list[UUID]) -> tuple[int, int, int]:
    """``(done, ok, failed)`` summed over the newest progress artifact of each of ``flow_run_ids``."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
    from prefect.client.schemas.sorting import ArtifactSort

    found = client.read_artifacts(artifact_filter=ArtifactFilter(
        flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids), type=ArtifactFilterType(any_=["progress"])),
        sort=ArtifactSort.UPDATED_DESC)
    newest: dict[Any, tuple[int, int, int, int]] = {}
    for artifact in found:
        counts = parse_counts(artifact.description)
        if counts is not None and artifact.flow_run_id not in newest:
            newest[artifact.flow_run_id] = counts
    return (sum(c[0] for c in newest.values()), sum(c[2] for c in newest.values()),
            sum(c[3] for c in newest.values()))


def follow(label: str, total: int, shard_run_ids: Iterable[UUID], every: float = 5.0) -> RunProgress | NoProgress:
    """The progress of a parent run over ``total`` hosts whose work runs in the shard flow runs ``shard_run_ids``.

    Every ``every`` seconds a background thread sums the shards' own progress artifacts
    (:func:`shard_counts`) into the parent's; call ``finish(records)`` with the merged records
    when the shards are done, which stops the polling and publishes the exact final counts.
    """
    watch = start(label, total)
    if isinstance(watch, RunProgress):
        ids = list(shard_run_ids)
        threading.Thread(target=contextvars.copy_context().run, args=(watch.poll_shards, ids, every),
                         name=f"nornflow-progress-shards-{label}", daemon=True).start()
    return watch


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
