"""What a plan run did, step by step, as data that serializes, and how to rerun what is left.

A :class:`PlanOutcome` is published as a Prefect artifact and returned by the flow; a
rerun reads it back and runs only the failed or skipped steps, each for the hosts
that did not succeed, keeping the recorded outcome of everything else.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from nornflow.exceptions import PlanError
from nornflow.plan.model import HostSelection, Plan
from nornflow.plan.planner import StepState
from nornflow.records import HostRecord

OUTCOME_MARKER = "nornflow-plan-outcome"


def now() -> datetime:
    return datetime.now(UTC)


class StepOutcome(BaseModel):
    """One step's end state, why, its per-host records and timing."""

    name: str
    state: StepState = "pending"
    reason: str | None = Field(default=None, description="why it was skipped or failed")
    records: list[HostRecord] = Field(default_factory=list)
    started: datetime | None = None
    finished: datetime | None = None
    waves: int = 0
    flow_run_id: str | None = None
    carried: bool = Field(default=False, description="kept from an earlier run, not run again")

    @property
    def duration(self) -> float:
        if self.started is None or self.finished is None:
            return 0.0
        return (self.finished - self.started).total_seconds()

    def hosts(self, status: str) -> list[str]:
        return [r.host for r in self.records if r.status == status]

    @property
    def ok_hosts(self) -> list[str]:
        return self.hosts("ok")

    @property
    def failed_hosts(self) -> list[str]:
        return self.hosts("failed")

    @property
    def skipped_hosts(self) -> list[str]:
        return self.hosts("skipped")


class PlanOutcome(BaseModel):
    """The whole run: the plan as it ran, and every step's outcome in plan order."""

    plan: Plan
    steps: dict[str, StepOutcome]
    started: datetime | None = None
    finished: datetime | None = None
    flow_run_id: str | None = None
    rerun_of: str | None = None

    @property
    def state(self) -> StepState:
        """``failed`` when any step failed, else ``completed`` (skips by condition are normal)."""
        states = {s.state for s in self.steps.values()}
        if "pending" in states:
            return "pending"
        return "failed" if "failed" in states else "completed"

    @property
    def duration(self) -> float:
        if self.started is None or self.finished is None:
            return 0.0
        return (self.finished - self.started).total_seconds()

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str) -> PlanOutcome:
        """Parse an outcome's JSON, also when it is wrapped in the artifact's markdown fence."""
        match = re.search(r"```json\s*\n(.*?)\n```", text, re.DOTALL)
        try:
            return cls.model_validate_json(match.group(1) if match else text)
        except ValueError as exc:
            raise PlanError(f"not a plan outcome ({str(exc).splitlines()[0]}); pass the JSON that "
                            f"`nornflow plan run --outcome FILE` wrote or the artifact of the run") from None

    @classmethod
    def load(cls, path: str | Path) -> PlanOutcome:
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PlanError(f"plan outcome {path} cannot be read: {exc.strerror}") from None

    def to_markdown(self) -> str:
        """The artifact body that carries the outcome for a later rerun (host data left out)."""
        no_data = {"steps": {"__all__": {"records": {"__all__": {"data"}}}}}
        lean = self.model_dump(mode="json", exclude=no_data)
        return f"<!-- {OUTCOME_MARKER} -->\n```json\n{json.dumps(lean)}\n```\n"


def needs_rerun(outcome: StepOutcome) -> bool:
    return outcome.state in ("failed", "skipped", "pending") or bool(outcome.failed_hosts)


def rerun_plan(outcome: PlanOutcome) -> tuple[Plan, dict[str, StepOutcome]]:
    """The plan narrowed to what did not succeed, and the outcomes to keep as they were.

    A step is redone when it failed, was skipped or has failed hosts; when some of its
    hosts succeeded, only the failed and skipped ones run again. Completed steps are
    carried over, so the conditions of the redone steps see their recorded states.
    """
    plan = outcome.plan.model_copy(deep=True)
    carried: dict[str, StepOutcome] = {}
    for step in plan.steps:
        previous = outcome.steps.get(step.name)
        if previous is None:
            continue
        if not needs_rerun(previous):
            carried[step.name] = previous.model_copy(update={"carried": True})
            continue
        redo = previous.failed_hosts + previous.skipped_hosts
        if redo and previous.ok_hosts:
            step.hosts = HostSelection(names=redo)
    return plan, carried


def outcome_summary(outcome: PlanOutcome) -> dict[str, Any]:
    """Counts for a log line or an event payload."""
    counts: dict[str, int] = {}
    for step in outcome.steps.values():
        counts[step.state] = counts.get(step.state, 0) + 1
    return {"plan": outcome.plan.name, "state": outcome.state, "steps": counts,
            "duration": round(outcome.duration, 2)}
