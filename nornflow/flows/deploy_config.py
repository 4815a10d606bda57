"""Deploy intended configuration safely: plan, approve in the UI, apply, verify, roll back.

1. *plan*: render each host's intended config and diff it against the running one; the plan
   (lines, diffs, hash) is published as the ``deploy-config-plan`` artifact.
2. *approve*: the run pauses until someone answers with the plan's hash (or ``auto_approve``).
3. *back up* the running configs the plan was made from (git, one commit).
4. *apply* per device: refuse a stale plan, check the change window once more, push, verify,
   and on failure restore the backup and verify the restore. Events name each device: applied,
   rolled back, plan rejected, outside its window.

Every way the run ends (dry run, empty plan, refused or timed-out approval, every device outside
its window, a push, a resume) goes through one finishing path: the per-host artifacts, one
``nornflow.device.run.*`` event per device, and the reproducibility record. A first record is
written when the run starts, so a run that dies still has one (``nornflow replay <id>``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import State, flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.states import Cancelled, Failed
from prefect.variables import Variable

from nornflow.change.calendar import calendar_path
from nornflow.change.record import record_run
from nornflow.change.report import emit_window_events, outside_records, publish_window, window_markdown
from nornflow.change.resume import fingerprints, resume_run
from nornflow.change.windows import Override, WindowCheck, WindowGuard
from nornflow.config import events
from nornflow.config.approval import Decision, PlanApproval, auto_approval, decide
from nornflow.config.backups import BackupStore
from nornflow.config.ledger import Ledger
from nornflow.config.plan import ConfigPlan, DevicePlan
from nornflow.config.render import Renderer
from nornflow.config.tasks import apply_config, plan_config
from nornflow.deploy.locks import DEVICE_LOCKS, ensure_device_locks
from nornflow.engine.records import HostRecord, RunResult
from nornflow.engine.run import final_state, run_task
from nornflow.monitor.artifacts import publish_markdown, publish_run
from nornflow.monitor.device_events import emit_run_events
from nornflow.settings import LAB_VARIABLE

FLOW = "deploy-config"

#: Exception names in a failed apply record, and what they mean for the device.
OUTCOMES = (("OutsideWindow", "outside-window"), ("StalePlan", "stale"), ("RollbackFailed", "rollback-failed"),
            ("RolledBack", "rolled-back"))


def outcome(record: HostRecord) -> str:
    """``applied``, ``stale``, ``rolled-back``, ``rollback-failed`` or ``failed`` (never reached)."""
    if record.ok:
        return "applied"
    return next((name for marker, name in OUTCOMES if marker in (record.error or "")), "failed")


def build_plan(result: RunResult, sections: list[str] | None) -> tuple[ConfigPlan, dict[str, str]]:
    """The plan of the hosts that planned, and their running configs (the backups to take)."""
    devices = [DevicePlan.model_validate(r.data["plan"]) for r in result.records if r.ok]
    running = {r.host: r.data["running"] for r in result.records if r.ok}
    return ConfigPlan(devices=devices, sections=sections), running


def _ask(plan: ConfigPlan, timeout: int, poll_interval: int) -> Decision:
    form = PlanApproval.with_initial_data(
        description=f"Review the `deploy-config-plan` artifact of this run, then approve or reject plan "
                    f"`{plan.hash}` ({len(plan.changing)} device(s) would change).",
        plan_hash=plan.hash,
    )
    try:
        answer = pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=poll_interval)
    except FlowPauseTimeout:
        return decide(None, plan.hash)
    return decide(answer, plan.hash)


def _finish(result: RunResult, failure_budget: int | str | None, note: str) -> State:
    state = final_state(result, failure_budget)
    state.message = f"{note} | {state.message}"
    return state


def _planning_records(planned: RunResult, plan: ConfigPlan, verdict: str, skip: str = "") -> list[HostRecord]:
    """The planned hosts' records; with ``skip``, the ones that would change are ``skipped`` for that reason."""
    records = []
    for record in planned.records:
        if record.ok:
            lines = len(plan[record.host].lines)
            record.data = {"outcome": "compliant" if lines == 0 else verdict, "lines": lines}
            if skip and lines:
                record.status, record.error = "skipped", skip
        records.append(record)
    return records


