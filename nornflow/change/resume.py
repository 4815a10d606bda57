"""Resume a ``deploy_config`` run whose process died in the middle of a push.

The run's :class:`~nornflow.config.ledger.Ledger` says where each device stopped:

- *final* (verified, rolled back, stale...): skipped, nothing is sent;
- *in flight* (pushing, pushed, rolling back): the session may have been cut anywhere, so
  the device is re-read: when it matches its intended config (and the post-checks pass) it
  is marked verified without sending a line; otherwise it is rolled back to its pre-change
  backup (read from the git commit the ledger names) and the rollback verified;
- *waiting* (planned, backed up, outside-window): checked against its change window first (a
  resume is a push like any other: outside its window, with no override given to the resume,
  it is not touched, journalled ``outside-window`` and told its next window, and the ledger
  is paused so a resume in that window finishes it); then planned again: when the new plan has
  the same fingerprints as the approved one (running config, intended config, lines) it is
  pushed under the original approval (its window checked once more just before its first
  line), else it is refused as stale and not touched. Settling an *in-flight* device is not a
  new change and is done whatever the window says.

No planned line is sent twice: a device is pushed only from the *waiting* state, and a device
leaves that state (``pushing`` is journalled) before its first line is sent.

``nornflow resume <flow-run-id>`` (:func:`prepare`) checks that the run's process is gone,
marks the run Crashed when it still shows Running (a killed process cannot say so itself;
a worker does that for runs it started), frees the device locks the dead process held, and
runs ``deploy_config`` again with the run's parameters and ``resume_of``, but not the run's
emergency override: an override answers one moment's emergency, so a resume outside the
window needs its own (``nornflow resume RUN --override-reason ...``). A retry from the UI
reruns the same flow run id (its parameters, its override), finds its own ledger and resumes
the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from nornir.core.task import Result, Task

from nornflow.change.exceptions import LedgerError, ResumeError
from nornflow.change.windows import WindowCheck, WindowGuard
from nornflow.config.backups import BackupStore
from nornflow.config.exceptions import StalePlan
from nornflow.config.ledger import FINAL, IN_FLIGHT, Ledger, owner, process_alive
from nornflow.config.plan import DevicePlan
from nornflow.config.remediation import config_hash
from nornflow.config.tasks import apply_config, plan_config, restore, verify
from nornflow.deploy.locks import DEVICE_LOCKS, ensure_device_locks, lock_name
from nornflow.engine.explain import describe_error
from nornflow.engine.records import HostRecord, RunResult
from nornflow.engine.run import run_task


def lines_hash(lines: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(lines)).encode()).hexdigest()[:16]


def fingerprints(device: DevicePlan) -> dict[str, Any]:
    """What the ledger keeps of a device's plan: enough to recognise it, no configuration text."""
    return {"running_hash": device.running_hash, "intended_hash": device.intended_hash,
            "lines_hash": lines_hash(device.lines), "lines": len(device.lines)}


def settle_config(task: Task, plans: Mapping[str, dict[str, Any]], backups: Mapping[str, str],
                  modes: Mapping[str, str], ledger: str, sections: Sequence[str] | None = None,
                  post_checks: Mapping[str, str] | None = None, timeout_ops: float | None = None,
                  window: WindowGuard | None = None) -> Result:
    """One device of a resumed run: ``settle`` an in-flight one, or ``apply`` a waiting one (window rechecked)."""
    name = task.host.name
    if modes[name] == "apply":
        return apply_config(task, plans, backups, sections, post_checks, timeout_ops, ledger, window)
    journal = Ledger(ledger)
    device = DevicePlan.model_validate(plans[name])
    try:
        if device.intended_hash != journal.devices()[name].get("intended_hash"):
            raise StalePlan(f"{name}'s intended config changed since the crashed run was planned")
        verify(task, device.intended, sections, post_checks)
    except Exception as exc:
        problem = f"caught mid-push by the crash and not as intended on re-read ({describe_error(exc, task.host)})"
        raise restore(task, backups[name], problem, timeout_ops, journal) from exc
    journal.mark(name, "verified", "caught mid-push by the crash; re-read, matches its intended config")
    return Result(host=task.host, changed=True, result={"outcome": "verified-after-crash"})


