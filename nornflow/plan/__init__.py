"""Dependency-ordered plans of flows and Nornir tasks, run as Prefect subflows.

Importing this package does not import Prefect: validating or showing a plan stays
fast. ``nornflow.plan.execute`` holds the runner.
"""

from __future__ import annotations

from nornflow.plan.model import Dependency, HostSelection, Plan, Step
from nornflow.plan.outcome import PlanOutcome, StepOutcome, rerun_plan
from nornflow.plan.planner import (
    PlanCycleError,
    PlannedPlan,
    SelectionError,
    UnknownStepError,
    validate,
)
from nornflow.plan.registry import FlowRegistry, UnknownFlowError

__all__ = [
    "Dependency",
    "FlowRegistry",
    "HostSelection",
    "Plan",
    "PlanCycleError",
    "PlanOutcome",
    "PlannedPlan",
    "SelectionError",
    "Step",
    "StepOutcome",
    "UnknownFlowError",
    "UnknownStepError",
    "rerun_plan",
    "validate",
]
