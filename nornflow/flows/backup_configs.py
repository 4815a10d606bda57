"""Back up running configurations into a git repository, one commit per run."""

from __future__ import annotations

from typing import Any

from prefect import State, flow, runtime

from nornflow.backup import BackupStore
from nornflow.engine import final_state, run_task
from nornflow.reporting import publish_diffs, publish_run
from nornflow.tasks import get_running_config


@flow(name="backup_configs", log_prints=True)
def backup_configs(
    inventory: str,
    backup_dir: str = "backups",
    hosts: dict[str, Any] | None = None,
    retries: int = 1,
    retry_delay: float = 5.0,
    failure_budget: int | str | None = None,
    max_sessions: int = 100,
    session_limits: list[str] | None = None,
) -> State:
    """Save each selected host's running config to ``<backup_dir>/<host>.cfg`` and commit the run.

    Hosts that fail keep their previous backup; the others are written and committed anyway.
    """
    store = BackupStore(backup_dir)
    result = run_task(
        get_running_config, nornir=inventory, hosts=hosts, name="backup_configs",
        retries=retries, retry_delay=retry_delay, max_sessions=max_sessions,
        session_limits=session_limits or (),
    )
    changes = [store.save(r.host, r.data) for r in result.records if r.ok]
    for record in result.records:
        record.data = None  # the configs live in git, not in the flow's result
    run_name = f"{runtime.flow_run.name or 'local'} ({runtime.flow_run.id or 'no id'})"
    changed = [c.host for c in changes if c.status != "unchanged"]
    commit = store.commit(
        f"backup_configs run {run_name}: {len(changed)} changed, {len(result.failed_hosts)} failed", changes
    )
    for record in result.records:
        if record.ok:
            record.changed = record.host in changed
    publish_run(result, "backup-configs", extra=[
        f"Backups in `{store.directory}`; commit `{commit[:10] if commit else 'none (nothing changed)'}`.",
    ])
    publish_diffs(changes, "backup-configs", f"Configuration changes in {run_name}")
    return final_state(result, failure_budget)

