"""Run a validated plan inside a Prefect flow: generation by generation, steps in parallel.

Before anything touches a device the whole plan is checked: flows and tasks import,
every host selection matches, every resource limit exists (created with the plan's
size when missing). The plan is published as an artifact; the steps of a generation
run concurrently, each as a Prefect subflow; conditions decide which steps run; at the
end a table artifact and the outcome (the input of a rerun) are published.

``on_failure: rollback`` on the plan makes the whole plan all-or-nothing: once a step fails,
every device any ``deploy_config`` step changed (all steps, all waves) is rolled back, last
first, with one ``plan-NAME-undo`` summary, and later change steps do not run
(:mod:`nornflow.plan.undo`). On a step it keeps its own scope: that step's waves.

What a step's subflow gets as parameters is stored in the Prefect database, so it never
grows with the fleet without need: a step acting on a whole selection gets the selection
(``{"roles": ["leaf"]}``), not its host names; a later step may take ``plan_summary``
(counts and a few failed hosts per step, :func:`~nornflow.plan.outcome.plan_summary`) and
``plan_outcome_ref`` (the ``result:KEY`` of the full outcome, :mod:`nornflow.plan.store`),
never the records or the hosts' output.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.exceptions import ObjectNotFound
from prefect.task_runners import ThreadPoolTaskRunner

from nornflow.engine.explain import describe_error
from nornflow.engine.records import HostRecord
from nornflow.exceptions import PlanError
from nornflow.inventory.load import HostFilter, load_nornir
from nornflow.plan import render
from nornflow.plan.model import HostSelection, Plan, Step
from nornflow.plan.outcome import (
    ARTIFACT_HOSTS,
    PlanOutcome,
    StepOutcome,
    now,
    outcome_summary,
    plan_summary,
    rerun_plan,
)
from nornflow.plan.planner import PlannedPlan, StepState, check_selections, skip_reason, validate
from nornflow.plan.registry import FlowRegistry, load_reference
from nornflow.plan.steps import plan_step, resource_names, run_flow_step
from nornflow.plan.store import load_outcome as load_outcome  # re-exported: its home was here
from nornflow.plan.store import save_outcome
from nornflow.plan.undo import WaveRun, publish_undo, undo_steps
from nornflow.plan.windows import calendar_of, generation_stop, is_change
from nornflow.secrets.redaction import redact_text


@dataclass
class Prepared:
    """What the preflight resolved: the flows, each step's hosts, the resource sizes."""

    planned: PlannedPlan
    inventory: str | None
    flows: dict[str, Any] = field(default_factory=dict)
    hosts: dict[str, list[str] | None] = field(default_factory=dict)
    slots: dict[str, int] = field(default_factory=dict)
    step_slots: dict[str, int] = field(default_factory=dict)
    runs: dict[str, list[WaveRun]] = field(default_factory=dict)  # deploy_config runs, for a plan-level undo

    @property
    def hostless(self) -> set[str]:
        """Steps whose flow takes neither hosts nor an inventory: they run once, on no device."""
        return {name for name in self.flows if name not in self.hosts}


class _Observed:
    """A step's flow that notes each call's flow run (one per wave), so a plan-level undo finds their ledgers.

    :func:`~nornflow.plan.steps.run_flow_step` calls ``fn.with_options(...)(**kwargs)`` once per wave and reads
    ``fn.fn``'s signature; this passes both through and keeps the run id, the wave's hosts and backup dir.
    """

    def __init__(self, flow: Any, hosts: list[str] | None, runs: list[WaveRun]) -> None:
        self.flow, self.fn, self.hosts, self.runs = flow, flow.fn, hosts, runs

    def with_options(self, **options: Any) -> Callable[..., Any]:
        inner = self.flow.with_options(**options)

        def call(**kwargs: Any) -> Any:
            state = inner(**kwargs)
            run_id = state.state_details.flow_run_id
            selection = kwargs.get("hosts")
            names = selection.get("names") if isinstance(selection, dict) and set(selection) == {"names"} else None
            self.runs.append(WaveRun(hosts=list(names if names is not None else self.hosts or []),
                                     flow_run_id=str(run_id) if run_id else None,
                                     backup_dir=kwargs.get("backup_dir", "backups")))
            return state

        return call


