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


def cmd_doctor(args: argparse.Namespace) -> int:
    report = run(
        Path(args.file),
        root=Path(args.root) if args.root else None,
        automations=Path(args.automations) if args.automations else None,
        offline=args.offline,
        fix=args.fix,
    )
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
    return 1 if errors else 0


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
    parser.set_defaults(func=cmd_doctor, uses_prefect=True)
    return parser
