"""Split one run over many hosts into shards: one flow run per shard, taken by Prefect workers.

A flow that shards (``backup_configs``) is its own shard: the parent run plans the shards
(:func:`plan_shards`: by a host attribute such as the site, and/or by count), starts one
flow run of a deployment per shard with ``run_deployment`` (a subflow run of the parent, on
a work queue per shard if asked, so per-site workers take them), waits for all of them at
once, and merges what they left in result storage into one :class:`RunResult` with exactly
one record per host (:func:`run_sharded`). Each shard is a real flow run with its own state,
retries, logs and cancel; it writes its RunResult with :func:`save_shard_result` to storage
every worker and the parent can reach (Prefect's default result storage, or a block such as
an S3 bucket), never to the Prefect database.

A shard that crashed, was cancelled or left no result contributes a failed record per host
naming its flow run and state. Retrying the parent flow run reruns only the shards that did
not complete (the same flow runs, found again by idempotency key); completed ones are read,
not rerun. A shard whose worker died is marked Crashed by the zombie automation
(:func:`zombie_automation`: flow run heartbeats plus a proactive trigger).

Conventions for a flow that shards: parameters ``hosts`` (a host filter), ``shard`` (the
:class:`ShardTicket` a shard run gets; ``None`` in a parent), ``shard_by`` and ``shards``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nornir.core import Nornir
from nornir.core.inventory import Host
from prefect import State, runtime
from prefect.client.schemas.objects import FlowRun
from prefect.filesystems import WritableFileSystem
from prefect.results import ResultStore, get_default_result_storage
from prefect.serializers import JSONSerializer
from pydantic import BaseModel

from nornflow.engine.records import HostRecord, RunResult
from nornflow.engine.run import final_state
from nornflow.exceptions import NornFlowError
from nornflow.monitor import device_events

#: Tag on every shard flow run (the zombie automation can match it).
SHARD_TAG = "nornflow-shard"
#: Host attributes that are not looked up in the host's data.
_SPECIAL: dict[str, Callable[[Host], Any]] = {
    "platform": lambda h: h.platform,
    "group": lambda h: h.groups[0].name if h.groups else None,
}


class ShardError(NornFlowError, ValueError):
    """A sharded run cannot start: no deployment to run shards on, a bad template or attribute."""


class ShardTicket(BaseModel):
    """What a shard flow run gets in its ``shard`` parameter: who it is and where to leave its result."""

    key: str
    parent_flow_run_id: str
    result_key: str
    result_storage: str | None = None


class ShardReport(BaseModel):
    """What a shard leaves in result storage: its result, and which attempt of which flow run wrote it."""

    key: str
    flow_run_id: str
    run_count: int
    result: RunResult


@dataclass
class Shard:
    key: str  # "site=fra", "2/4", "site=fra 1/2"
    value: str  # the attribute's value, or the shard's number
    hosts: list[str]
    index: int = 0
    queue: str | None = None
    deployment: str = ""


@dataclass
class ShardRun:
    shard: Shard
    flow_run: FlowRun
    report: ShardReport | None = None
    reused: bool = False  # completed in an earlier attempt of the parent; read, not rerun

    @property
    def state_name(self) -> str:
        return str(self.flow_run.state.name) if self.flow_run.state else "unknown"


@dataclass
class ShardedResult:
    """The merged result of a sharded run and how each shard went."""

    result: RunResult
    runs: list[ShardRun]
    lost: list[HostRecord] = field(default_factory=list)  # hosts whose shard left no result

    def rows(self) -> list[dict[str, object]]:
        """One artifact row per shard."""
        failed = set(self.result.failed_hosts)
        return [{
            "shard": r.shard.key, "hosts": len(r.shard.hosts), "flow_run": r.flow_run.name,
            "flow_run_id": str(r.flow_run.id), "state": r.state_name, "work_queue": r.flow_run.work_queue_name or "",
            "attempts": r.flow_run.run_count, "reused": "yes" if r.reused else "",
            "failed": sum(1 for h in r.shard.hosts if h in failed),
        } for r in self.runs]

    def describe(self) -> list[str]:
        bad = [r for r in self.runs if r.report is None]
        lines = [f"{len(self.runs)} shards; per-shard tables, logs and diffs are in their flow runs."]
        if bad:
            lines.append("Shards without a result: " + ", ".join(f"{r.shard.key} ({r.state_name})" for r in bad)
                         + ". Retry this flow run to rerun only them.")
        return lines

    def final_state(self, failure_budget: int | float | str | None = None) -> State:
        """Failed beyond the budget, Completed otherwise, like :func:`nornflow.engine.run.final_state`.

        The shards emitted their hosts' device events; only the hosts of lost shards get theirs here.
        """
        if self.lost:
            device_events.emit_run_events(RunResult(name=self.result.name, records=self.lost))
        return final_state(self.result, failure_budget, emit_events=False, note=f" ({len(self.runs)} shards)")


# -- planning ------------------------------------------------------------------------------
def host_value(host: Host, by: str) -> str:
    """``host``'s value of ``by``: ``platform``, ``group`` (its first group) or any data key (``site``)."""
    value: Any = _SPECIAL[by](host) if by in _SPECIAL else host.get(by)
    return "none" if value is None or value == "" else str(value)