def slug(text: str) -> str:
    """A Prefect artifact key: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "plan"


def ensure_limits(names: set[str], sizes: dict[str, int]) -> dict[str, int]:
    """Each named global concurrency limit's size; create missing ones with the plan's size."""
    found: dict[str, int] = {}
    with get_client(sync_client=True) as client:
        for name in sorted(names):
            try:
                found[name] = client.read_global_concurrency_limit_by_name(name).limit
                continue
            except ObjectNotFound:
                pass
            if name not in sizes:
                raise PlanError(
                    f"resource {name!r} has no Prefect concurrency limit and the plan gives no size; "
                    f"add `resources: {{{name}: N}}` to the plan (a per-host name may be sized by its template, "
                    f"e.g. 'site:{{site}}': N) or run `prefect gcl create {name} --limit N`"
                )
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=sizes[name]))
            found[name] = sizes[name]
    return found


def _accepts(fn: Any, name: str) -> bool:
    return name in inspect.signature(getattr(fn, "fn", fn)).parameters


def _check_limitable(step: Step, fn: Any) -> None:
    """A flow step with ``resources:`` needs a flow that hands them to its device sessions."""
    if _accepts(fn, "session_limits") or _accepts(fn, "resources"):
        return
    raise PlanError(
        f"step {step.name!r}: flow {step.flow!r} takes no `session_limits` parameter, so its device "
        f"sessions cannot hold the resources {step.resources}. Either (a) drop `resources:` from the step "
        f"(cap this run's own sessions with `params: {{max_sessions: N}}`, not across flows), (b) run the "
        f"work as a task step (`task: package.module:function` with `resources:`), or (c) give the flow a "
        f"`session_limits: list[str] | None = None` parameter and pass it on as "
        f"`run_task(..., session_limits=session_limits or ())`"
    )


def prepare(planned: PlannedPlan, inventory: str | None, registry: FlowRegistry,
            skip: set[str] | None = None) -> Prepared:
    """The preflight: import, select, size; raise one :class:`PlanError` before any device is touched."""
    plan, ready = planned.plan, Prepared(planned, inventory)
    todo = [s for s in plan.steps if s.name not in (skip or set())]
    needs_hosts: list[str] = []
    nr = None
    for step in todo:
        if step.flow is not None:
            fn = ready.flows[step.name] = registry.load(step.flow)
            if step.resources:
                _check_limitable(step, fn)
            if _accepts(fn, "hosts") or _accepts(fn, "inventory"):
                needs_hosts.append(step.name)
        else:
            load_reference(str(step.task), what=f"step {step.name!r} task")
            needs_hosts.append(step.name)
    if needs_hosts:
        if not inventory:
            raise PlanError(f"plan {plan.name!r}: steps {needs_hosts} act on hosts but no inventory is "
                            f"given; set inventory: in the plan or pass --inventory")
        nr = load_nornir(inventory)

        def select(sel: HostSelection | None) -> list[str]:
            return HostFilter.coerce(sel.as_filter() if sel else None).select(nr)

        ready.hosts.update(check_selections(plan, select, only=needs_hosts))
    limits = step_limits(todo, ready.hosts, nr)
    wanted = {name for names in limits.values() for name, _ in names}
    if wanted:
        sizes = {name: plan.resources.get(name, plan.resources.get(template, 0))
                 for names in limits.values() for name, template in names}
        ready.slots = ensure_limits(wanted, {k: v for k, v in sizes.items() if v})
        ready.step_slots = {step: min(ready.slots[name] for name, _ in names)
                            for step, names in limits.items() if names}
    return ready


def step_limits(steps: list[Step], hosts: dict[str, list[str] | None], nr: Any) -> dict[str, set[tuple[str, str]]]:
    """Each limited step's concurrency-limit names, with the template each came from.

    ``site:{site}`` becomes one limit per site of the step's hosts; a name without fields
    is itself. A plan sizes a limit by its name or by its template (``resources:``).
    """
    found: dict[str, set[tuple[str, str]]] = {}
    for step in steps:
        if not step.resources:
            continue
        names: set[tuple[str, str]] = set()
        selected = hosts.get(step.name)
        for template in step.resources:
            if nr is None or selected is None:
                if "{" in template:
                    raise PlanError(f"step {step.name!r}: resource {template!r} names host fields, but the step "
                                    f"selects no hosts; use a plain name")
                names.add((template, template))
                continue
            for host in selected:
                names.update((name, template) for name in resource_names([template], nr.inventory.hosts[host]))
        found[step.name] = names
    return found


def _failed_records(hosts: list[str] | None, reason: str) -> list[HostRecord]:
    return [HostRecord(host=h, status="failed", error=reason, duration=0.0) for h in hosts or []]


def run_step(step: Step, ready: Prepared, context: dict[str, Any]) -> StepOutcome:
    """One step, never raising: an error becomes a failed outcome naming it."""
    hosts = ready.hosts.get(step.name)
    started = now()
    try:
        if step.task is not None:
            slots = ready.step_slots.get(step.name)
            runner = plan_step.with_options(flow_run_name=step.name, timeout_seconds=step.timeout)
            # no host names: the subflow selects them again from the step's own selection
            plan = ready.planned.plan
            return runner(step, str(ready.inventory), None, slots, calendar_of(plan), plan.override_reason,
                          plan.override_by)
        fn = ready.flows[step.name]
        if step.flow == "deploy_config" and ready.planned.plan.on_failure == "rollback":
            fn = _Observed(fn, hosts, ready.runs.setdefault(step.name, []))
        # on_failure on the step: the step undoes its own waves; the plan's is done by the plan (undo_plan)
        return run_flow_step(step, fn, inventory=ready.inventory, hosts=hosts,
                             context={**context, "session_limits": step.resources or None,
                                      "resources": step.resources or None,
                                      "change_calendar": calendar_of(ready.planned.plan),
                                      # the plan's emergency override reaches its waves and deploy_config's
                                      # per-device checks (the flow's own parameters, recorded there too)
                                      "override_reason": ready.planned.plan.override_reason,
                                      "override_by": ready.planned.plan.override_by,
                                      "on_failure": step.on_failure})
    except Exception as exc:
        reason = describe_error(exc)
        return StepOutcome(name=step.name, state="failed", reason=reason,
                           records=_failed_records(hosts, reason), started=started, finished=now())


@task(cache_policy=NO_CACHE, task_run_name="step {name}")
def _step_task(name: str, job: Callable[[], StepOutcome]) -> StepOutcome:
    """Run one step from the plan flow's thread pool, so a generation's subflows overlap."""
    return job()


def _skip(step: Step, hosts: list[str] | None, reason: str) -> StepOutcome:
    stamp = now()
    records = [HostRecord(host=h, status="skipped", error=reason, duration=0.0) for h in hosts or []]
    return StepOutcome(name=step.name, state="skipped", reason=reason, started=stamp, finished=stamp,
                       records=records)


def _publish(key: str, markdown: str, description: str) -> None:
    create_markdown_artifact(key=key, markdown=redact_text(markdown), description=description)


def _save(outcome: PlanOutcome) -> str | None:
    """Write the full outcome to result storage; on failure, log it and go on without a reference."""
    try:
        return save_outcome(outcome)
    except Exception as exc:  # a storage problem must not fail the plan
        outcome.outcome_ref = None
        get_run_logger().warning("plan outcome not saved to result storage (%s: %s); reruns need the outcome "
                                 "JSON file", type(exc).__name__, str(exc)[:200])
        return None


def undo_plan(ready: Prepared, outcome: PlanOutcome, ran: list[str], failed: list[str]) -> str:
    """Plan-level ``on_failure: rollback``: undo every ``deploy_config`` step that ran, last first.

    Updates the steps' records (undone devices become failed records saying so) and returns why
    later change steps are not run. A step that says ``on_failure: keep`` keeps its change.
    """
    plan = ready.planned.plan
    first = outcome.steps[failed[0]]
    reason = f"step {failed[0]} failed ({first.reason or 'see its records'})"
    if len(failed) > 1:
        reason = f"steps {', '.join(failed)} failed; {reason}"
    steps = [(n, ready.runs[n], ready.planned.steps[n].params) for n in ran
             if ready.runs.get(n) and ready.planned.steps[n].on_failure != "keep"]
    by_step, summary = undo_steps(plan.name, str(ready.inventory), steps, reason)
    publish_undo(plan.name, summary, plan=True)
    for name, records in by_step.items():
        step = outcome.steps[name]
        changed = {r.host: r for r in records}
        step.records = [changed.pop(r.host, r) for r in step.records] + list(changed.values())
        undone = sum(1 for r in records if (r.data or {}).get("outcome") == "undone")
        if records:
            note = f"on_failure: rollback (plan) undid {undone} device(s) of this step, {len(records) - undone} " \
                   f"could not be: {reason}"
            step.state, step.reason = "failed", f"{step.reason}; {note}" if step.reason else note
    get_run_logger().warning("plan %s: %s; on_failure: rollback undid %d device(s)", plan.name, reason,
                             sum(len(w.undone) for _, runs, _ in steps for w in runs))
    return f"not run: plan {plan.name} rolled back after {reason} (on_failure: rollback)"


def step_context(ready: Prepared, outcome: PlanOutcome, runnable: list[str]) -> dict[str, Any]:
    """What the generation's flows may take about the run so far: a summary and, when asked, a reference."""
    context: dict[str, Any] = {}
    if any(_accepts(ready.flows[n], "plan_outcome_ref") for n in runnable if n in ready.flows):
        context["plan_outcome_ref"] = _save(outcome)
    context["plan_summary"] = plan_summary(outcome, ready.planned.plan.summary_hosts)
    return context


