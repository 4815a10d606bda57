"""``nornflow doctor``: check deployment files, automations and blocks against the server.

Static checks (entrypoints, parameters, schedules, concurrency limits, triggers) come from
:mod:`nornflow.deploy.deployfile`; this module adds what only the server knows: the work pools,
the blocks and variables the files and inventories reference, the notification blocks the
automations name, and the per-device locks change flows hold. Every finding says what is
wrong and how to fix it; the exit code is 1 when any check failed, 0 otherwise.

    nornflow doctor                                  # prefect.yaml against $PREFECT_API_URL
    nornflow doctor --file deployments/prod.yaml --automations deployments/automations.yaml
    nornflow doctor --offline                        # no server: static checks only
    nornflow doctor --fix                            # also create the missing device locks
    nornflow doctor --live                           # also the stack's health, as the stack_health flow

``--live`` adds the health checks of :mod:`nornflow.monitor.health`: the API answers, each
work pool of the file has a live worker, no concurrency limit is stuck full, every secret
backend block passes its health check, each backup repository passes ``git fsck`` and has
disk room, a sample of the inventory's devices answers SSH, and this machine's CPU, memory
and disk. Each degraded check also emits ``nornflow.health.degraded`` (``--no-events`` not).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nornflow.deploy.deployfile import Report, check_file

#: Deployments with this tag change devices; their inventories' hosts need device locks.
CHANGE_TAG = "change"


def check_automations(path: Path, report: Report) -> None:
    """Validate the automations spec offline; the blocks it names join the server checks."""
    from uuid import uuid4

    from nornflow.deploy.automations import (
        AutomationSpecError,
        block_refs,
        build_automation,
        declared_blocks,
        load_spec,
    )

    try:
        spec = load_spec(path)
    except AutomationSpecError as exc:
        report.add("error", str(path), str(exc), "fix the YAML")
        return
    declared = declared_blocks(spec)
    fake_ids = {ref: uuid4() for ref in [*block_refs(spec), *declared]}
    for entry in spec.get("automations", []):
        try:
            build_automation(entry, fake_ids)
        except AutomationSpecError as exc:
            report.add(
                "error",
                f"{path.name}: automation {entry.get('name')!r}",
                str(exc),
                "see https://docs.prefect.io/v3/how-to-guides/automations/creating-automations",
            )
    for slug, name in block_refs(spec):
        if (slug, name) not in declared:
            report.blocks.setdefault((slug, name), f"{path.name} (automation action)")


def _server_checks(report: Report, fix: bool) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        health = client.api_healthcheck()
        if health is not None:
            report.add(
                "error",
                f"server {client.api_url}",
                f"does not answer: {health}",
                "start it (prefect server start) or point PREFECT_API_URL at it; "
                "use --offline for the static checks only",
            )
            return
        for pool in sorted({d.work_pool for d in report.deployments if d.work_pool}):
            try:
                client.read_work_pool(pool)
            except ObjectNotFound:
                users = ", ".join(d.label for d in report.deployments if d.work_pool == pool)
                report.add(
                    "error",
                    f"work pool {pool!r}",
                    f"does not exist on the server (used by {users})",
                    f"prefect work-pool create {pool} --type process",
                )
        for (slug, name), where in sorted(report.blocks.items()):
            try:
                client.read_block_document_by_name(name, block_type_slug=slug)
            except ObjectNotFound:
                report.add(
                    "error",
                    f"block {slug}/{name}",
                    f"does not exist on the server (referenced by {where})",
                    "create it: python blocks/register.py --config blocks/environments.yaml --env ENV, "
                    f"or prefect block create {slug}",
                )
        for name, where in sorted(report.variables.items()):
            if client.read_variable_by_name(name) is None:
                report.add(
                    "error",
                    f"variable {name}",
                    f"does not exist on the server (referenced by {where})",
                    f"prefect variable set {name} VALUE",
                )
    _device_lock_checks(report, fix)


def _device_lock_checks(report: Report, fix: bool) -> None:
    from nornflow.deploy.locks import ensure_device_locks, inventory_hosts, missing_device_locks

    inventories = {
        d.inventory
        for d in report.deployments
        if CHANGE_TAG in d.tags and d.inventory is not None and d.inventory.exists()
    }
    for inventory in sorted(inventories):
        hosts = inventory_hosts(inventory)
        if fix:
            created = ensure_device_locks(hosts)
            if created:
                print(f"created {len(created)} device lock(s) for {inventory}")
            continue
        missing = missing_device_locks(hosts)
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            report.add(
                "error",
                f"device locks for {inventory}",
                f"missing global concurrency limits {shown}: change flows holding them would fail every host",
                "nornflow doctor --fix",
            )


def run(
    file: Path,
    *,
    root: Path | None = None,
    automations: Path | None = None,
    offline: bool = False,
    fix: bool = False,
) -> Report:
    """All checks of ``file`` (and ``automations``); the server ones unless ``offline``."""
    report = check_file(file, root)
    if automations is not None:
        check_automations(automations, report)
    if not offline:
        try:
            _server_checks(report, fix)
        except Exception as exc:  # the server went away mid-check: say so, keep the findings
            report.add(
                "error",
                "server",
                f"{type(exc).__name__}: {exc}",
                "check PREFECT_API_URL and that the server is running, or use --offline",
            )
    return report


def live_options(args: argparse.Namespace, report: Report) -> Any:
    """The health checks' options: what the command line says, else what the deployment file uses."""
    from nornflow.monitor.health import HealthOptions

    inventory = args.inventory or next(
        (str(d.inventory) for d in report.deployments if d.inventory is not None and d.inventory.exists()), None)
    backups = args.backup_dir or sorted({str(d.backup_dir) for d in report.deployments
                                         if d.backup_dir is not None and d.backup_dir.exists()})
    pools = args.pool or sorted({d.work_pool for d in report.deployments if d.work_pool}) or None
    return HealthOptions(inventory=inventory, backup_dirs=list(backups), work_pools=pools,
                         device_sample=args.sample)