def _backups(ledger: Ledger, hosts: list[str]) -> dict[str, str]:
    """Pre-change configs from the commit the ledger names, checked against the planned fingerprints."""
    run, devices = ledger.run, ledger.devices()
    commit = run.get("backup_commit")
    if not commit:
        raise LedgerError(f"ledger {ledger.path} names no backup commit: the run died before its backup, "
                          f"so no device was touched; start a new deploy_config run instead of resuming")
    store = BackupStore(ledger.path.parent)
    found = {}
    for host in hosts:
        text = store.read_at(commit, host)
        if config_hash(text) != devices[host].get("running_hash"):
            raise LedgerError(f"the backup of {host} in commit {commit[:10]} does not match the config the run "
                              f"planned from; check {ledger.path.parent} by hand before resuming")
        found[host] = text
    return found


def _outside(verdict: WindowCheck, ledger: Ledger, facts: dict[str, dict[str, Any]]) -> list[HostRecord]:
    """Journal the waiting devices the window refuses; their skipped records (the next window)."""
    records = []
    for host in verdict.refused:
        decision = verdict[host]
        opens = decision.next_opens.isoformat() if decision.next_opens else None
        ledger.mark(host, "outside-window", decision.message, next_opens=opens)
        records.append(HostRecord(host=host, status="skipped", error=decision.message, duration=0.0, data={
            "outcome": "outside-window", "lines": facts[host].get("lines", 0), "next_window": opens}))
    return records


