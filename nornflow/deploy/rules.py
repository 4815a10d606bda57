"""The rules for one field of a deployment entry: schedules, concurrency, triggers, entrypoint.

Each check adds :class:`Finding` objects to a :class:`Report` instead of raising, so one
run of ``nornflow doctor`` lists every problem of a file at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Level = Literal["error", "warning"]

_STRATEGIES = ("ENQUEUE", "CANCEL_NEW")
_SCHEDULE_KEYS = {
    "cron",
    "interval",
    "rrule",
    "timezone",
    "anchor_date",
    "day_or",
    "active",
    "parameters",
    "slug",
    "replaces",
    "max_scheduled_runs",
}


@dataclass(frozen=True)
class Finding:
    level: Level
    where: str
    problem: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.level.upper()} {self.where}: {self.problem}"
        return text + (f"\n    fix: {self.fix}" if self.fix else "")


@dataclass
class DeploymentInfo:
    """What the server checks need from one deployment entry."""

    label: str
    flow_name: str | None = None
    work_pool: str | None = None
    inventory: Path | None = None
    tags: list[str] = field(default_factory=list)
    backup_dir: Path | None = None


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    deployments: list[DeploymentInfo] = field(default_factory=list)
    blocks: dict[tuple[str, str], str] = field(default_factory=dict)  # (slug, name) -> where it is used
    variables: dict[str, str] = field(default_factory=dict)
    schedules: list[tuple[str, str]] = field(default_factory=list)  # (where, what it means and its next runs)

    def add(self, level: Level, where: str, problem: str, fix: str = "") -> None:
        self.findings.append(Finding(level, where, problem, fix))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]


def check_schedule(spec: Any, where: str, report: Report, *, quartz: str | None = None,
                   slug: str = "quartz-1") -> dict[str, Any] | None:
    """One entry of ``schedules:``: exactly one of cron, interval, rrule, and each must parse.

    A 6/7-field ``cron:`` is read by :mod:`nornflow.triggers.schedules` (which field order);
    ``quartz`` is the Quartz text the deployment's ``quartz:`` mapping keeps for this schedule's
    slug, checked against what the schedule runs. Each accepted schedule is explained in
    ``report.schedules`` with Prefect's own next fire times; returns what Prefect runs, or None.
    """
    from pydantic import ValidationError

    from nornflow.triggers.schedules import Verdict, check_quartz, explain, prefect_schedule, read_cron

    if not isinstance(spec, dict):
        report.add(
            "error",
            where,
            f"a schedule must be a mapping, got {spec!r}",
            'write e.g. `- cron: "0 2 * * *"` with `timezone: Europe/Berlin`',
        )
        return None
    kinds = [k for k in ("cron", "interval", "rrule") if spec.get(k) not in (None, "")]
    if len(kinds) != 1:
        report.add(
            "error",
            where,
            f"a schedule needs exactly one of cron, interval, rrule (got {kinds or 'none'})",
            "split it into one schedule per kind",
        )
        return None
    unknown = sorted(set(spec) - _SCHEDULE_KEYS)
    if unknown:
        report.add("error", where, f"unknown schedule keys {unknown}: prefect deploy refuses the schedule and "
                   "skips the whole file", "remove them (a Quartz text goes in the deployment's `quartz:` mapping, "
                   "by the schedule's slug)")
        return None
    kind = "quartz" if quartz else kinds[0]
    timezone = spec.get("timezone")
    try:
        if quartz:
            verdict = check_quartz(quartz, spec, slug)
        elif kind == "cron":
            verdict = read_cron(str(spec["cron"]).strip(), timezone, slug)
            if verdict.ok and spec.get("day_or") is not None:
                verdict.spec["day_or"] = spec["day_or"]
        elif kind == "interval":
            interval = spec["interval"]
            if isinstance(interval, (int, float)) and interval <= 0:
                raise ValueError(f"interval {interval} must be a positive number of seconds")
            keys = ("interval", "timezone", "anchor_date")
            verdict = Verdict(meaning=f"every {interval} s", spec={k: spec[k] for k in keys if spec.get(k)})
        else:
            verdict = Verdict(meaning="rrule", spec={k: spec[k] for k in ("rrule", "timezone") if spec.get(k)})
        if verdict.ok:
            prefect_schedule(verdict.spec)
            report.schedules.append((where, explain(verdict.spec, verdict.meaning)))
    except (ValidationError, ValueError, TypeError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        kind = kinds[0]
        report.add(
            "error",
            f"{where}.{kind}",
            f"{kind} schedule {spec[kind]!r} does not parse: {reason}",
            "fix the expression (test it with `nornflow doctor`); time zones are IANA names "
            "such as Europe/Berlin",
        )
        return None
    if not verdict.ok:
        report.add("error", f"{where}.{kinds[0]}", verdict.problem, verdict.fix)
        return None
    return verdict.spec


def check_concurrency(spec: Any, where: str, report: Report) -> None:
    if isinstance(spec, int) and not isinstance(spec, bool) and spec >= 1:
        return
    if isinstance(spec, dict):
        limit, strategy = spec.get("limit"), spec.get("collision_strategy", "ENQUEUE")
        if isinstance(limit, int) and limit >= 1 and strategy in _STRATEGIES:
            return
        report.add(
            "error",
            where,
            f"concurrency_limit {spec!r}: limit must be an integer >= 1 and "
            f"collision_strategy one of {', '.join(_STRATEGIES)}",
            "write `concurrency_limit: {limit: 1, collision_strategy: ENQUEUE}`",
        )
        return
    report.add(
        "error",
        where,
        f"concurrency_limit {spec!r} must be an integer >= 1 or a mapping",
        "write `concurrency_limit: {limit: 1, collision_strategy: ENQUEUE}`",
    )


def check_triggers(triggers: Any, where: str, params: set[str] | None, report: Report) -> None:
    from prefect.events import DeploymentTriggerTypes
    from pydantic import TypeAdapter, ValidationError

    adapter: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
    for i, spec in enumerate(triggers or []):
        here = f"{where}.triggers[{i}]"
        try:
            adapter.validate_python(spec)
        except ValidationError as exc:
            first = exc.errors()[0]
            report.add(
                "error",
                here,
                f"trigger is invalid at {'.'.join(map(str, first['loc']))}: {first['msg']}",
                "see https://docs.prefect.io/v3/how-to-guides/automations/creating-deployment-triggers",
            )
            continue
        unknown = sorted(set((spec or {}).get("parameters") or {}) - params) if params is not None else []
        if unknown:
            report.add(
                "error",
                here,
                f"trigger parameters {unknown} are not parameters of the flow",
                f"use only: {', '.join(sorted(params or ()))}",
            )


def load_flow(entrypoint: str, root: Path, where: str, report: Report) -> Any | None:
    """Import the entrypoint's flow; a missing file or a non-flow is a finding, not an exception."""
    path_text, sep, func = entrypoint.rpartition(":")
    if not sep or not path_text.endswith(".py") or not func:
        report.add(
            "error",
            f"{where}.entrypoint",
            f"entrypoint {entrypoint!r} is not `path/to/file.py:flow_function`",
            "write e.g. `entrypoint: flows/backup_configs.py:backup_configs`",
        )
        return None
    file = root / path_text
    if not file.is_file():
        report.add(
            "error",
            f"{where}.entrypoint",
            f"entrypoint file {path_text} does not exist (under {root})",
            f"fix the path, or add {path_text} exporting a @flow named {func}",
        )
        return None
    from prefect.flows import Flow, load_flow_from_entrypoint

    try:
        flow: Any = load_flow_from_entrypoint(str(file) + ":" + func)
    except Exception as exc:  # an import error in the user's module: report it, go on
        report.add(
            "error",
            f"{where}.entrypoint",
            f"cannot load {entrypoint!r}: {type(exc).__name__}: {exc}",
            f"check that {path_text} imports and defines {func}",
        )
        return None
    if not isinstance(flow, Flow):
        report.add(
            "error",
            f"{where}.entrypoint",
            f"{entrypoint!r} is a {type(flow).__name__}, not a Prefect flow",
            f"decorate {func} with @flow or point at a flow",
        )
        return None
    return flow
