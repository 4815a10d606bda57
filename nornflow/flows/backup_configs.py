"""Back up running configurations into a git repository, one commit per run (or per shard)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect import State, flow, runtime

from nornflow.change.record import backup_record, build_record, publish_record
from nornflow.config.backups import BackupStore
from nornflow.engine.run import final_state, run_task
from nornflow.engine.sharded_run import run_sharded
from nornflow.engine.shards import ShardTicket, save_shard_result
from nornflow.monitor.artifacts import publish_diffs, publish_run, publish_table
from nornflow.tasks import get_running_config


@contextlib.contextmanager
def _repository_lock(directory: str) -> Iterator[None]:
    """Hold an exclusive lock on the backup directory: shards of one run share it and its git index."""
    path = Path(directory).expanduser()
    with contextlib.suppress(OSError):  # BackupStore reports a directory it cannot create
        path.mkdir(parents=True, exist_ok=True)
    if not path.is_dir():
        yield
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
    shard_by: str | None = None,
    shards: int | None = None,
    shard_deployment: str | None = None,
    shard_queue: str | None = None,
    result_storage: str | None = None,
    shard: ShardTicket | None = None,
) -> State:
    """Save each selected host's running config to ``<backup_dir>/<host>.cfg`` and commit the run.

    Hosts that fail keep their previous backup; the others are written and committed anyway.

    With ``shard_by`` (``"site"``, ``"role"``, ``"platform"``, ``"group"`` or a host data key)
    and/or ``shards`` (a count), the run splits into shards: one flow run of
    ``shard_deployment`` per shard (default: the deployment this run comes from), on work
    queue ``shard_queue`` (a template: ``"{value}"`` is the shard's site), each writing its
    result to ``result_storage`` (a storage block slug; default: Prefect's default result
    storage). ``backup_dir`` must be the same directory for every worker (a shared mount).
    ``shard`` is set by the parent on its shard runs.
    """
    if shard is None and (shard_by or shards):
        sharded = run_sharded(
            "backup_configs", inventory=inventory, hosts=hosts, shard_by=shard_by, shards=shards,
            deployment=shard_deployment, work_queue=shard_queue, result_storage=result_storage,
            parameters={"inventory": inventory, "backup_dir": backup_dir, "retries": retries,
                        "retry_delay": retry_delay, "failure_budget": failure_budget,
                        "max_sessions": max_sessions, "session_limits": session_limits,
                        "result_storage": result_storage},
        )
        publish_run(sharded.result, "backup-configs", extra=[f"Backups in `{backup_dir}`.", *sharded.describe()])
        publish_table("backup-configs", "shards", sharded.rows(), description="The shard flow runs of this backup")
        return sharded.final_state(failure_budget)

    with _repository_lock(backup_dir):
        store = BackupStore(backup_dir)
    result = run_task(
        get_running_config, nornir=inventory, hosts=hosts, name="backup_configs",
        retries=retries, retry_delay=retry_delay, max_sessions=max_sessions,
        session_limits=session_limits or (),
    )
    run_name = f"{runtime.flow_run.name or 'local'} ({runtime.flow_run.id or 'no id'})"
    with _repository_lock(backup_dir):
        changes = [store.save(r.host, r.data) for r in result.records if r.ok]
        changed = [c.host for c in changes if c.status != "unchanged"]
        part = f" shard {shard.key}" if shard else ""
        if changed:  # the run record goes into the configs' commit; a run that changed nothing commits nothing
            run_record, written = backup_record("backup_configs", inventory, store.directory)
        else:
            run_record, written = build_record("backup_configs", inventory=inventory), None
        commit = store.commit(
            f"backup_configs run {run_name}{part}: {len(changed)} changed, {len(result.failed_hosts)} failed",
            [*changes, written] if written else changes,
        )
    for record in result.records:
        record.data = None  # the configs live in git, not in the flow's result
        if record.ok:
            record.changed = record.host in changed
    artifacts = f"backup-configs {shard.key}" if shard else "backup-configs"  # a shard's own keys
    publish_run(result, artifacts, extra=[
        f"Backups in `{store.directory}`; commit `{commit[:10] if commit else 'none (nothing changed)'}`.",
    ])
    publish_diffs(changes, artifacts, f"Configuration changes in {run_name}")
    publish_record(run_record, artifacts)
    if shard is not None:
        save_shard_result(result, shard)
    return final_state(result, failure_budget)