def execute_plan(
    plan: Plan, *, inventory: str | Path | None = None, prior: PlanOutcome | None = None,
    registry: FlowRegistry | None = None, publish: bool = True,
) -> PlanOutcome:
    """Run ``plan`` inside the calling flow; with ``prior``, redo only what did not succeed there."""
    logger = get_run_logger()
    carried: dict[str, StepOutcome] = {}
    if prior is not None:
        plan, carried = rerun_plan(prior)
    registry = registry or FlowRegistry(plan.flows)
    planned = validate(plan, registry)
    ready = prepare(planned, str(inventory or plan.inventory or "") or None, registry, set(carried))
    key = slug(plan.name)
    if publish:
        _publish(f"plan-{key}", render.plan_markdown(planned, hostless=ready.hostless),
                 f"plan {plan.name}: steps and order")
    run_ctx = FlowRunContext.get()
    outcome = PlanOutcome(plan=plan, steps={s.name: StepOutcome(name=s.name) for s in plan.steps},
                          started=now(), rerun_of=prior.flow_run_id if prior else None,
                          flow_run_id=str(run_ctx.flow_run.id) if run_ctx and run_ctx.flow_run else None)
    outcome.steps.update(carried)
    states: dict[str, StepState] = {name: o.state for name, o in carried.items()}
    stop: str | None = None  # a closed change window: this generation and every later one are skipped
    undone: str | None = None  # plan-level on_failure: rollback happened: later change steps are skipped
    ran: list[str] = []  # steps in the order they ran (a plan-level undo goes backwards)
    for index, names in enumerate(planned.generations, start=1):
        runnable: list[str] = []
        for name in names:
            if name in carried:
                continue
            reason = skip_reason(planned.steps[name], states)
            if reason is None:
                runnable.append(name)
            else:
                outcome.steps[name] = _skip(planned.steps[name], ready.hosts.get(name), reason)
                states[name] = "skipped"
                logger.info("step %s skipped: %s", name, reason)
        if undone is not None:
            for name in [n for n in runnable if is_change(planned.steps[n])]:
                outcome.steps[name], states[name] = _skip(planned.steps[name], ready.hosts.get(name), undone), "skipped"
                runnable.remove(name)
        if not runnable:
            continue
        stop = stop or generation_stop(plan, [planned.steps[n] for n in runnable], ready.hosts, ready.inventory,
                                       f"generation {index}/{len(planned.generations)}")
        if stop is not None:
            for name in runnable:
                outcome.steps[name], states[name] = _skip(planned.steps[name], ready.hosts.get(name), stop), "skipped"
            logger.warning("%s", stop)
            continue
        logger.info("generation %d/%d: running %s", index, len(planned.generations), ", ".join(runnable))
        context = step_context(ready, outcome, runnable)
        pool: ThreadPoolTaskRunner[Any]
        with ThreadPoolTaskRunner(max_workers=len(runnable)) as pool:
            futures: dict[str, Any] = {
                name: pool.submit(_step_task, parameters={  # type: ignore[arg-type]
                    "name": name, "job": partial(run_step, planned.steps[name], ready, context)})
                for name in runnable
            }
            for name, future in futures.items():
                result: StepOutcome = future.result()
                outcome.steps[name] = result
                states[name] = result.state
                log = logger.info if result.state == "completed" else logger.warning
                log("step %s %s%s", name, result.state, f": {result.reason}" if result.reason else "")
        ran += runnable
        failed = [n for n in runnable if outcome.steps[n].state == "failed"]
        if failed and undone is None and plan.on_failure == "rollback":
            undone = undo_plan(ready, outcome, ran, failed)
            states.update({n: outcome.steps[n].state for n in ran})
    outcome.finished = now()
    if publish:
        _save(outcome)
        publish_outcome(planned, outcome, ready.hostless)
    return outcome