def run_live(args: argparse.Namespace, report: Report) -> int:
    """Print the health checks; emit an event per degraded one; the number of degraded checks."""
    from nornflow.monitor import health

    checks = health.run_checks(live_options(args, report))
    print("\nlive health checks:")
    for line in health.lines(checks):
        print(f"  {line}")
    degraded = sum(c.degraded for c in checks)
    if degraded and not args.no_events:
        from prefect.events.worker import EventsWorker

        sent = health.emit_degraded(checks, source="nornflow doctor --live")
        EventsWorker.drain_all(timeout=10)
        print(f"emitted {sent} nornflow.health.degraded event(s)")
    print(f"live: {health.summary(checks)}")
    return degraded


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.live and args.offline:
        print("doctor: --live needs the server; drop --offline")
        return 2
    report = run(
        Path(args.file),
        root=Path(args.root) if args.root else None,
        automations=Path(args.automations) if args.automations else None,
        offline=args.offline,
        fix=args.fix,
    )
    for where, meaning in report.schedules:
        print(f"schedule {where}: {meaning}")
    for finding in report.findings:
        print(finding)
    names = ", ".join(d.label.split(": ", 1)[-1] for d in report.deployments)
    errors, warnings = len(report.errors), len(report.findings) - len(report.errors)
    where = "offline" if args.offline else "against the server"
    verdict = "FAILED" if errors else "ok"
    print(
        f"doctor {verdict}: {len(report.deployments)} deployment(s) checked {where} ({names}); "
        f"{errors} error(s), {warnings} warning(s)"
    )
    degraded = run_live(args, report) if args.live else 0
    return 1 if errors or degraded else 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``doctor`` to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="check deployment files, automations, blocks and work pools",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--file", "-f", default="prefect.yaml", help="deployment file (default: prefect.yaml)"
    )
    parser.add_argument("--root", help="directory entrypoints are relative to (default: current directory)")
    parser.add_argument(
        "--automations", "-a", help="automations spec to check too (deployments/automations.yaml)"
    )
    parser.add_argument("--offline", action="store_true", help="skip the checks that need the Prefect server")
    parser.add_argument("--fix", action="store_true", help="create the missing per-device locks")
    live = parser.add_argument_group("live health checks (--live)")
    live.add_argument("--live", action="store_true", help="also check the running stack's health")
    live.add_argument("--inventory", help="inventory to sample devices from (default: the file's first one)")
    live.add_argument("--backup-dir", action="append", help="backup repository to check (repeatable; "
                      "default: the file's backup_dir parameters)")
    live.add_argument("--pool", action="append", help="work pool that needs a live worker (repeatable; "
                      "default: the file's pools)")
    live.add_argument("--sample", type=int, default=5, help="devices to probe (default 5)")
    live.add_argument("--no-events", action="store_true", help="do not emit nornflow.health.degraded events")
    parser.set_defaults(func=cmd_doctor, uses_prefect=True)
    return parser