def _late_refusals(records: list[HostRecord], guard: WindowGuard, verdict: WindowCheck) -> WindowCheck:
    """Devices whose window closed before their first line: skipped, told their next window; the merged check."""
    late = guard.refused_at_push()
    for record in records:
        if record.host in late.decisions:
            decision = late[record.host]
            opens = decision.next_opens.isoformat() if decision.next_opens else None
            record.status, record.error = "skipped", decision.message
            record.data = {**(record.data or {}), "outcome": "outside-window", "next_window": opens}
    if not late.decisions:
        return verdict
    merged = verdict.model_copy(update={"decisions": {**verdict.decisions, **late.decisions}})
    create_markdown_artifact(key=f"{FLOW}-window", markdown=window_markdown(
        merged, "Change windows (checked again per device just before its first line)"),
        description=f"change windows: {merged.summary()}")
    emit_window_events(late)
    return merged


def _waiting_note(ledger: Ledger, verdict: WindowCheck) -> str:
    """What to do about devices the ledger leaves for their next window ("" when none)."""
    waiting = ledger.waiting()
    if not waiting:
        return ""
    first = verdict[waiting[0]] if waiting[0] in verdict.decisions else None
    when = f" (next window of {waiting[0]}: {first.local(first.next_opens)})" if first and first.next_opens else ""
    return (f"; {len(waiting)} device(s) wait for their change window{when}: resume then with "
            f"`nornflow resume {ledger.run['run_id']}`")


def lab_server() -> bool:
    """True when the Prefect server says it is a lab's (its ``nornflow_lab`` variable is true)."""
    value = Variable.get(LAB_VARIABLE, default=None)
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