def _split(names: list[str], parts: int) -> list[list[str]]:
    parts = max(1, min(parts, len(names)))
    size, extra = divmod(len(names), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        chunks.append(names[start:end])
        start = end
    return chunks


def plan_shards(nr: Nornir, names: list[str], *, by: str | None = None, count: int | None = None) -> list[Shard]:
    """Group ``names`` into shards: one per value of ``by``, each split in ``count`` parts (or ``count`` parts)."""
    if by is None and count is None:
        raise ShardError("a sharded run needs shard_by (a host attribute such as 'site') or shards (a count)")
    if count is not None and count < 1:
        raise ShardError(f"shards={count} must be at least 1")
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(host_value(nr.inventory.hosts[name], by) if by else "", []).append(name)
    if by and set(groups) == {"none"}:
        raise ShardError(f"no selected host has a value for shard_by={by!r}; use 'site', 'role', 'platform', "
                         f"'group' or a key of the hosts' data")
    shards: list[Shard] = []
    for value, members in groups.items():
        chunks = _split(members, count or 1)
        for i, chunk in enumerate(chunks):
            part = f"{i + 1}/{len(chunks)}"
            key = (f"{by}={value}" + (f" {part}" if len(chunks) > 1 else "")) if by else part
            shards.append(Shard(key=key, value=value if by else str(i + 1), hosts=chunk, index=len(shards)))
    return shards


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "shard"


def _render(template: str, shard: Shard, what: str) -> str:
    try:
        return template.format(value=shard.value, index=shard.index + 1, key=slug(shard.key))
    except (KeyError, IndexError) as exc:
        raise ShardError(
            f"{what} {template!r} has an unknown field {exc}; use {{value}}, {{index}} or {{key}}"
        ) from None


# -- result storage ----------------------------------------------------------------------
def _store(result_storage: str | None) -> ResultStore:
    """Prefect's default result storage (PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK or PREFECT_LOCAL_STORAGE_PATH),
    or the storage block ``result_storage`` names (``s3-bucket/nornflow-shards``)."""
    storage: WritableFileSystem
    if result_storage is None:
        storage = get_default_result_storage(_sync=True)  # type: ignore[call-arg,assignment]
    else:
        from prefect.blocks.core import Block

        block = Block.load(result_storage, _sync=True)  # type: ignore[call-arg]
        if not isinstance(block, WritableFileSystem):
            raise ShardError(f"result_storage {result_storage!r} is a {type(block).__name__}, not a writable "
                             f"file system block (local-file-system, s3-bucket, gcs-bucket...)")
        storage = block
    return ResultStore(result_storage=storage, serializer=JSONSerializer(), cache_result_in_memory=False)


def save_shard_result(result: RunResult, ticket: ShardTicket) -> None:
    """Called by a shard at its end: leave ``result`` where the parent will read it."""
    report = ShardReport(key=ticket.key, flow_run_id=str(runtime.flow_run.id),
                         run_count=int(runtime.flow_run.run_count), result=result)
    _store(ticket.result_storage).write(report.model_dump(mode="json"), key=ticket.result_key)


def load_shard_result(result_key: str, result_storage: str | None) -> ShardReport | None:
    """The report a shard left under ``result_key``, or None when there is none."""
    try:
        record = _store(result_storage).read(result_key)
    except (FileNotFoundError, ValueError, OSError):
        return None
    value = record.result
    return value if isinstance(value, ShardReport) else ShardReport.model_validate(value)


def result_key(parent_flow_run_id: str, shard: Shard) -> str:
    """``nornflow-shards/<parent run>/<shard>-<hash>.json`` (the hash keeps "a.b" and "a-b" apart)."""
    digest = hashlib.sha256(shard.key.encode()).hexdigest()[:8]
    return f"nornflow-shards/{parent_flow_run_id}/{slug(shard.key)}-{digest}.json"
