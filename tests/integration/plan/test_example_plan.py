"""The example plan (examples/plans/lab_change.yaml) on a small lab: the happy path and its failure branch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nornflow.plan import Plan, PlanOutcome
from nornflow.plan.flow import run_plan

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "plans" / "lab_change.yaml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from nornflow.lab import Lab

    # 8 devices: six spines (two per site) and two leaves, so the leaf step has a canary and a second wave
    with Lab(size=8, directory=tmp_path_factory.mktemp("examplelab")) as lab:
        yield lab


@pytest.fixture
def example(tmp_path, monkeypatch) -> dict[str, Any]:
    """The example plan as a mapping, writing its backups and incidents under ``tmp_path``."""
    monkeypatch.chdir(REPO)  # templates: examples/templates is relative to the repository root
    plan = Plan.from_yaml(EXAMPLE)
    for step in plan.steps:
        if "backup_dir" in step.params:
            step.params["backup_dir"] = str(tmp_path / "backups")
        if "incident_dir" in step.params:
            step.params["incident_dir"] = str(tmp_path / "incidents")
    return plan.model_dump(mode="json")


def run(plan: dict[str, Any], lab: Any, prior: Path | None = None) -> tuple[Any, PlanOutcome]:
    state = run_plan(plan=plan, inventory=str(lab.inventory_dir), rerun=str(prior) if prior else None,
                     return_state=True)
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, PlanOutcome), state.message
    return state, outcome


def states(outcome: PlanOutcome) -> dict[str, str]:
    return {name: step.state for name, step in outcome.steps.items()}


def location_line(lab: Any, name: str) -> str:
    """A line of examples/templates that a fresh lab device lacks (from common/site.j2)."""
    return "snmp-server location " + {"fra": "Frankfurt DC1", "ams": "Amsterdam DC2",
                                      "nyc": "New York DC3"}[lab.devices[name].site]


def roles(lab: Any, role: str) -> list[str]:
    return [name for name, device in lab.devices.items() if device.role == role]


def test_example_plan_backs_up_deploys_in_order_and_is_compliant(lab, example):
    state, outcome = run(example, lab)
    assert state.is_completed(), state.message
    assert states(outcome) == {"backup": "completed", "push_spines": "completed", "push_leaves": "completed",
                               "compliance": "completed", "record_incident": "skipped"}
    steps = outcome.steps
    assert sorted(steps["backup"].ok_hosts) == sorted(lab.devices)
    assert sorted(steps["push_spines"].ok_hosts) == sorted(roles(lab, "spine"))
    assert sorted(steps["push_leaves"].ok_hosts) == sorted(roles(lab, "leaf"))
    assert steps["push_leaves"].waves == 2                   # canary of 1, then the other leaf
    assert sorted(steps["compliance"].ok_hosts) == sorted(lab.devices)
    assert all(r.data["compliant"] for r in steps["compliance"].records)
    assert "no condition met" in (steps["record_incident"].reason or "")
    assert steps["backup"].finished <= steps["push_spines"].started        # one generation after another
    assert steps["push_spines"].finished <= steps["push_leaves"].started
    assert steps["push_leaves"].finished <= steps["compliance"].started
    for leaf in roles(lab, "leaf"):
        assert location_line(lab, leaf) in lab.running_config(leaf)       # the intended config is on the device


def test_example_plan_failed_canary_records_an_incident_and_a_rerun_finishes(lab, example, tmp_path):
    canary, other = roles(lab, "leaf")
    line = location_line(lab, canary)
    # The canary drifts and refuses the line that would fix it: its push is rolled back.
    drifted = "\n".join(t for t in lab.running_config(canary).splitlines() if not t.startswith("snmp-server location"))
    lab.set_running_config(canary, drifted)
    lab.reject_line(canary, line)
    try:
        state, outcome = run(example, lab)
    finally:
        lab.clear_faults(canary)
    assert state.is_failed()
    assert states(outcome) == {"backup": "completed", "push_spines": "completed", "push_leaves": "failed",
                               "compliance": "skipped", "record_incident": "completed"}
    leaves = outcome.steps["push_leaves"]
    assert leaves.failed_hosts == [canary] and leaves.skipped_hosts == [other] and leaves.waves == 1
    assert "stopped after wave 1/2" in (leaves.reason or "")
    assert line not in lab.running_config(canary)                      # rolled back, not half-applied
    incidents = list((tmp_path / "incidents").glob("incident-*.json"))
    assert len(incidents) == 1
    incident = json.loads(incidents[0].read_text())
    assert incident["failed_steps"] == ["push_leaves"]
    assert incident["failed_hosts"] == {"push_leaves": [canary]}        # read back through the reference
    assert incident["outcome_ref"] == outcome.outcome_ref and outcome.outcome_ref.startswith("result:")

    # Rerun from the recorded outcome: only the leaves and what they stopped run again.
    recorded = tmp_path / "outcome.json"
    recorded.write_text(outcome.to_json(), encoding="utf-8")
    state, again = run(example, lab, prior=recorded)
    assert state.is_completed(), state.message
    assert states(again) == {"backup": "completed", "push_spines": "completed", "push_leaves": "completed",
                             "compliance": "completed", "record_incident": "completed"}
    assert {n for n, s in again.steps.items() if s.carried} == {"backup", "push_spines", "record_incident"}
    assert sorted(again.steps["push_leaves"].ok_hosts) == sorted([canary, other])
    assert line in lab.running_config(canary)
