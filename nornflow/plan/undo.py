"""All-or-nothing changes: undo what ``deploy_config`` runs changed when the change fails.

Two scopes, both ``on_failure: rollback``:

- on a step: a ``deploy_config`` step whose wave spends its failure budget rolls back every
  device its own waves changed, earlier waves included (``plan-step-<name>-undo``);
- on the plan: when any step fails, every device every ``deploy_config`` step of the plan
  changed so far is rolled back, all steps and all waves (``plan-<name>-undo``), and the plan's
  later change steps are not run.

Either way the order is the reverse of the change: last step first, within a step last wave
first, within a wave the reverse of its host order; each device from the pre-change backup its
wave's run committed (its ledger names the commit), each restore verified. A backup is used
only when its fingerprint is the one the ledger recorded when the change was planned: the
committed copy went through redaction, and one holding ``***`` where a secret was would type
the mask into the device; such a device fails alone, naming why, and the others go on.
Devices never pushed (``planned``, ``backed-up``) are reported as not touched; devices a wave
already rolled back itself, or undid before, are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nornir.core.task import Result, Task

from nornflow.config.backups import BackupStore
from nornflow.config.ledger import IN_FLIGHT, WAITING, Ledger
from nornflow.config.remediation import config_hash
from nornflow.config.tasks import rollback
from nornflow.deploy.locks import DEVICE_LOCKS
from nornflow.engine.records import HostRecord
from nornflow.engine.run import run_task
from nornflow.exceptions import BackupError
from nornflow.secrets.redaction import MASK, redact_text

#: Ledger states of a device whose change is (or may be) on it: what an undo rolls back.
CHANGED = frozenset({"verified", *IN_FLIGHT})
#: Device rows in the undo artifact (failed rollbacks first); every device's record is in the plan outcome.
MAX_ROWS = 50


@dataclass
class WaveRun:
    """One wave of a step: its hosts and the flow run that changed them."""

    hosts: list[str]
    flow_run_id: str | None
    backup_dir: str = "backups"
    undone: list[str] = field(default_factory=list)


@dataclass
class WaveUndo:
    """What one wave's ledger allows: backups to restore, devices refused (why), devices never touched."""

    backups: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    untouched: list[str] = field(default_factory=list)
    ledger: str = ""


def undo_config(task: Task, backups: Mapping[str, str], ledgers: Mapping[str, str],
                timeout_ops: float | None = None, why: str = "a later wave of the plan step spent its failure "
                "budget") -> Result:
    """Restore one device to its pre-change backup and verify it; mark its ledger ``undone``."""
    name = task.host.name
    lines = rollback(task, backups[name], timeout_ops)
    Ledger(ledgers[name]).mark(name, "undone", f"rolled back: {why}", rollback_lines=lines)
    return Result(host=task.host, changed=bool(lines), result={"outcome": "undone", "lines": lines})


def _backup(store: BackupStore, commit: str | None, host: str, facts: Mapping[str, Any]) -> tuple[str | None, str]:
    """``(config, "")`` when the committed backup is the config the change was planned from, else ``(None, why)``."""
    if not commit:
        return None, "its run names no backup commit in its ledger"
    try:
        text = store.read_at(commit, host)
    except BackupError as exc:
        return None, f"its pre-change backup cannot be read from commit {commit[:10]}: {exc}"
    planned = facts.get("running_hash")
    if config_hash(text) == planned and planned:
        return text, ""
    why = (f"its pre-change backup in commit {commit[:10]} of {store.directory} is not the config the change was "
           f"planned from (fingerprint {config_hash(text)}, the ledger recorded {planned or 'none'})")
    if MASK in text:
        why += (f"; it holds {MASK} where a secret's value was (the committed copy is redacted), so restoring it "
                f"would type the mask into the device")
    return None, why + ": restore it by hand from the device's own history"


def wave_undo(wave: WaveRun) -> WaveUndo:
    """The wave's changed devices (reverse host order) and their verified pre-change configs."""
    found = WaveUndo()
    ledger = Ledger.find(wave.backup_dir, wave.flow_run_id) if wave.flow_run_id else None
    if ledger is None:
        return found
    found.ledger = str(ledger.path)
    devices = ledger.devices()
    commit = ledger.run.get("backup_commit")
    store = BackupStore(ledger.path.parent)
    for host in reversed(wave.hosts):
        facts = devices.get(host)
        if facts is None:
            continue
        if facts["state"] in WAITING:
            found.untouched.append(host)
        elif facts["state"] in CHANGED:
            text, why = _backup(store, commit, host, facts)
            if text is None:
                found.refused[host] = why
            else:
                found.backups[host] = text
    return found


