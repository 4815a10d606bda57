"""Is the stack healthy? The Prefect API, workers, concurrency limits, secret servers, backups, devices.

Runs the checks of :mod:`nornflow.monitor.health` (the same as ``nornflow doctor --live``),
publishes them as the ``stack-health-summary`` markdown and ``stack-health-checks`` table artifacts,
and emits ``nornflow.health.degraded`` for each degraded check, which the
``nornflow-health-degraded`` automation notifies on. A degraded stack is the finding, not
a failure of this flow: the run ends Completed and its message names what is degraded.
Deployed on an interval in ``prefect.yaml``.
"""

from __future__ import annotations

from prefect import State, flow, get_run_logger, runtime
from prefect.states import Completed

from nornflow.monitor.artifacts import publish_markdown, publish_table
from nornflow.monitor.health import HealthOptions, emit_degraded, markdown, rows, run_checks, summary


@flow(name="stack_health", log_prints=True)
def stack_health(
    inventory: str | None = None,
    backup_dirs: list[str] | None = None,
    work_pools: list[str] | None = None,
    device_sample: int = 5,
    devices: list[str] | None = None,
    secret_blocks: bool = True,
    min_free_percent: float = 10.0,
) -> State:
    """Check every part; ``work_pools`` None checks every pool, ``devices`` names hosts instead of a sample."""
    options = HealthOptions(inventory=inventory, backup_dirs=list(backup_dirs or []), work_pools=work_pools,
                            device_sample=device_sample, devices=devices, secret_blocks=secret_blocks,
                            min_free_percent=min_free_percent)
    checks = run_checks(options, current_run=runtime.flow_run.id)
    emitted = emit_degraded(checks, source="stack_health")
    note = summary(checks)
    publish_markdown("stack-health", "summary", markdown(checks), note)
    publish_table("stack-health", "checks", rows(checks), note)
    logger = get_run_logger()
    for check in checks:
        (logger.warning if check.degraded else logger.info)("%s %s: %s", check.status, check.part, check.detail)
    if emitted:
        logger.warning("emitted %d nornflow.health.degraded event(s)", emitted)
    return Completed(message=note, data=checks)