def resume_run(ledger: Ledger, run_id: str, *, inventory: str, templates: str, sections: list[str] | None,
               post_checks: dict[str, str] | None, timeout_ops: float | None, max_sessions: int,
               session_limits: list[str] | None, guard: WindowGuard | None = None,
               log: Any = None) -> tuple[RunResult, dict[str, int], str, WindowCheck]:
    """Finish what the ledger says is left; the records of every device, counts, a note, the window check."""
    guard = guard or WindowGuard()
    run = ledger.run
    ledger.append({"kind": "resume", "by": run_id, "owner": owner()})
    ledger.commit(f"ledger: resumed by run {run_id}")
    before = ledger.devices()
    left = [h for h, facts in before.items() if facts["state"] not in FINAL]
    records = [HostRecord(host=h, status="ok" if f["state"] == "verified" else "failed", duration=0.0,
                          error=None if f["state"] == "verified" else f"{f['state']} before the crash: {f.get('note')}",
                          data={"outcome": f"{f['state']} before the crash", "lines": f.get("lines", 0)})
               for h, f in before.items() if h not in left]
    in_flight = [h for h in left if before[h]["state"] in IN_FLIGHT]
    verdict = guard.check(inventory, [h for h in left if h not in in_flight])
    for host in in_flight:  # finishing a change already begun is not a new change
        if log is not None:
            log.info("%s was caught mid-push (%s): re-read, verified or rolled back whatever its change window "
                     "says (no new change)", host, before[host]["state"])
    records += _outside(verdict, ledger, before)
    todo = [h for h in left if h in in_flight or h in verdict.allowed]
    duration, batches = 0.0, 0
    if todo:
        planned = run_task(plan_config, nornir=inventory, hosts={"names": todo}, name="plan_config (resume)",
                           task_kwargs={"templates": templates, "sections": sections}, max_sessions=max_sessions,
                           session_limits=session_limits or ())
        plans = {r.host: r.data["plan"] for r in planned.records if r.ok}
        modes: dict[str, str] = {}
        for record in planned.records:
            facts = before[record.host]
            if record.failed:
                records.append(record)
            elif facts["state"] in IN_FLIGHT:
                modes[record.host] = "settle"
            elif fingerprints(DevicePlan.model_validate(plans[record.host])) | {"lines": facts.get("lines")} == {
                    k: facts.get(k) for k in ("running_hash", "intended_hash", "lines_hash", "lines")}:
                modes[record.host] = "apply"
            else:
                note = "stale: the device or its intended config changed since the approved plan; not touched"
                ledger.mark(record.host, "stale", note)
                records.append(HostRecord(host=record.host, status="failed", error=f"StalePlan: {note}",
                                          data={"outcome": "stale"}))
        if modes:
            backups = _backups(ledger, sorted(modes))
            ensure_device_locks(modes)
            applied = run_task(settle_config, nornir=inventory, hosts={"names": sorted(modes)},
                               name="apply_config (resume)", max_sessions=max_sessions,
                               session_limits=(*DEVICE_LOCKS, *(session_limits or ())),
                               task_kwargs={"plans": {h: plans[h] for h in modes}, "backups": backups,
                                            "modes": modes, "ledger": str(ledger.path), "sections": sections,
                                            "post_checks": post_checks, "timeout_ops": timeout_ops,
                                            "window": guard})
            records += applied.records
            duration, batches = planned.duration + applied.duration, planned.batches + applied.batches
    after = ledger.states()
    counts: dict[str, int] = {}
    for record in records:
        state = after.get(record.host, "failed")
        key = state if record.host in left else f"{state} before the crash"
        counts[key] = counts.get(key, 0) + 1
        if record.host in left and not isinstance(record.data, dict):
            record.data = {"outcome": state}
        elif record.host in left:
            record.data = {**record.data, "outcome": state}
    ledger.finish(counts)
    note = (f"resumed run {run['run_id']} (plan {run.get('plan_hash')}, approved by "
            f"{run.get('approver') or '(not recorded)'}): " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return RunResult(name="deploy_config", records=records, duration=duration, batches=batches), counts, note, verdict


def prepare(run: str, backup_dir: str | None = None, force: bool = False) -> dict[str, Any]:
    """Check that flow run ``run`` can be resumed, mark it Crashed, free its locks.

    Returns the keyword arguments of the ``deploy_config`` call that resumes it.
    """
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    try:
        run_id = UUID(run)
    except ValueError:
        raise ResumeError(f"{run!r} is not a flow run id; pass the id the Prefect UI shows for the run") from None
    with get_client(sync_client=True) as client:
        try:
            flow_run = client.read_flow_run(run_id)
        except ObjectNotFound:
            raise ResumeError(f"flow run {run} does not exist on {client.api_url}; check PREFECT_API_URL") from None
        params = dict(flow_run.parameters or {})
        if "templates" not in params or "inventory" not in params:
            raise ResumeError(f"flow run {run} is not a deploy_config run; only deploy_config runs can be resumed")
        ledger_id = str(params.get("resume_of") or run_id)  # a crashed resume continues the first run's ledger
        ledger = Ledger.open(backup_dir or params.get("backup_dir", "backups"), ledger_id)
        header = ledger.run
        if header.get("ended"):
            raise ResumeError(f"flow run {run} finished its ledger at {header['ended']}: nothing to resume")
        # a paused ledger (devices waiting for their window) has no owner left to wait for
        alive = False if header.get("paused") else process_alive(header.get("owner") or {})
        who = header.get("owner") or {}
        if alive:
            raise ResumeError(f"flow run {run} is still being run by process {who.get('pid')} on this machine; "
                              f"wait for it, or stop it, before resuming")
        state = flow_run.state
        if alive is None and state is not None and not state.is_final() and not force:
            raise ResumeError(f"flow run {run} shows {state.name} and ran on {who.get('hostname')}: if that "
                              f"worker is gone, resume with --force")
        if state is not None and not state.is_final():
            message = f"process {who.get('pid')} on {who.get('hostname')} is gone; resumed by `nornflow resume`"
            client.set_flow_run_state(run_id, Crashed(message=message), force=True)
        for host, facts in ledger.devices().items():  # the dead process's sessions held these locks
            if facts["state"] not in FINAL:
                try:
                    client.update_global_concurrency_limit(lock_name(host), GlobalConcurrencyLimitUpdate(
                        active_slots=0))
                except ObjectNotFound:
                    continue
    params.update(backup_dir=str(ledger.path.parent), resume_of=ledger_id)
    for key in ("override_reason", "override_by"):  # an override is for its own moment: the resume gives its own
        params.pop(key, None)
    return params
