"""Run one step of a plan: its hosts in waves, through a flow or a Nornir task, within limits.

A task step is one Prefect subflow (``plan-step``, named after the step) that calls the
engine once per wave. A flow step calls its registered flow as the subflow, once per
wave. Either way the step ends as a :class:`StepOutcome` with one record per host:
hosts of waves that never ran are ``skipped``, so a rerun knows what is left.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import math
import re
import string
from collections.abc import Callable
from typing import Any

from nornir.core.inventory import Host
from nornir.core.task import Task
from prefect import State, flow
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext

from nornflow.deploy.locks import limit_names
from nornflow.engine.records import HostRecord, RunResult
from nornflow.engine.run import run_task
from nornflow.exceptions import PlanError
from nornflow.inventory.load import HostFilter, load_nornir
from nornflow.monitor.device_events import emit_run_events
from nornflow.plan.model import Step
from nornflow.plan.outcome import StepOutcome, now
from nornflow.plan.planner import waves
from nornflow.plan.registry import load_reference
from nornflow.plan.undo import WaveRun, publish_undo, undo_waves
from nornflow.plan.windows import wave_gate
from nornflow.secrets.redaction import redact_text

NornirTask = Callable[..., Any]
DEFAULT_HOST_TIMEOUT = 120.0


#: The fields a resource template may name, as :func:`nornflow.deploy.locks.limit_names` fills them.
LIMIT_FIELDS = ("host", "site", "role", "platform", "data")


def resource_names(templates: list[str], host: Host) -> list[str]:
    """The limit names one host's session holds: ``jump1`` as is, ``site:{site}`` per host.

    Templates are those of :func:`nornflow.deploy.locks.limit_names` (``{host}``, ``{site}``,
    ``{role}``, ``{platform}``, ``{data[KEY]}``); a field the host lacks is a :class:`PlanError`.
    """
    for template in templates:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise PlanError(f"resource {template!r}: {exc} (write a literal brace as {{{{ or }}}})") from None
        for field in fields:
            root = re.split(r"[.\[]", field, maxsplit=1)[0]
            if root not in LIMIT_FIELDS:
                raise PlanError(f"resource {template!r}: unknown field {{{root}}}; a resource template may use "
                                f"{', '.join('{' + f + '}' for f in LIMIT_FIELDS[:4])} or {{data[KEY]}}")
            value = host.platform if root == "platform" else host.get(root) if root in ("site", "role") else ""
            if value is None:
                raise PlanError(f"resource {template!r}: host {host.name} has no {root} in the inventory")
    try:
        return sorted(set(limit_names(host, templates)))
    except (KeyError, IndexError, AttributeError) as exc:
        raise PlanError(f"resources {templates}: host {host.name} lacks {exc} in its data") from None


def limited(inner: NornirTask, resources: list[str], wait: float | None = None) -> NornirTask:
    """Wrap a Nornir task so each host's session holds one slot of every named limit.

    The slots are global Prefect concurrency limits, so the cap holds across every flow
    that names the resource; templates such as ``site:{site}`` name one limit per site
    (see :func:`resource_names`). The session is closed before the slots are given back.
    """
    templates = sorted(set(resources))
    # The runner's host threads start bare; give each the Prefect settings/client context
    # of the flow that built the wrapper, so slots are taken from the same server.
    captured = contextvars.copy_context()

    def hold(task: Task, kwargs: dict[str, Any]) -> Any:
        names = resource_names(templates, task.host)
        with concurrency(names, occupy=1, timeout_seconds=wait, strict=True):
            try:
                return inner(task, **kwargs)
            finally:
                task.host.close_connections()

    @functools.wraps(inner)
    def run_limited(task: Task, **kwargs: Any) -> Any:
        return captured.copy().run(hold, task, kwargs)

    return run_limited


def host_timeout(step: Step, hosts: int, slots: int | None) -> float:
    """A host's deadline: waiting for a resource slot counts, so scale with the queue ahead."""
    base = min(DEFAULT_HOST_TIMEOUT, step.timeout) if step.timeout else DEFAULT_HOST_TIMEOUT
    if slots:
        base *= math.ceil(hosts / slots)
    return base


def _skipped(hosts: list[str], reason: str) -> list[HostRecord]:
    return [HostRecord(host=h, status="skipped", error=reason, duration=0.0) for h in hosts]


