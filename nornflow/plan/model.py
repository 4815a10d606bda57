"""A plan: named steps with host selections, options and conditional dependencies.

The same model is loaded from YAML (``Plan.from_yaml``) or built in Python
(``Plan(steps=[Step(...)])``). It checks only what one step can check on its own
(field types, budgets, wave sizes); whole-plan checks (unknown steps, cycles, unknown
flows) live in :mod:`nornflow.plan.planner`, so a plan can be built step by step.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nornflow.engine.records import parse_budget
from nornflow.exceptions import PlanError
from nornflow.utilities.yamlfile import load_yaml

Condition = Literal["success", "failure", "always"]
Mode = Literal["parallel", "sequential", "waves"]
OnFailure = Literal["keep", "rollback"]

_SELECTION_FIELDS = ("names", "groups", "sites", "roles", "platforms")


def _as_list(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class HostSelection(BaseModel):
    """Which hosts a step touches: OR within a field, AND across fields; empty means all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: list[str] = Field(default_factory=list, description="host names")
    groups: list[str] = Field(default_factory=list, description="Nornir group names")
    sites: list[str] = Field(default_factory=list, description="values of data.site")
    roles: list[str] = Field(default_factory=list, description="values of data.role")
    platforms: list[str] = Field(default_factory=list, description="Nornir platform names")

    _split = field_validator(*_SELECTION_FIELDS, mode="before")(_as_list)

    def as_filter(self) -> dict[str, list[str]]:
        """The selection as the ``hosts=`` mapping the engine and the flows accept."""
        return {k: list(v) for k, v in self.model_dump().items() if v}

    def describe(self, limit: int = 10) -> str:
        """``roles=leaf & sites=fra``; a long list (a rerun's host names) shows ``limit`` values and a count."""
        def values(v: list[str]) -> str:
            return ",".join(v) if len(v) <= limit else ",".join(v[:limit]) + f",… ({len(v)} in all)"

        return " & ".join(f"{k}={values(v)}" for k, v in self.as_filter().items()) or "all hosts"


class Dependency(BaseModel):
    """An edge: run after ``step``, if it ended in a way that meets ``condition``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: str
    condition: Condition = Field(
        default="success",
        description="success: it completed within budget; failure: it failed; always: whatever happened",
    )


class Step(BaseModel):
    """One unit of work: a registered flow or a Nornir task over a host selection."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="unique in the plan; other steps depend on it by name")
    flow: str | None = Field(default=None, description="a name in the flow registry (e.g. backup_configs)")
    task: str | None = Field(default=None, description="a Nornir task as 'package.module:function'")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the flow/task")
    hosts: HostSelection | None = Field(default=None, description="host selection; None: all hosts")
    depends_on: list[Dependency] = Field(default_factory=list)
    trigger: Literal["all", "any"] = Field(
        default="all", description="run when all dependencies' conditions are met, or when any is"
    )
    retries: int = Field(default=0, ge=0, description="extra attempts per failed host (or per flow run)")
    retry_delay: float = Field(default=0.0, ge=0)
    timeout: float | None = Field(default=None, gt=0, description="seconds the whole step may take")
    failure_budget: int | str | None = Field(
        default=None, description="failed hosts the step may have and still succeed: a count or 'N%'; None: 0"
    )
    mode: Mode = "parallel"
    canary: int = Field(default=1, ge=1, description="hosts in the first wave (mode: waves)")
    wave_size: int = Field(default=10, ge=1, description="hosts per later wave (mode: waves)")
    resources: list[str] = Field(
        default_factory=list,
        description="concurrency limits each device session holds one slot of: names ('jump1') or "
        "per-host templates ('site:{site}', '{data[jump]}'); a flow step's flow must take session_limits",
    )
    change: bool | None = Field(
        default=None, description="the step writes to devices: checked against the change calendar before "
        "it starts and before each wave; None: true for deploy_config steps",
    )
    on_failure: OnFailure | None = Field(
        default=None, description="when a wave spends the failure budget: keep what earlier waves changed, or "
        "rollback every device the step changed (reverse order, from its pre-change backup); None: the plan's",
    )

    @field_validator("depends_on", mode="before")
    @classmethod
    def _coerce_dependencies(cls, value: Any) -> Any:
        """Accept ``[a, b]``, ``{a: failure}`` and ``[{step: a, condition: always}]``."""
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if isinstance(value, dict):
            return [{"step": k, "condition": v or "success"} for k, v in value.items()]
        return [{"step": v} if isinstance(v, str) else v for v in value]

    @field_validator("resources", mode="before")
    @classmethod
    def _coerce_resources(cls, value: Any) -> Any:
        return _as_list(value) if value is not None else []

    @field_validator("failure_budget")
    @classmethod
    def _check_budget(cls, value: int | str | None) -> int | str | None:
        parse_budget(value, 100)  # raises ValueError with the accepted forms
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if (self.flow is None) == (self.task is None):
            raise ValueError(f"step {self.name!r}: give exactly one of flow: (a registered name) or task:")
        if self.task is not None and ":" not in self.task:
            raise ValueError(
                f"step {self.name!r}: task {self.task!r} must be 'package.module:function', "
                f"e.g. 'nornir_scrapli.tasks:send_command'"
            )
        if self.on_failure == "rollback" and self.flow != "deploy_config":
            raise ValueError(f"step {self.name!r}: on_failure: rollback needs the pre-change backups that "
                             f"deploy_config takes; use flow: deploy_config, or on_failure: keep")
        names = [d.step for d in self.depends_on]
        if len(names) != len(set(names)):
            raise ValueError(f"step {self.name!r} depends on a step twice: {names}")
        return self

    @property
    def kind(self) -> Literal["flow", "task"]:
        return "flow" if self.flow is not None else "task"

    @property
    def target(self) -> str:
        """The flow name or the task import path."""
        return self.flow if self.flow is not None else str(self.task)

    def allowed_failures(self, total: int) -> int:
        return parse_budget(self.failure_budget, total)


