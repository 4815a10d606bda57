"""Running a sharded flow: one flow run of a deployment per shard, waited on together, merged into one result.

:func:`run_sharded` starts each shard (:func:`~nornflow.engine.shards.plan_shards` made them) with
``run_deployment`` as a subflow run of the parent, waits for all of them at once, and merges what
they left in result storage into one :class:`~nornflow.engine.records.RunResult` with exactly one
record per host; a shard that crashed, was cancelled or left no result contributes a failed record
per host naming its flow run and state. :func:`zombie_automation` marks a shard whose worker died
as Crashed.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from nornir.core import Nornir
from nornir.core.inventory import Host
from prefect import get_run_logger, runtime
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.states import AwaitingRetry

from nornflow.engine.records import HostRecord, RunResult
from nornflow.engine.shards import (
    SHARD_TAG,
    Shard,
    ShardedResult,
    ShardError,
    ShardReport,
    ShardRun,
    ShardTicket,
    _render,
    load_shard_result,
    plan_shards,
    result_key,
    slug,
)
from nornflow.inventory.load import HostFilter, load_nornir
from nornflow.monitor import progress


def _own_deployment(deployment: str | None, flow_name: str) -> str:
    if deployment:
        return deployment
    own = runtime.deployment.id
    if not own:
        raise ShardError(
            f"{flow_name} is not running from a deployment, so its shards have no deployment to run on: "
            f"pass shard_deployment='{flow_name}/<deployment name>' (a deployment of this flow that workers take)"
        )
    return str(own)


def _check_capacity(deployment: str, shards: int) -> None:
    """A deployment limited to one run at a time, that this parent runs from, could never start a shard."""
    own = runtime.deployment.id
    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment(uuid.UUID(deployment))
        except ValueError:
            found = client.read_deployment_by_name(deployment)
    limit = found.global_concurrency_limit.limit if found.global_concurrency_limit else None
    if limit is not None and own and str(found.id) == str(own) and limit < 2:
        raise ShardError(
            f"deployment {found.name!r} runs one flow run at a time (concurrency_limit {limit}) and this run "
            f"holds it, so its {shards} shards could never start: pass shard_deployment= a deployment of this "
            f"flow without that limit (prefect.yaml: backup_configs/lab-sharded)"
        )


def _start(shard: Shard, parameters: dict[str, Any], ticket: ShardTicket, parent: str) -> FlowRun:
    """Create the shard's flow run, or find the one an earlier attempt of the parent created."""
    return run_deployment(  # type: ignore[return-value]
        shard.deployment,
        parameters={**parameters, "hosts": {"names": shard.hosts}, "shard": ticket.model_dump(),
                    "shard_by": None, "shards": None},
        timeout=0, as_subflow=True, work_queue_name=shard.queue,
        tags=[SHARD_TAG, f"shard:{slug(shard.key)}"],
        idempotency_key=f"{parent}:{shard.key}",
        flow_run_name=f"{runtime.flow_run.name or 'run'}-{slug(shard.key)}",
    )


def _wait(ids: list[uuid.UUID], poll: float, timeout: float | None) -> dict[uuid.UUID, FlowRun]:
    """Poll every shard at once until each is in a final state (or ``timeout`` s have passed)."""
    logger = get_run_logger()
    done: dict[uuid.UUID, FlowRun] = {}
    if not ids:
        return done
    deadline = None if timeout is None else time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            pending = [i for i in ids if i not in done]
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=pending)))
            for run in runs:
                if run.state is not None and run.state.is_final():
                    done[run.id] = run
                    logger.info("shard run %s ended %s (%d/%d)", run.name, run.state.name, len(done), len(ids))
            if len(done) == len(ids):
                return done
            if deadline is not None and time.monotonic() > deadline:
                for run in runs:
                    done.setdefault(run.id, run)
                return done
            time.sleep(poll)


