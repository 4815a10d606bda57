"""The incident step gets a bounded summary and a reference, never the fleet's command output.

Flow-run parameters live in the Prefect database, show in the UI and travel with every
run, so what a plan hands its ``record_incident`` step must not grow with the fleet.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterParentFlowRunId

from nornflow.plan import PlanOutcome
from nornflow.plan.flow import run_plan

pytestmark = pytest.mark.integration

DEVICES = 12
LISTED = 5  # failed hosts listed per step in the summary (the plan's summary_hosts)
BOUND = 4096  # bytes of the incident run's parameters, whatever the fleet's size


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from nornflow.lab import Lab

    with Lab(size=DEVICES, directory=tmp_path_factory.mktemp("incidentlab")) as lab:
        yield lab


def incident_parameters(plan_run_id: str) -> tuple[str, dict[str, Any]]:
    """The record-incident subflow run of the plan run, read back from the Prefect API."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["record-incident"])),
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[UUID(plan_run_id)])),
        )
    assert len(runs) == 1, runs
    return str(runs[0].id), runs[0].parameters


def test_incident_parameters_are_bounded_and_hold_no_host_output(lab, tmp_path):
    plan = {"name": "incident-params", "summary_hosts": LISTED, "steps": {
        "show": {"flow": "show_commands", "params": {"commands": ["show version", "show running-config"]}},
        "bad": {"flow": "show_commands", "params": {"commands": ["show nonsense"]}, "depends_on": "show"},
        "incident": {"flow": "record_incident", "depends_on": {"bad": "failure"},
                     "params": {"title": "bad failed", "incident_dir": str(tmp_path)}},
    }}
    state = run_plan(plan=plan, inventory=str(lab.inventory_dir), return_state=True)
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, PlanOutcome), state.message
    assert {n: s.state for n, s in outcome.steps.items()} == {"show": "completed", "bad": "failed",
                                                             "incident": "completed"}
    assert len(outcome.steps["show"].ok_hosts) == DEVICES and len(outcome.steps["bad"].failed_hosts) == DEVICES

    run_id, params = incident_parameters(str(outcome.flow_run_id))
    assert outcome.steps["incident"].flow_run_id == run_id
    text = json.dumps(params)
    assert len(text.encode()) < BOUND, f"{len(text.encode())} bytes of parameters: {text[:300]}"
    outputs = [str(out["output"]) for r in outcome.steps["show"].records for out in r.data.values()]
    assert outputs and all(len(o) > 40 for o in outputs)
    assert not any(o[:40] in text or o[-40:] in text for o in outputs)   # no command output
    assert "records" not in text and "plan_outcome" not in params        # no per-host records at all
    summary = params["plan_summary"]
    bad = summary["steps"]["bad"]
    assert (bad["state"], bad["failed"], len(bad["failed_hosts"]), bad["failed_more"]) == (
        "failed", DEVICES, LISTED, DEVICES - LISTED)
    assert summary["steps"]["show"]["ok"] == DEVICES and "failed_hosts" not in summary["steps"]["show"]

    # The step reads the full outcome through the reference when it needs the details.
    record = json.loads(next(tmp_path.glob("incident-*.json")).read_text())
    assert record["failed_steps"] == ["bad"]
    assert sorted(record["failed_hosts"]["bad"]) == sorted(lab.devices)   # all of them, from the full record
    assert record["outcome_ref"] == params["plan_outcome_ref"]

    # A rerun from the run's artifact reads the full outcome that the artifact names.
    from nornflow.plan.store import load_outcome

    again = load_outcome("plan-incident-params-outcome")
    assert again.outcome_ref == outcome.outcome_ref and not again.truncated
    assert len(again.steps["show"].records) == DEVICES and again.steps["show"].records[0].data