class Plan(BaseModel):
    """A named set of steps, the inventory they act on, resource sizes and extra flows."""

    model_config = ConfigDict(extra="forbid")

    name: str = "plan"
    description: str = ""
    inventory: str | None = Field(default=None, description="inventory path, relative to the plan file")
    resources: dict[str, int] = Field(
        default_factory=dict,
        description="concurrency limit name or template ('site:{site}') -> slots (created when missing)",
    )
    flows: dict[str, str] = Field(
        default_factory=dict, description="extra registry entries: name -> 'file.py:flow' or 'module:flow'"
    )
    steps: list[Step] = Field(default_factory=list)
    on_failure: OnFailure = Field(
        default="keep", description="default of the steps' on_failure (rollback applies to deploy_config steps)",
    )
    change_calendar: str | None = Field(
        default=None, description="change calendar YAML (relative to the plan file); default $NORNFLOW_CHANGE_CALENDAR",
    )
    override_reason: str | None = Field(
        default=None, description="emergency override of the change windows for the whole plan (a ticket or why); "
        "recorded in the plan's window artifact and a nornflow.change.override event per host",
    )
    override_by: str | None = Field(default=None, description="who gave the override (recorded with it)")
    summary_hosts: int = Field(
        default=20, ge=0, le=200, description="failed hosts per step listed in the plan_summary that later steps "
        "(record_incident) get; the full list stays in the outcome record that plan_outcome_ref names",
    )

    @field_validator("steps", mode="before")
    @classmethod
    def _steps_from_mapping(cls, value: Any) -> Any:
        """Accept a mapping ``{name: {...}}`` as well as a list of steps with ``name:``."""
        if isinstance(value, dict):
            return [{"name": k, **(v or {})} for k, v in value.items()]
        return value

    @field_validator("resources")
    @classmethod
    def _positive_sizes(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if v < 1}
        if bad:
            raise ValueError(f"resource limits must be at least 1 slot: {bad}")
        return value

    @field_validator("override_reason")
    @classmethod
    def _real_reason(cls, value: str | None) -> str | None:
        if value is not None and len(value.strip()) < 3:
            raise ValueError("an emergency override needs a reason (a ticket or why); remove override_reason "
                             "to keep the change windows")
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _unique_names(self) -> Plan:
        counts = Counter(s.name for s in self.steps)
        dupes = sorted(name for name, n in counts.items() if n > 1)
        if dupes:
            raise ValueError(f"step names must be unique; repeated: {dupes}")
        return self

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> Plan:
        """Build a plan, turning pydantic's errors into one :class:`PlanError` naming each field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            lines = [
                f"  {'.'.join(str(p) for p in err['loc']) or '(plan)'}: {err['msg']}" for err in exc.errors()
            ]
            raise PlanError(f"plan {source} is invalid:\n" + "\n".join(lines)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> Plan:
        """Load a plan file; a relative ``inventory:`` is resolved against the file's folder."""
        file = Path(path)
        data = load_yaml(file, "plan file", PlanError)
        if not isinstance(data, dict):
            raise PlanError(f"plan file {file} must hold a mapping with steps:, found {type(data).__name__}")
        plan = cls.from_dict(data, source=str(file))
        if plan.inventory and not Path(plan.inventory).expanduser().is_absolute():
            candidate = file.parent / plan.inventory
            if candidate.exists():
                plan.inventory = str(candidate)
        if plan.change_calendar and not Path(plan.change_calendar).expanduser().is_absolute():
            candidate = file.parent / plan.change_calendar
            if candidate.exists():
                plan.change_calendar = str(candidate)
        return plan

    def to_yaml(self) -> str:
        text: str = yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
        return text