@flow(name="deploy_config", log_prints=True)
def deploy_config(
    inventory: str,
    templates: str,
    hosts: dict[str, Any] | None = None,
    sections: list[str] | None = None,
    dry_run: bool = False,
    auto_approve: bool = False,
    approval_timeout: int = 3600,
    approval_poll_interval: int = 10,
    backup_dir: str = "backups",
    post_checks: dict[str, str] | None = None,
    timeout_ops: float | None = None,
    failure_budget: int | str | None = None,
    max_sessions: int = 100,
    session_limits: list[str] | None = None,
    change_calendar: str | None = None,
    override_reason: str | None = None,
    override_by: str | None = None,
    resume_of: str | None = None,
) -> State:
    """Plan, approve, back up, apply, verify and (per device, on failure) roll back intended config.

    ``sections`` limits the change to top-level lines starting with those words; ``post_checks``
    maps commands to text their output must contain after the push; ``timeout_ops`` bounds each
    config line (a device that drops the session is noticed after that many seconds).
    ``change_calendar`` (or ``$NORNFLOW_CHANGE_CALENDAR``; neither: no restriction): devices outside
    their change window are not touched, checked before the backup and again per device just before
    its first line; ``override_reason`` (mandatory for an emergency override) pushes them anyway, recorded.
    Every device's progress goes to a ledger in ``backup_dir``; ``resume_of`` (a crashed run's id, what
    ``nornflow resume`` passes) or a retry of this run finishes what its ledger says is left, under the
    same window rules (devices caught mid-push are settled whatever the window says).
    """
    logger = get_run_logger()
    if auto_approve and not lab_server():
        return Failed(message=(
            f"auto_approve skips the approval and works only on a lab's Prefect server: this server has no "
            f"{LAB_VARIABLE!r} variable set to true (`prefect variable set {LAB_VARIABLE} true` on a lab's own "
            "server; in team mode the gateway sets it for workspaces marked `lab: true`); nothing was planned"))
    # Before any session: a blank override reason, a missing templates directory, a bad calendar.
    guard = WindowGuard(calendar_path(change_calendar), Override.of(override_reason, override_by))
    Renderer(templates)
    run_id = str(runtime.flow_run.id or "local")
    record_run("deploy_config", FLOW, inventory=inventory, templates=templates)  # a run that dies has one too

    def conclude(result: RunResult, note: str, *, verdict: WindowCheck | None, plan_hash: str | None,
                 approver: str | None, wrote: bool, extra: tuple[str, ...] = (), end: State | None = None) -> State:
        """The one way out: artifacts, a device event per host, the record; ``end`` or the budget's state."""
        publish_run(result, FLOW, extra=[note, *extra])
        record_run("deploy_config", FLOW, inventory=inventory, templates=templates, plan_hash=plan_hash,
                   approver=approver, window=verdict, backup_dir=backup_dir if wrote else None)
        if end is None:
            return _finish(result, failure_budget, note)  # emits the device events
        emit_run_events(result)
        return end

    ledger = Ledger.open(backup_dir, resume_of) if resume_of else Ledger.find(backup_dir, run_id)
    if ledger is not None and (resume_of or not ledger.run.get("ended")):  # resume, or a retry of a crash
        return _resume(ledger, run_id, guard, conclude, logger, inventory=inventory, templates=templates,
                       sections=sections, post_checks=post_checks, timeout_ops=timeout_ops,
                       max_sessions=max_sessions, session_limits=session_limits)
    planned = run_task(plan_config, nornir=inventory, hosts=hosts, name="plan_config",
                       task_kwargs={"templates": templates, "sections": sections}, max_sessions=max_sessions,
                       session_limits=session_limits or ())
    plan, running = build_plan(planned, sections)
    unplanned = {r.host: r.error or "" for r in planned.records if r.failed}
    publish_markdown(FLOW, "plan", plan.markdown(f"Plan {plan.hash}", unplanned),
                     f"plan {plan.hash}: {len(plan.changing)} device(s) would change")
    logger.info("plan %s: %d of %d device(s) would change", plan.hash, len(plan.changing), len(plan.devices))
    if dry_run or plan.empty:
        note = (f"dry run: plan {plan.hash}, {len(plan.changing)} device(s) would change, nothing applied"
                if dry_run else f"nothing to change: plan {plan.hash} is empty, no device was touched")
        planned.records = _planning_records(planned, plan, "would change")
        return conclude(planned, note, verdict=None, plan_hash=plan.hash, approver=None, wrote=False)

    decision = auto_approval(plan.hash) if auto_approve else _ask(plan, approval_timeout, approval_poll_interval)
    publish_markdown(FLOW, "approval", decision.markdown(), f"plan {plan.hash} {decision.verdict}")
    if not decision.approved:
        for device in plan.changing:
            events.emit_device_event(events.PLAN_REJECTED, device.host, plan_hash=plan.hash,
                                     verdict=decision.verdict, reason=decision.reason, by=decision.approver)
        note = f"plan {plan.hash} {decision.verdict}: {decision.reason}"
        planned.records = _planning_records(planned, plan, decision.verdict, skip=f"not applied: {note}")
        end: State = Failed(message=note) if decision.verdict == "refused" else Cancelled(message=note)
        return conclude(planned, note, verdict=None, plan_hash=plan.hash, approver=decision.approver, wrote=False,
                        end=end)

    verdict = guard.check(inventory, [d.host for d in plan.changing])
    publish_window(verdict, FLOW)
    outside = outside_records(verdict, {d.host: len(d.lines) for d in plan.changing})
    changing = [d for d in plan.changing if d.host in verdict.allowed]
    if not changing:
        note = f"plan {plan.hash}: every device to change is outside its change window; nothing was pushed"
        kept = [r for r in _planning_records(planned, plan, "") if r.host not in verdict.refused]
        planned.records = [*outside, *kept]
        return conclude(planned, note, verdict=verdict, plan_hash=plan.hash, approver=decision.approver,
                        wrote=False, extra=tuple(r.error or "" for r in outside),
                        end=Cancelled(message=f"{note}: {outside[0].error}"))
    store = BackupStore(backup_dir)
    changes = [store.save(d.host, running[d.host]) for d in changing]
    run_name = f"{runtime.flow_run.name or 'local'} ({runtime.flow_run.id or 'no id'})"
    ledger = Ledger.create(backup_dir, run_id, plan_hash=plan.hash, approver=decision.approver,
                           devices={d.host: fingerprints(d) for d in changing},
                           parameters=dict(runtime.flow_run.parameters or {}))
    commit = store.commit(f"deploy_config run {run_name}: pre-change backup for plan {plan.hash}", changes)
    ledger.backed_up(commit or store.head(), [d.host for d in changing])
    # One slot of `device:<host>` per session: no other flow changes these devices meanwhile.
    ensure_device_locks(d.host for d in changing)
    applied = run_task(
        apply_config, nornir=inventory, hosts={"names": [d.host for d in changing]}, name="apply_config",
        session_limits=(*DEVICE_LOCKS, *(session_limits or ())),
        task_kwargs={"plans": {d.host: d.model_dump() for d in changing},
                     "backups": {d.host: running[d.host] for d in changing},
                     "sections": sections, "post_checks": post_checks, "timeout_ops": timeout_ops,
                     "ledger": str(ledger.path), "window": guard},
        max_sessions=max_sessions,
    )
    counts: dict[str, int] = {}
    for record in applied.records:
        result = outcome(record)
        counts[result] = counts.get(result, 0) + 1
        record.data = {"outcome": result, "lines": len(plan[record.host].lines)}
        _announce(result, record, plan.hash, decision)
    verdict = _late_refusals(applied.records, guard, verdict)
    ledger.finish(counts)
    touched = {r.host for r in applied.records} | set(verdict.refused)
    others = [r for r in _planning_records(planned, plan, "") if r.host not in touched]
    if outside:
        counts["outside-window"] = counts.get("outside-window", 0) + len(outside)
    combined = RunResult(name="deploy_config", records=[*applied.records, *outside, *others],
                         duration=planned.duration + applied.duration, batches=planned.batches + applied.batches)
    note = f"plan {plan.hash} approved by {decision.approver or '(not given)'}: " + ", ".join(
        f"{n} {k}" for k, n in sorted(counts.items())) + _waiting_note(ledger, verdict)
    return conclude(combined, note, verdict=verdict, plan_hash=plan.hash, approver=decision.approver, wrote=True,
                    extra=(f"Pre-change backups in `{store.directory}`, commit "
                           f"`{commit[:10] if commit else 'none (unchanged)'}`.",))