def _lost(host: Host | None, name: str, run: ShardRun | None) -> HostRecord:
    """The failed record of a host whose shard left no record for it."""
    base: dict[str, Any] = {"host": name, "status": "failed"}
    if host is not None:
        base.update(platform=host.platform, site=host.get("site"), role=host.get("role"))
    if run is None:
        return HostRecord(**base, error="in no shard of this run (the inventory changed since its first attempt); "
                                        "start a new run for it")
    state = run.flow_run.state
    verb = "ended" if state is not None and state.is_final() else "is still"
    message = f": {state.message}" if state is not None and state.message else ""
    return HostRecord(**base, error=(
        f"shard {run.shard.key} (flow run {run.flow_run.name!r}, {run.flow_run.id}) {verb} {run.state_name}"
        f"{message}{' without a record for this host' if run.report else ''}; "
        f"retry the parent flow run to rerun only this shard"))


def run_sharded(
    flow_name: str,
    *,
    inventory: str,
    parameters: dict[str, Any],
    hosts: HostFilter | dict[str, Any] | None = None,
    shard_by: str | None = None,
    shards: int | None = None,
    deployment: str | None = None,
    work_queue: str | None = None,
    result_storage: str | None = None,
    poll_seconds: float | None = None,
    timeout: float | None = None,
) -> ShardedResult:
    """Run ``flow_name`` as shards over the selected hosts (inside the parent's flow run) and merge them.

    ``parameters`` go to every shard (with ``hosts`` narrowed to the shard's). ``deployment``
    (default: the parent's own) and ``work_queue`` may be templates with ``{value}`` (the
    shard's attribute value, e.g. the site), ``{index}`` and ``{key}``: ``work_queue="{value}"``
    sends each site's shard to the queue its site's workers poll. ``timeout`` (s, default none)
    stops waiting: shards still running then count as failed, and a retry of the parent picks
    them up where they are.
    """
    started = time.perf_counter()
    parent = runtime.flow_run.id
    if not parent:
        raise ShardError(f"{flow_name} must run as a flow run to shard (call it as a Prefect flow)")
    nr = load_nornir(inventory)
    names = HostFilter.coerce(hosts).select(nr)
    planned = plan_shards(nr, names, by=shard_by, count=shards)
    target = _own_deployment(deployment, flow_name)
    for shard in planned:
        shard.deployment = _render(target, shard, "shard_deployment")
        shard.queue = _render(work_queue, shard, "shard_queue") if work_queue else None
    for name in sorted({s.deployment for s in planned}):
        _check_capacity(name, len(planned))
    poll = poll_seconds if poll_seconds is not None else float(os.environ.get("NORNFLOW_SHARD_POLL_SECONDS", "5"))

    launched = [_launch(shard, parameters, parent, result_storage) for shard in planned]
    # the parent's own progress artifact: the sum of its shards' as they report
    watch = progress.follow(f"{flow_name} all shards", len(names), [r.flow_run.id for r, _ in launched], every=poll)
    final = _wait([r.flow_run.id for r, _ in launched if not r.reused], poll, timeout)
    runs = []
    for run, ticket in launched:
        if not run.reused:
            run.flow_run = final[run.flow_run.id]
            run.report = _report_of(run.flow_run, ticket, final_only=True)
        runs.append(run)
    merged = _merge(flow_name, nr, names, runs, time.perf_counter() - started)
    watch.finish(merged.result.records)
    return merged


