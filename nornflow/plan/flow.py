"""The ``run-plan`` flow: load a plan (file or mapping), run it, end in an honest state.

Every run publishes its reproducibility record (``plan-NAME-record``): the plan's hash, the
inventory, versions and parameters (:mod:`nornflow.change.record`); each ``deploy_config``
step's own run records its templates and config plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import State, flow
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from nornflow.change.record import plan_hash_of, record_run
from nornflow.plan.execute import execute_plan, slug
from nornflow.plan.model import Plan
from nornflow.plan.outcome import PlanOutcome
from nornflow.plan.store import load_outcome


def _run_name() -> str:
    params = flow_run.parameters or {}
    if params.get("plan_file"):
        return f"plan {Path(str(params['plan_file'])).stem}"
    return f"plan {(params.get('plan') or {}).get('name', 'inline')}"


def load_plan(plan_file: str | None, plan: dict[str, Any] | Plan | None) -> Plan:
    if isinstance(plan, Plan):
        return plan
    if plan is not None:
        return Plan.from_dict(plan, source="(flow parameter)")
    if plan_file is None:
        raise ValueError("give plan_file (a YAML path) or plan (a mapping)")
    return Plan.from_yaml(plan_file)


@flow(name="run-plan", flow_run_name=_run_name, validate_parameters=False)
def run_plan(
    plan_file: str | None = None,
    plan: dict[str, Any] | None = None,
    inventory: str | None = None,
    rerun: str | None = None,
) -> State:
    """Run a plan's steps in dependency order as subflows; with ``rerun``, only what failed before.

    ``rerun`` is an outcome JSON file or the key of a run's ``plan-NAME-outcome`` artifact.
    The run ends Failed when any step failed; its data is the :class:`PlanOutcome` either way.
    """
    prior: PlanOutcome | None = load_outcome(rerun) if rerun else None
    given = plan_file is not None or plan is not None
    model = load_plan(plan_file, plan) if given or prior is None else prior.plan
    if prior is not None:
        prior = prior.model_copy(update={"plan": model})
    outcome = execute_plan(model, inventory=inventory, prior=prior)
    record_run("run-plan", f"plan-{slug(model.name)}", inventory=inventory or model.inventory,
               plan_hash=plan_hash_of(model))
    failed = [name for name, step in outcome.steps.items() if step.state == "failed"]
    if failed:
        return Failed(message=f"plan {model.name}: steps failed: {', '.join(failed)}", data=outcome)
    return Completed(message=f"plan {model.name}: completed in {outcome.duration:.1f} s", data=outcome)