def _resume(ledger: Ledger, run_id: str, guard: WindowGuard, conclude: Callable[..., State], logger: Any,
            **options: Any) -> State:
    """A resumed run (``resume_of``, or a retry of a crash): the window gate first, then what is left."""
    resumed, counts, note, verdict = resume_run(ledger, run_id, guard=guard, log=logger, **options)
    publish_window(verdict, FLOW)
    verdict = _late_refusals(resumed.records, guard, verdict)
    note += _waiting_note(ledger, verdict)
    header = ledger.run
    extra = (f"Ledger `{ledger.path.name}` in `{ledger.path.parent}`.",)
    nothing_done = all(k == "outside-window" or k.endswith("before the crash") for k in counts)
    end: State | None = None
    if verdict.refused and nothing_done:
        first = resumed[verdict.refused[0]]
        end = Cancelled(message=f"{note}: nothing was pushed: {first.error}")
    return conclude(resumed, note, verdict=verdict, plan_hash=header.get("plan_hash"),
                    approver=header.get("approver"), wrote=True, extra=extra, end=end)


def _announce(result: str, record: HostRecord, plan_hash: str, decision: Decision) -> None:
    common = {"plan_hash": plan_hash, "approved_by": decision.approver}
    if result == "applied":
        events.emit_device_event(events.APPLIED, record.host, **common, lines=record.data["lines"])
    elif result == "rolled-back":
        events.emit_device_event(events.ROLLED_BACK, record.host, **common, reason=record.error)
    elif result == "rollback-failed":
        events.emit_device_event(events.ROLLBACK_FAILED, record.host, **common, reason=record.error)
    elif result == "stale":
        events.emit_device_event(events.PLAN_REJECTED, record.host, **common, verdict="stale", reason=record.error)

