"""The stack's health: run the checks of :mod:`nornflow.monitor.probes`, report, raise the alarm.

Used by the ``stack_health`` flow (on an interval schedule) and by ``nornflow doctor --live``.
Each degraded check emits ``nornflow.health.degraded`` (resource ``nornflow.health.<part>``,
e.g. ``nornflow.health.work-pool.nornflow-lab``), which the ``nornflow-health-degraded``
automation in ``deployments/automations.yaml`` turns into a notification. When the Prefect
API itself does not answer, the checks that need it are skipped, and no event can reach it:
``nornflow doctor --live`` (exit code 1) is the way to see that.
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nornflow.monitor.probes import Check, api, backup_repo, concurrency_limits, devices, machine, secret_blocks
from nornflow.monitor.probes import work_pools as pool_checks
from nornflow.secrets.redaction import redact, redact_text

DEGRADED = "nornflow.health.degraded"
RESOURCE_PREFIX = "nornflow.health."
#: Words, not emoji: a machine without an emoji font (a headless browser, a server console) shows those as boxes.
_MARK = {"ok": "ok", "degraded": "**DEGRADED**", "skipped": "skipped"}


@dataclass
class HealthOptions:
    """What to check. ``work_pools`` None means every pool on the server."""

    inventory: str | None = None
    backup_dirs: list[str] = field(default_factory=list)
    work_pools: list[str] | None = None
    device_sample: int = 5
    devices: list[str] | None = None
    port_timeout: float = 3.0
    secret_blocks: bool = True
    min_free_percent: float = 10.0
    max_load_per_cpu: float = 2.0
    min_memory_percent: float = 10.0
    path: str = "."


def _guard(part: str, run: Any) -> list[Check]:
    """Run one probe; an exception is a degraded check that names it, never a crash."""
    try:
        result = run()
    except Exception as exc:
        return [Check(part, "degraded", redact_text(f"the check failed: {type(exc).__name__}: {exc}"),
                      "run nornflow doctor --live --debug for the traceback")]
    return result if isinstance(result, list) else [result]


def run_checks(options: HealthOptions, client: Any = None, current_run: Any = None) -> list[Check]:
    """Every check ``options`` asks for; ``client`` is a sync Prefect client (one is opened when None)."""
    if client is None:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as own:
            return run_checks(options, own, current_run)
    checks = _guard("api", lambda: api(client))
    if checks[0].status == "ok":
        checks += _guard("work-pools", lambda: pool_checks(client, options.work_pools))
        checks += _guard("concurrency", lambda: concurrency_limits(client, current_run))
        if options.secret_blocks:
            checks += _guard("secret-blocks", lambda: secret_blocks(client))
    else:
        checks.append(Check("prefect", "skipped", "work pools, limits and secret blocks need the API"))
    for directory in options.backup_dirs:
        checks += _guard(f"backup-repo.{Path(directory).name}",
                         functools.partial(backup_repo, directory, options.min_free_percent))
    if options.inventory:
        inventory = options.inventory
        checks += _guard("devices", lambda: devices(inventory, options.device_sample, options.devices,
                                                    options.port_timeout))
    checks += _guard("machine", lambda: machine(options.path, options.max_load_per_cpu,
                                                options.min_memory_percent, options.min_free_percent))
    return [Check(c.part, c.status, redact_text(c.detail), redact_text(c.fix)) for c in checks]


def emit_degraded(checks: Iterable[Check], source: str) -> int:
    """One ``nornflow.health.degraded`` event per degraded check; returns how many were queued."""
    from prefect.events import emit_event

    sent = 0
    machine_name = socket.gethostname()
    for check in checks:
        if not check.degraded:
            continue
        event = emit_event(
            event=DEGRADED,
            resource={"prefect.resource.id": f"{RESOURCE_PREFIX}{check.part}", "prefect.resource.name": check.part},
            payload=redact({"check": check.part, "detail": check.detail, "fix": check.fix, "source": source,
                            "machine": machine_name, "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                  time.gmtime())}),
        )
        sent += event is not None
    return sent


def summary(checks: list[Check]) -> str:
    degraded = [c.part for c in checks if c.degraded]
    ok = sum(c.status == "ok" for c in checks)
    if degraded:
        return f"{len(degraded)} of {len(checks)} checks degraded: {', '.join(degraded)}"
    return f"healthy: {ok} checks ok, {len(checks) - ok} skipped"


def rows(checks: list[Check]) -> list[dict[str, object]]:
    return [{"check": c.part, "status": c.status, "detail": c.detail, "fix": c.fix} for c in checks]


def markdown(checks: list[Check]) -> str:
    worst = [c for c in checks if c.degraded]
    lines = [f"# {'Stack DEGRADED' if worst else 'Stack healthy'}", "", summary(checks), "",
             "| status | check | detail | fix |", "|---|---|---|---|"]
    for c in sorted(checks, key=lambda c: (not c.degraded, c.part)):
        cells = [_MARK[c.status], f"`{c.part}`", c.detail, c.fix]
        lines.append("| " + " | ".join(str(x).replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    return "\n".join(lines)


def lines(checks: list[Check]) -> list[str]:
    """For a terminal: one line per check, degraded ones first."""
    out = []
    for c in sorted(checks, key=lambda c: (not c.degraded, c.part)):
        text = f"{c.status.upper():<9}{c.part}: {c.detail}"
        if c.degraded and c.fix:
            text += f"\n{'':<9}fix: {c.fix}"
        out.append(text)
    return out