def _launch(shard: Shard, parameters: dict[str, Any], parent: str, result_storage: str | None,
            ) -> tuple[ShardRun, ShardTicket]:
    """Start the shard's flow run; on a retry of the parent, reuse or rerun the one it started before."""
    logger = get_run_logger()
    ticket = ShardTicket(key=shard.key, parent_flow_run_id=parent, result_key=result_key(parent, shard),
                         result_storage=result_storage)
    flow_run = _start(shard, parameters, ticket, parent)
    # An earlier attempt's run keeps the hosts and ticket it was created with: trust those.
    ticket = ShardTicket.model_validate(flow_run.parameters.get("shard") or ticket.model_dump())
    shard.hosts = list((flow_run.parameters.get("hosts") or {}).get("names") or shard.hosts)
    run = ShardRun(shard, flow_run)
    state = flow_run.state
    if state is None or not state.is_final():
        logger.info("shard %s: %d hosts -> flow run %s on %s%s", shard.key, len(shard.hosts), flow_run.name,
                    shard.deployment, f", queue {shard.queue}" if shard.queue else "")
        return run, ticket
    run.report = _report_of(flow_run, ticket, final_only=False) if state.is_completed() else None
    if run.report is not None:
        run.reused = True
        logger.info("shard %s: flow run %s completed in an earlier attempt; reusing its result", shard.key,
                    flow_run.name)
    else:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run.id, AwaitingRetry(message=f"rerun by parent {parent}"), force=True)
        logger.info("shard %s: flow run %s ended %s; running it again", shard.key, flow_run.name, state.name)
    return run, ticket


def _report_of(flow_run: FlowRun, ticket: ShardTicket, *, final_only: bool) -> ShardReport | None:
    """The report the shard's last attempt left, if it ended by itself (Completed or Failed)."""
    state = flow_run.state
    if state is None or not (state.is_completed() or state.is_failed()):
        return None
    report = load_shard_result(ticket.result_key, ticket.result_storage)
    if report is None or report.flow_run_id != str(flow_run.id):
        return None
    if final_only and report.run_count != flow_run.run_count:
        return None  # left by an earlier attempt that the last one did not replace
    return report


def _merge(flow_name: str, nr: Nornir, names: list[str], runs: list[ShardRun], duration: float) -> ShardedResult:
    """One record per host: the shard's own, or a failed one naming the shard that lost it."""
    records: dict[str, HostRecord] = {}
    lost: list[HostRecord] = []
    for run in runs:
        got = {r.host: r for r in run.report.result.records} if run.report else {}
        for host in run.shard.hosts:
            if host in got:
                records[host] = got[host]
            else:
                records[host] = _lost(nr.inventory.hosts.get(host), host, run)
                lost.append(records[host])
    for host in names:
        if host not in records:
            records[host] = _lost(nr.inventory.hosts.get(host), host, None)
            lost.append(records[host])
    selected = set(names)
    order = [*names, *(h for h in records if h not in selected)]
    batches = sum(r.report.result.batches for r in runs if r.report)
    result = RunResult(name=flow_name, records=[records[h] for h in order], duration=duration, batches=batches)
    return ShardedResult(result=result, runs=runs, lost=lost)


def zombie_automation(within: int = 90, tag: str | None = SHARD_TAG) -> dict[str, Any]:
    """The automation that marks a flow run Crashed when its heartbeats stop (its worker or machine died).

    Prefect 3.9 detects dead process workers' runs only this way: runs send
    ``prefect.flow-run.heartbeat`` every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` s (30 at least);
    ``within`` must exceed that. ``tag`` limits it to shard runs (``None``: every flow run).
    Create it with ``prefect automation create --from-json`` or ``POST /api/automations/``.
    """
    trigger: dict[str, Any] = {
        "type": "event", "posture": "Proactive",
        "after": ["prefect.flow-run.heartbeat"],
        "expect": ["prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                   "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"],
        "match": {"prefect.resource.id": ["prefect.flow-run.*"]},
        "for_each": ["prefect.resource.id"], "threshold": 1, "within": within,
    }
    if tag:
        trigger["match_related"] = {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{tag}"}
    return {
        "name": "nornflow-zombie-shards" if tag else "nornflow-zombie-flow-runs",
        "description": f"Mark a flow run Crashed when no heartbeat arrived for {within} s (its worker died).",
        "enabled": True, "trigger": trigger,
        "actions": [{"type": "change-flow-run-state", "state": "CRASHED",
                     "message": f"No heartbeat for {within} s: the worker or its machine died. Retry the run."}],
    }
