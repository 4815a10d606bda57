"""All-or-nothing waves: undo what a step's earlier waves changed when a later wave fails.

With ``on_failure: rollback`` (on the step, or the plan's default) a ``deploy_config`` step
whose wave spends its failure budget rolls back every device its waves changed, earlier
waves included: last wave first, and within a wave the reverse of its host order, each from
the pre-change backup that wave's run committed (its ledger names the commit), each restore
verified. One ``plan-step-<name>-undo`` artifact lists what was undone and what could not be.
Devices a wave already rolled back itself, or never touched, are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nornir.core.task import Result, Task

from nornflow.backup import BackupStore
from nornflow.config.ledger import FINAL, Ledger
from nornflow.config.tasks import rollback
from nornflow.deploy.locks import DEVICE_LOCKS
from nornflow.engine import run_task
from nornflow.records import HostRecord
from nornflow.redaction import redact_text

#: Ledger states of a device whose change is (or may be) on it: what an undo rolls back.
CHANGED = frozenset({"verified", "pushing", "pushed"})
#: Device rows in the undo artifact (failed rollbacks first); every device's record is in the plan outcome.
MAX_ROWS = 50


@dataclass
class WaveRun:
    """One wave of a step: its hosts and the flow run that changed them."""

    hosts: list[str]
    flow_run_id: str | None
    backup_dir: str = "backups"
    undone: list[str] = field(default_factory=list)


def undo_config(task: Task, backups: Mapping[str, str], ledgers: Mapping[str, str],
                timeout_ops: float | None = None) -> Result:
    """Restore one device to its pre-change backup and verify it; mark its ledger ``undone``."""
    name = task.host.name
    lines = rollback(task, backups[name], timeout_ops)
    Ledger(ledgers[name]).mark(name, "undone", "rolled back: a later wave of the plan step spent its failure budget",
                               rollback_lines=lines)
    return Result(host=task.host, changed=bool(lines), result={"outcome": "undone", "lines": lines})


def _changed(wave: WaveRun) -> tuple[dict[str, str], str]:
    """The wave's changed devices and their pre-change configs, and its ledger path."""
    if wave.flow_run_id is None:
        return {}, ""
    ledger = Ledger.find(wave.backup_dir, wave.flow_run_id)
    if ledger is None:
        return {}, ""
    states = ledger.states()
    commit = ledger.run.get("backup_commit")
    store = BackupStore(ledger.path.parent)
    hosts = [h for h in reversed(wave.hosts) if states.get(h) in CHANGED or
             (states.get(h) not in FINAL and h in states)]
    return {h: store.read_at(str(commit), h) for h in hosts if commit}, str(ledger.path)


def undo_waves(step_name: str, inventory: str, runs: list[WaveRun], reason: str,
               params: Mapping[str, Any] | None = None) -> tuple[list[HostRecord], str]:
    """Roll back every device the waves changed, last wave first; the records and a markdown summary."""
    records: list[HostRecord] = []
    rows: list[str] = []
    bad: list[str] = []
    for index in range(len(runs), 0, -1):
        wave = runs[index - 1]
        backups, ledger = _changed(wave)
        if not backups:
            continue
        order = list(backups)  # reversed host order of the wave
        for host in order:  # one device at a time keeps the reverse order exact
            done = run_task(undo_config, nornir=inventory, hosts={"names": [host]},
                            name=f"{step_name} undo wave {index}", max_sessions=1, session_limits=DEVICE_LOCKS,
                            task_kwargs={"backups": backups, "ledgers": {host: ledger},
                                         "timeout_ops": (params or {}).get("timeout_ops")})
            for record in done.records:
                if record.ok:
                    wave.undone.append(host)
                    rows.append(f"| {index} | {host} | rolled back to its pre-change config, verified | "
                                f"{record.data.get('lines', 0) if isinstance(record.data, dict) else 0} |")
                    records.append(HostRecord(host=host, status="failed", duration=record.duration,
                                              error=f"undone (on_failure: rollback): {reason}",
                                              data={"outcome": "undone"}))
                else:
                    bad.append(f"| {index} | {host} | **rollback failed: needs a person**: {record.error} | - |")
                    records.append(HostRecord(host=host, status="failed", duration=record.duration,
                                              error=f"undo failed, {host} may keep the change: {record.error}",
                                              data={"outcome": "undo-failed"}))
    listed = (bad + rows)[:MAX_ROWS]
    left = len(bad) + len(rows) - len(listed)
    more = [f"| | … {left} more device(s) | not listed here: every device's result is a record of the step "
            f"in the plan's outcome | |"] if left else []
    summary = "\n".join([
        f"## Step {step_name}: change undone", "",
        f"**Why:** {reason}. `on_failure: rollback` rolls back every device the step changed, "
        f"last wave first.", "",
        "| wave | device | result | lines sent |", "|---:|---|---|---:|", *listed, *more, "",
        f"{sum(len(w.undone) for w in runs)} device(s) undone, "
        f"{sum(1 for r in records if r.data.get('outcome') == 'undo-failed')} could not be.",
    ])
    return records, redact_text(summary)


def publish_undo(step_name: str, summary: str) -> None:
    from prefect.artifacts import create_markdown_artifact

    key = re.sub(r"[^a-z0-9]+", "-", step_name.lower()).strip("-")
    create_markdown_artifact(key=f"plan-step-{key}-undo", markdown=summary,
                             description=f"step {step_name}: what on_failure: rollback undid")
