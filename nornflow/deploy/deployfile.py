"""Static checks of a ``prefect.yaml``-style deployment file: no server needed.

Each problem becomes a :class:`Finding` that names the file, the deployment and the field,
says what is wrong and how to fix it. :mod:`nornflow.deploy.doctor` adds the checks that need the
server (work pools, blocks, variables, device locks) on top of what this module collects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from nornflow.deploy.rules import (
    DeploymentInfo,
    Finding,
    Report,
    check_concurrency,
    check_schedule,
    check_triggers,
    load_flow,
)
from nornflow.secrets.reference import PREFIX as SECRET_PREFIX
from nornflow.settings import GOVERNED, RUNNER_TAG

__all__ = ["DeploymentInfo", "Finding", "Report", "check_deployment", "check_file"]

_BLOCK_TEMPLATE = re.compile(r"\{\{\s*prefect\.blocks\.([a-z0-9-]+)\.([A-Za-z0-9_-]+)")
_VARIABLE_TEMPLATE = re.compile(r"\{\{\s*prefect\.variables\.([A-Za-z0-9_]+)")
_ENV_TEMPLATE = re.compile(r"\{\{\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SECRET_REF = re.compile(r"secret:([a-z0-9][a-z0-9-]*)/([a-z0-9][a-z0-9-]*)")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _collect_refs(entry: Any, where: str, report: Report, *, pull: bool = False) -> None:
    import os

    for text in _strings(entry):
        for slug, name in _BLOCK_TEMPLATE.findall(text):
            report.blocks.setdefault((slug, name), where)
        for name in _VARIABLE_TEMPLATE.findall(text):
            report.variables.setdefault(name, where)
        for var in _ENV_TEMPLATE.findall(text):
            if pull:
                report.add(
                    "warning",
                    where,
                    f"the pull step reads ${var} on the worker at run time",
                    f"start the worker with {var} set (e.g. `export {var}=$PWD` in the checkout)",
                )
            elif var not in os.environ:
                report.add(
                    "error",
                    where,
                    f"environment variable {var} is not set; prefect deploy would "
                    "store the placeholder literally",
                    f"export {var} before `prefect deploy`",
                )


def _inventory_refs(inventory: Path, where: str, report: Report) -> None:
    for name in ("hosts.yaml", "groups.yaml", "defaults.yaml"):
        file = inventory / name
        if file.is_file() and SECRET_PREFIX in (text := file.read_text(encoding="utf-8")):
            for slug, block in _SECRET_REF.findall(text):
                report.blocks.setdefault((slug, block), f"{where} (inventory {file})")


def _check_runner_tags(tags: list[Any], params: set[str], where: str, report: Report) -> None:
    for tag in tags:
        if not isinstance(tag, str) or not tag.startswith(RUNNER_TAG):
            continue
        name = tag[len(RUNNER_TAG):].strip()
        if name in GOVERNED:
            report.add("error", f"{where}.tags", f"{tag!r}: {name} decides how a change is approved or windowed "
                       "and is never runner-settable (the gateway refuses this deployment)",
                       "remove the tag; approvers and developers set it when they start a run")
        elif name not in params:
            report.add("error", f"{where}.tags", f"{tag!r}: {name!r} is not a parameter of this flow",
                       f"name one of: {', '.join(sorted(params))}")


def _check_schedules(entry: dict[str, Any], where: str, report: Report) -> None:
    """Each schedule, and the on-time start a schedule that fires on a second needs (nornflow.triggers.ontime)."""
    from nornflow.triggers.schedules import ONTIME_COMMAND, check_quartz, to_seconds

    quartz = entry.get("quartz") or {}
    if not isinstance(quartz, dict) or not all(isinstance(v, str) for v in quartz.values()):
        report.add("error", f"{where}.quartz", f"quartz {quartz!r} must map schedule slugs to Quartz expressions",
                   'write e.g. `quartz: {every-15s: "*/15 * * * * *"}` and `slug: every-15s` on that schedule')
        quartz = {}
    precise, slugs = [], set()
    for i, schedule in enumerate(entry.get("schedules") or []):
        slug = schedule.get("slug") if isinstance(schedule, dict) else None
        slugs.add(slug)
        runs = check_schedule(schedule, f"{where}.schedules[{i}]", report, quartz=quartz.get(slug) if slug else None,
                              slug=slug or f"{entry.get('name')}-{i}")
        if runs is not None and to_seconds(runs):
            precise.append(f"schedules[{i}]")
    for slug, text in quartz.items():
        if slug not in slugs:
            verdict = check_quartz(text, None, str(slug))
            report.add("error", f"{where}.quartz.{slug}", verdict.problem, verdict.fix)
    pool = entry.get("work_pool")
    variables = (pool.get("job_variables") if isinstance(pool, dict) else None) or {}
    command = str(variables.get("command") or "") if isinstance(variables, dict) else ""
    if precise and "nornflow.triggers.ontime" not in command:
        report.add(
            "warning",
            f"{where}.work_pool.job_variables",
            f"{', '.join(precise)} fire on a second, but a worker starts a run when it polls (up to "
            "PREFECT_WORKER_PREFETCH_SECONDS early) and Prefect's server lets it run up to half a second early",
            f"set `job_variables: {{command: {ONTIME_COMMAND}}}` under work_pool, and start the worker with "
            "PREFECT_WORKER_PREFETCH_SECONDS >= PREFECT_WORKER_QUERY_SECONDS + 20 (docs/triggers.md)",
        )


def check_deployment(entry: Any, index: int, file: Path, root: Path, report: Report) -> None:
    name = entry.get("name") if isinstance(entry, dict) else None
    where = f"{file.name}: deployments[{index}]" + (f" ({name})" if name else "")
    if not isinstance(entry, dict) or not name:
        report.add("error", where, "a deployment needs a mapping with at least `name:` and `entrypoint:`")
        return
    info = DeploymentInfo(label=where, tags=list(entry.get("tags") or []))
    report.deployments.append(info)
    flow = load_flow(str(entry.get("entrypoint", "")), root, where, report)
    params: set[str] | None = None
    if flow is not None:
        info.flow_name = flow.name
        info.label = f"{file.name}: {flow.name}/{name}"
        where = info.label
        schema = flow.parameters
        params = set(schema.properties)
        given = entry.get("parameters") or {}
        unknown = sorted(set(given) - params)
        if unknown:
            report.add(
                "error",
                f"{where}.parameters",
                f"{unknown} are not parameters of flow {flow.name}",
                f"use only: {', '.join(sorted(params))}",
            )
        _check_runner_tags(info.tags, params, where, report)
        missing = sorted(set(schema.required or []) - set(given))
        unscheduled = [
            s
            for s in entry.get("schedules") or []
            if isinstance(s, dict) and not set(missing) <= set(s.get("parameters") or {})
        ]
        if missing:  # a schedule cannot pass them, so its every run would fail at once
            report.add(
                "error" if unscheduled else "warning",
                f"{where}.parameters",
                f"required parameters {missing} have no value"
                + (": every scheduled run would fail" if unscheduled else ": every run must pass them"),
                "add them under `parameters:`",
            )
    pool = (entry.get("work_pool") or {}).get("name") if isinstance(entry.get("work_pool"), dict) else None
    if not pool:
        report.add(
            "error",
            f"{where}.work_pool",
            "no work_pool.name: no worker would pick up the runs",
            "set `work_pool: {name: nornflow-lab}` (prefect work-pool create nornflow-lab --type process)",
        )
    info.work_pool = pool
    _check_schedules(entry, where, report)
    if entry.get("concurrency_limit") is not None:
        check_concurrency(entry["concurrency_limit"], f"{where}.concurrency_limit", report)
    check_triggers(entry.get("triggers"), where, params, report)
    _collect_refs({k: v for k, v in entry.items() if k != "pull"}, where, report)
    _collect_refs(entry.get("pull"), f"{where}.pull", report, pull=True)
    backup_dir = (entry.get("parameters") or {}).get("backup_dir")
    if isinstance(backup_dir, str) and "{{" not in backup_dir:
        info.backup_dir = Path(backup_dir) if Path(backup_dir).is_absolute() else root / backup_dir
    inventory = (entry.get("parameters") or {}).get("inventory")
    if isinstance(inventory, str) and "{{" not in inventory:
        path = Path(inventory) if Path(inventory).is_absolute() else root / inventory
        info.inventory = path
        if path.exists():
            _inventory_refs(path, where, report)
        else:
            report.add(
                "warning",
                f"{where}.parameters.inventory",
                f"inventory {inventory} does not exist here",
                "for the lab run `nornflow lab up`; elsewhere it must exist on the worker",
            )


def check_file(file: str | Path, root: str | Path | None = None) -> Report:
    """Every static check of one deployment file; ``root`` is where entrypoints are relative to."""
    file = Path(file)
    root = Path(root) if root is not None else Path.cwd()
    report = Report()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        report.add("error", str(file), f"cannot read the file: {exc}", "pass the right path with --file")
        return report
    except yaml.YAMLError as exc:
        report.add(
            "error", str(file), f"is not valid YAML: {exc}", "fix the YAML syntax at the position shown"
        )
        return report
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), list) or not data["deployments"]:
        report.add("error", str(file), "has no `deployments:` list", "add at least one deployment")
        return report
    _collect_refs(data.get("pull"), f"{file.name}: pull", report, pull=True)
    seen: dict[tuple[str | None, str], int] = {}
    for index, entry in enumerate(data["deployments"]):
        check_deployment(entry, index, file, root, report)
        if isinstance(entry, dict) and report.deployments and report.deployments[-1].flow_name:
            key = (report.deployments[-1].flow_name, str(entry.get("name")))
            if key in seen:
                report.add(
                    "error",
                    report.deployments[-1].label,
                    f"duplicates deployments[{seen[key]}]: the later one would overwrite it",
                    "give one of them another name",
                )
            seen[key] = index
    return report