@dataclass
class Undoing:
    """The rows and records an undo collects over one or more steps."""

    records: list[HostRecord] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)

    def wave(self, step_name: str, label: str, inventory: str, index: int, wave: WaveRun, reason: str,
             params: Mapping[str, Any] | None, why: str) -> None:
        plan = wave_undo(wave)
        self.untouched += [f"| {label} | {h} | not touched: never pushed, nothing to undo | - |"
                           for h in plan.untouched]
        for host in [h for h in reversed(wave.hosts) if h in plan.refused or h in plan.backups]:
            if host in plan.refused:  # one device at a time keeps the reverse order exact
                self._failed(label, host, 0.0, f"undo refused, {host} keeps the change: {plan.refused[host]}",
                             "undo-refused")
                continue
            done = run_task(undo_config, nornir=inventory, hosts={"names": [host]},
                            name=f"{step_name} undo wave {index}", max_sessions=1, session_limits=DEVICE_LOCKS,
                            task_kwargs={"backups": plan.backups, "ledgers": {host: plan.ledger},
                                         "timeout_ops": (params or {}).get("timeout_ops"), "why": why})
            for record in done.records:
                if record.ok:
                    wave.undone.append(host)
                    lines = record.data.get("lines", 0) if isinstance(record.data, dict) else 0
                    self.rows.append(f"| {label} | {host} | rolled back to its pre-change config, verified | {lines} |")
                    self.records.append(HostRecord(host=host, status="failed", duration=record.duration,
                                                   error=f"undone (on_failure: rollback): {reason}",
                                                   data={"outcome": "undone"}))
                else:
                    self._failed(label, host, record.duration, f"undo failed, {host} may keep the change: "
                                 f"{record.error}", "undo-failed")

    def _failed(self, label: str, host: str, duration: float, error: str, outcome: str) -> None:
        self.bad.append(f"| {label} | {host} | **{outcome.replace('-', ' ')}: needs a person**: {error} | - |")
        self.records.append(HostRecord(host=host, status="failed", duration=duration, error=error,
                                       data={"outcome": outcome}))

    def summary(self, title: str, reason: str, scope: str, undone: int) -> str:
        listed = (self.bad + self.rows + self.untouched)[:MAX_ROWS]
        left = len(self.bad) + len(self.rows) + len(self.untouched) - len(listed)
        more = [f"| | … {left} more device(s) | not listed here: every device's result is a record of its step "
                f"in the plan's outcome | |"] if left else []
        failed = sum(1 for r in self.records if r.data.get("outcome") != "undone")
        return redact_text("\n".join([
            f"## {title}", "", f"**Why:** {reason}. `on_failure: rollback` rolls back every device {scope}.", "",
            "| wave | device | result | lines sent |", "|---|---|---|---:|", *listed, *more, "",
            f"{undone} device(s) undone, {failed} could not be, {len(self.untouched)} never touched.",
        ]))


def undo_waves(step_name: str, inventory: str, runs: list[WaveRun], reason: str,
               params: Mapping[str, Any] | None = None) -> tuple[list[HostRecord], str]:
    """Roll back every device the step's waves changed, last wave first; the records and a markdown summary."""
    undoing = Undoing()
    for index in range(len(runs), 0, -1):
        undoing.wave(step_name, str(index), inventory, index, runs[index - 1], reason, params,
                     "a later wave of the plan step spent its failure budget")
    summary = undoing.summary(f"Step {step_name}: change undone", reason, "the step changed, last wave first",
                              sum(len(w.undone) for w in runs))
    return undoing.records, summary


def undo_steps(plan_name: str, inventory: str, steps: Sequence[tuple[str, list[WaveRun], Mapping[str, Any]]],
               reason: str) -> tuple[dict[str, list[HostRecord]], str]:
    """Plan-level undo: ``steps`` in the order they ran; undone last step first, each step's last wave first.

    Returns each step's records (the devices undone, refused or failed) and one summary.
    """
    undoing = Undoing()
    by_step: dict[str, list[HostRecord]] = {}
    for name, runs, params in reversed(steps):
        before = len(undoing.records)
        for index in range(len(runs), 0, -1):
            label = f"{name} {index}/{len(runs)}" if len(runs) > 1 else name
            undoing.wave(name, label, inventory, index, runs[index - 1], reason, params,
                         f"plan {plan_name} failed and its on_failure is rollback")
        by_step[name] = undoing.records[before:]
    undone = sum(len(w.undone) for _, runs, _ in steps for w in runs)
    summary = undoing.summary(f"Plan {plan_name}: change undone", reason,
                              "any deploy_config step of the plan changed: last step first, last wave first", undone)
    return by_step, summary


def publish_undo(step_name: str, summary: str, *, plan: bool = False) -> None:
    """``plan-step-<step>-undo`` (a step's undo) or, with ``plan``, ``plan-<name>-undo`` (the plan's)."""
    from prefect.artifacts import create_markdown_artifact

    key = re.sub(r"[^a-z0-9]+", "-", step_name.lower()).strip("-")
    create_markdown_artifact(key=f"plan-{key}-undo" if plan else f"plan-step-{key}-undo", markdown=summary,
                             description=f"{'plan' if plan else 'step'} {step_name}: what on_failure: rollback undid")