def _budget_note(step: Step, failed: int, total: int) -> str | None:
    allowed = step.allowed_failures(total)
    if failed > allowed:
        return f"{failed} of {total} hosts failed (failure budget {allowed})"
    return None


def run_waves(
    step: Step, hosts: list[str], run_wave: Callable[[list[str], str], list[HostRecord]],
    gate: Callable[[list[str]], str | None] | None = None,
    undo: Callable[[str], list[HostRecord]] | None = None,
) -> tuple[list[HostRecord], str | None, int]:
    """Run the step's waves in order; stop once the budget is spent, leaving the rest skipped.

    ``undo`` (``on_failure: rollback``) is called with the reason when the budget is spent; the
    records it returns (every device it rolled back, earlier waves included) replace theirs.

    ``gate`` (the change-window check) is asked before each wave after the first; a reason
    stops the step there, the rest skipped. Returns the records (in host order), the failure
    reason or None, and the waves run.
    """
    batches = waves(hosts, mode=step.mode, canary=step.canary, wave_size=step.wave_size)
    records: dict[str, HostRecord] = {}
    for index, batch in enumerate(batches, start=1):
        stop = gate(batch) if gate is not None and index > 1 else None
        if stop is not None:
            why = f"stopped before wave {index}/{len(batches)}: {stop}; rerun the plan to resume"
            for record in _skipped([h for h in hosts if h not in records], why):
                records[record.host] = record
            return [records[h] for h in hosts if h in records], why, index - 1
        label = step.name if len(batches) == 1 else f"{step.name} wave {index}/{len(batches)}"
        for record in run_wave(batch, label):
            records[record.host] = record
        failed = sum(1 for r in records.values() if r.failed)
        reason = _budget_note(step, failed, len(hosts))
        if reason is not None:
            left = [h for h in hosts if h not in records]
            if left:
                reason += f"; stopped after wave {index}/{len(batches)}, {len(left)} hosts left untouched"
            for record in _skipped(left, f"not run: {step.name} stopped after wave {index}"):
                records[record.host] = record
            if undo is not None:
                undone = undo(reason)
                records.update({r.host: r for r in undone})
                reason += f"; on_failure: rollback undid {len(undone)} device(s), last wave first"
            return [records[h] for h in hosts if h in records], reason, index
    return [records[h] for h in hosts if h in records], None, len(batches)


@flow(name="plan-step", validate_parameters=False)
def plan_step(step: Step, inventory: str, hosts: list[str] | None = None, slots: int | None = None,
              calendar: str | None = None, override_reason: str | None = None,
              override_by: str | None = None) -> StepOutcome:
    """A task step as one subflow: the engine runs each wave as batched Prefect tasks.

    ``hosts`` None (what a plan passes: parameters are kept in the Prefect database) selects
    the step's hosts here, from ``step.hosts`` and the inventory, as the preflight did.
    """
    started = now()
    ctx = FlowRunContext.get()
    run_id = str(ctx.flow_run.id) if ctx and ctx.flow_run else None
    inner: NornirTask = load_reference(str(step.task), what=f"step {step.name!r} task")
    if step.resources:
        inner = limited(inner, step.resources)
    nr = load_nornir(inventory)
    if hosts is None:
        hosts = HostFilter.coerce(step.hosts.as_filter() if step.hosts else None).select(nr)
    deadline = host_timeout(step, len(hosts), slots)

    def run_wave(batch: list[str], label: str) -> list[HostRecord]:
        result = run_task(
            inner, nornir=nr, hosts={"names": batch}, name=label, task_kwargs=dict(step.params),
            retries=step.retries, retry_delay=step.retry_delay, host_timeout=deadline,
        )
        return result.records

    gate = wave_gate(step, inventory, calendar, override_reason, override_by)  # the plan's override, if any
    records, reason, count = run_waves(step, hosts, run_wave, gate)
    emit_run_events(RunResult(name=step.name, records=records))  # one event per device of the step
    return StepOutcome(name=step.name, state="failed" if reason else "completed", reason=reason,
                       records=records, started=started, finished=now(), waves=count, flow_run_id=run_id)