def publish_outcome(planned: PlannedPlan, outcome: PlanOutcome, hostless: Collection[str] = ()) -> None:
    """The final table, the coloured diagram with the rerun data, and an event."""
    key = slug(outcome.plan.name)
    rows = [
        {"step": s.name, "state": s.state, "ok": len(s.ok_hosts), "failed": len(s.failed_hosts),
         "skipped": len(s.skipped_hosts), "duration_s": round(s.duration, 2),
         "note": redact_text(s.reason or ("kept from the earlier run" if s.carried else ""))}
        for names in planned.generations for s in (outcome.steps[n] for n in names)
    ]
    summary = f"plan {outcome.plan.name}: {outcome.state} in {outcome.duration:.1f} s"
    create_table_artifact(key=f"plan-{key}-steps", table=rows, description=summary)
    body = render.outcome_markdown(planned, outcome, hostless=hostless)
    body += "\n## Outcome, for a rerun (`nornflow plan run FILE --rerun plan-" + key + "-outcome`)\n\n"
    if outcome.outcome_ref:
        body += (f"The full outcome (every host's record and data) is `{outcome.outcome_ref}` in Prefect's "
                 f"result storage; below, at most {ARTIFACT_HOSTS} hosts per step, without data.\n\n")
    _publish(f"plan-{key}-outcome", body + outcome.to_markdown(), f"plan {outcome.plan.name}: outcome")
    emit_event(event=f"nornflow.plan.{outcome.state}", payload=outcome_summary(outcome),
               resource={"prefect.resource.id": f"nornflow.plan.{key}"})
