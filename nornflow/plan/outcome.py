"""What a plan run did, step by step, as data that serializes, and how to rerun what is left.

A :class:`PlanOutcome` is returned by the flow and kept whole (every host's record and
data) in Prefect's result storage (:mod:`nornflow.plan.store`); its artifact lists at
most :data:`ARTIFACT_HOSTS` records per step and names that full record, so nothing in
the Prefect database grows with the fleet. A rerun reads the full record back and runs
only the failed or skipped steps, each for the hosts that did not succeed, keeping the
recorded outcome of everything else. Steps that run later in the plan get
:func:`plan_summary` (counts and a few failed hosts per step), never the records.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from nornflow.engine.records import HostRecord
from nornflow.exceptions import PlanError
from nornflow.plan.model import HostSelection, Plan
from nornflow.plan.planner import StepState

OUTCOME_MARKER = "nornflow-plan-outcome"
#: Host records per step in the outcome artifact (failed first); the full record holds them all.
ARTIFACT_HOSTS = 50
#: Characters of a host's error in the outcome artifact.
ARTIFACT_TEXT = 300
#: Failed hosts per step in :func:`plan_summary`, unless the plan says otherwise (``summary_hosts``).
SUMMARY_HOSTS = 20
#: Characters of an error or reason in :func:`plan_summary`.
SUMMARY_TEXT = 200


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
    records_left: int = Field(default=0, description="records not listed here (an artifact's cap); the full "
                              "outcome at the plan's outcome_ref holds them")

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
    def changed_hosts(self) -> list[str]:
        return [r.host for r in self.records if r.changed]

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
    outcome_ref: str | None = Field(default=None, description="where the full outcome lives: 'result:KEY' in "
                                    "Prefect's result storage (see nornflow.plan.store)")

    @property
    def truncated(self) -> bool:
        """True when some step lists fewer records than it had (an artifact's copy)."""
        return any(s.records_left for s in self.steps.values())

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

    def capped(self, limit: int = ARTIFACT_HOSTS) -> PlanOutcome:
        """A copy listing at most ``limit`` records per step (failed, then skipped, then ok), without data
        and with errors cut to :data:`ARTIFACT_TEXT` characters."""
        order = {"failed": 0, "skipped": 1}
        steps = {}
        for name, step in self.steps.items():
            kept = sorted(step.records, key=lambda r: order.get(r.status, 2))[:limit]
            listed = {id(r) for r in kept}
            steps[name] = step.model_copy(update={
                "records": [r.model_copy(update={"data": None, "error": _cut(r.error, ARTIFACT_TEXT)})
                            for r in step.records if id(r) in listed],
                "records_left": step.records_left + len(step.records) - len(kept)})
        return self.model_copy(update={"steps": steps})

    def to_markdown(self, limit: int = ARTIFACT_HOSTS) -> str:
        """The artifact body: the outcome without host data, at most ``limit`` records per step.

        When nothing was cut it is enough for a rerun; otherwise the rerun reads the full
        record that ``outcome_ref`` names.
        """
        lean = self.capped(limit).model_dump(mode="json")
        return f"<!-- {OUTCOME_MARKER} -->\n```json\n{json.dumps(lean)}\n```\n"


def needs_rerun(outcome: StepOutcome) -> bool:
    return outcome.state in ("failed", "skipped", "pending") or bool(outcome.failed_hosts)


def rerun_plan(outcome: PlanOutcome) -> tuple[Plan, dict[str, StepOutcome]]:
    """The plan narrowed to what did not succeed, and the outcomes to keep as they were.

    A step is redone when it failed, was skipped or has failed hosts; when some of its
    hosts succeeded, only the failed and skipped ones run again. Completed steps are
    carried over, so the conditions of the redone steps see their recorded states.
    """
    if outcome.truncated:
        raise PlanError(f"the outcome of plan {outcome.plan.name!r} lists only some hosts of a step (an artifact's "
                        f"copy); rerun from the full record: --rerun {outcome.outcome_ref or 'the outcome JSON file'}")
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
            "duration": round(outcome.duration, 2), "flow_run_id": outcome.flow_run_id,
            "outcome_ref": outcome.outcome_ref}


def _cut(text: str | None, size: int = SUMMARY_TEXT) -> str | None:
    return text if text is None or len(text) <= size else text[: size - 1] + "…"


def plan_summary(outcome: PlanOutcome, hosts: int = SUMMARY_HOSTS) -> dict[str, Any]:
    """What a later step (``plan_summary``) gets: per step its state and counts, and its failed hosts
    with their short error, at most ``hosts`` of them. Its size grows with the plan's steps, not
    with the fleet; the full outcome is the one ``outcome_ref`` names.
    """
    steps: dict[str, Any] = {}
    for name, step in outcome.steps.items():
        entry: dict[str, Any] = {"state": step.state, "reason": _cut(step.reason), "ok": len(step.ok_hosts),
                                 "failed": len(step.failed_hosts), "skipped": len(step.skipped_hosts),
                                 "changed": len(step.changed_hosts), "flow_run_id": step.flow_run_id}
        if step.records_left:
            entry["not_listed"] = step.records_left
        failed = [r for r in step.records if r.failed]
        if failed:
            entry["failed_hosts"] = [{"host": r.host, "error": _cut(r.error)} for r in failed[:hosts]]
            entry["failed_more"] = max(len(failed) - hosts, 0)
        steps[name] = entry
    return {"plan": outcome.plan.name, "state": outcome.state, "flow_run_id": outcome.flow_run_id,
            "outcome_ref": outcome.outcome_ref, "steps": steps}