def _records_of(value: Any) -> list[HostRecord] | None:
    """Host records from whatever a flow returned: a RunResult, records, dicts, or None."""
    if isinstance(value, State):
        value = value.result(raise_on_failure=False)
    if hasattr(value, "records"):
        value = value.records
    if isinstance(value, dict) and "records" in value:
        value = value["records"]
    if isinstance(value, list) and all(isinstance(v, (HostRecord, dict)) for v in value):
        return [v if isinstance(v, HostRecord) else HostRecord.model_validate(v) for v in value]
    return None


def flow_kwargs(
    fn: Callable[..., Any], step: Step, *, inventory: str | None, hosts: dict[str, Any] | None,
    context: dict[str, Any],
) -> dict[str, Any]:
    """The flow's keyword arguments: the step's params plus what the flow's signature asks for."""
    accepts = inspect.signature(getattr(fn, "fn", fn)).parameters
    kwargs = dict(step.params)
    offered = {"inventory": inventory, "hosts": hosts, "failure_budget": step.failure_budget, **context}
    if "retries" in step.model_fields_set:  # else the flow keeps its own default
        offered.update(retries=step.retries, retry_delay=step.retry_delay)
    for name, value in offered.items():
        if name in accepts and name not in kwargs and value is not None:
            kwargs[name] = value
    return kwargs


def run_flow_step(
    step: Step, fn: Any, *, inventory: str | None, hosts: list[str] | None, context: dict[str, Any]
) -> StepOutcome:
    """A flow step: the registered flow is the subflow, called once per wave."""
    started = now()
    accepts = inspect.signature(getattr(fn, "fn", fn)).parameters
    options: dict[str, Any] = {}
    if step.timeout:
        options["timeout_seconds"] = step.timeout
    if step.retries and "retries" not in accepts:
        options["retries"], options["retry_delay_seconds"] = step.retries, step.retry_delay
    errors: list[str] = []
    runs: list[WaveRun] = []

    def call(selection: dict[str, Any] | None, label: str, batch: list[str]) -> list[HostRecord] | None:
        kwargs = flow_kwargs(fn, step, inventory=inventory, hosts=selection, context=context)
        state = fn.with_options(flow_run_name=label, **options)(**kwargs, return_state=True)
        run_id = state.state_details.flow_run_id
        runs.append(WaveRun(hosts=batch, backup_dir=kwargs.get("backup_dir", "backups"),
                            flow_run_id=str(run_id) if run_id else None))
        records = _records_of(state)
        if records is None and not state.is_completed():
            errors.append(redact_text(state.message or state.name or "failed"))
        return records

    if hosts is None or "hosts" not in accepts:  # a flow without host selection: one call
        records = call(None, step.name, hosts or []) or []
        reason = errors[0] if errors else _budget_note(step, sum(r.failed for r in records), len(records))
        return StepOutcome(name=step.name, state="failed" if reason else "completed", reason=reason,
                           records=records, started=started, finished=now(), waves=1,
                           flow_run_id=runs[-1].flow_run_id if runs else None)
    # One wave of the whole selection passes the selection itself ({} is every host), never the
    # host names: a flow run's parameters are kept in the Prefect database. Waves pass their names.
    selection = (step.hosts.as_filter() if step.hosts else {}) if step.mode == "parallel" else None

    def run_wave(batch: list[str], label: str) -> list[HostRecord]:
        got = call(selection if selection is not None else {"names": batch}, label, batch)
        if got is None:
            error = errors[-1] if errors else "the flow returned no host records"
            return [HostRecord(host=h, status="failed" if errors else "ok", duration=0.0,
                               error=error if errors else None)
                    for h in batch]
        return got

    gate = wave_gate(step, inventory, context.get("change_calendar"), context.get("override_reason"),
                     context.get("override_by"))
    undo = None
    if context.get("on_failure") == "rollback" and step.flow == "deploy_config" and inventory:

        def undo(reason: str) -> list[HostRecord]:
            undone, summary = undo_waves(step.name, str(inventory), runs, reason, step.params)
            publish_undo(step.name, summary)
            return undone

    records, reason, count = run_waves(step, hosts, run_wave, gate, undo)
    if errors and reason is None:
        reason = errors[0]
    return StepOutcome(name=step.name, state="failed" if reason else "completed", reason=reason,
                       records=records, started=started, finished=now(), waves=count,
                       flow_run_id=runs[-1].flow_run_id if runs else None)
