"""Plans on the lab under the Prefect test server: order, parallelism, waves, limits, rerun."""

from __future__ import annotations

import uuid

import pytest
from prefect import flow

from nornflow.plan import Plan, PlanOutcome
from nornflow.plan.execute import execute_plan
from nornflow.plan.flow import run_plan
from tests.integration.plan.lab_tasks import SessionCounter

HOLD = "tests.integration.plan.lab_tasks:hold"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from nornflow.lab import Lab

    with Lab(size=6, directory=tmp_path_factory.mktemp("planlab")) as lab:
        yield lab


@pytest.fixture
def sessions(lab):
    with SessionCounter(lab) as counter:
        yield counter


@flow
def plan_flow(plan: Plan, inventory: str, prior: PlanOutcome | None = None) -> PlanOutcome:
    return execute_plan(plan, inventory=inventory, prior=prior)


def hosts_window(outcome, step):
    data = [r.data for r in outcome.steps[step].records if r.ok]
    return min(d["start"] for d in data), max(d["end"] for d in data)


def test_generations_run_in_order_and_in_parallel(lab):
    plan = Plan.from_dict({"name": "order", "steps": {
        "a": {"task": HOLD, "params": {"seconds": 1.0}, "hosts": {"sites": "fra"}},
        # 5 s: on the harness's SQLite, a concurrent subflow start can get a 503 and a ~2 s client retry
        "b": {"task": HOLD, "params": {"seconds": 5.0}, "hosts": {"sites": "ams"}, "depends_on": "a"},
        "c": {"task": HOLD, "params": {"seconds": 5.0}, "hosts": {"sites": "nyc"}, "depends_on": "a"},
        "d": {"task": HOLD, "params": {"seconds": 0.2}, "hosts": {"names": "fra-spine-01"},
              "depends_on": ["b", "c"]},
    }})
    outcome = plan_flow(plan, str(lab.inventory_dir))
    assert {n: s.state for n, s in outcome.steps.items()} == dict.fromkeys("abcd", "completed")
    a, b, c, d = (hosts_window(outcome, n) for n in "abcd")
    assert a[1] <= b[0] and a[1] <= c[0]                 # b and c wait for a
    assert max(b[1], c[1]) <= d[0]                       # d waits for both
    assert b[0] < c[1] and c[0] < b[1]                   # b and c overlap: one generation, in parallel
    assert outcome.steps["b"].started < outcome.steps["c"].finished


def test_failed_canary_stops_the_rest_and_only_its_branch(lab, sessions):
    canary = next(iter(lab.devices))
    plan = Plan.from_dict({"name": "canary", "steps": {
        "rollout": {"task": HOLD, "params": {"seconds": 0.1}, "mode": "waves", "canary": 1, "wave_size": 2},
        "after_rollout": {"task": HOLD, "params": {"seconds": 0.1}, "depends_on": "rollout"},
        "incident": {"flow": "record_incident", "depends_on": {"rollout": "failure"}},
        "unrelated": {"task": HOLD, "params": {"seconds": 0.1}, "hosts": {"names": "ams-spine-01"}},
    }})
    lab.stop_device(canary)
    try:
        sessions.reset()
        outcome = plan_flow(plan, str(lab.inventory_dir))
    finally:
        lab.start_device(canary)
    rollout = outcome.steps["rollout"]
    assert rollout.state == "failed" and rollout.waves == 1
    assert rollout.failed_hosts == [canary]
    assert sorted(rollout.skipped_hosts) == sorted(set(lab.devices) - {canary})
    assert "stopped after wave 1/4, 5 hosts left untouched" in rollout.reason
    assert sessions.total == 1                           # the lab saw only the unrelated step's session
    assert outcome.steps["after_rollout"].state == "skipped"
    assert outcome.steps["incident"].state == "completed"
    assert outcome.steps["unrelated"].state == "completed"

    # Rerun from the recorded outcome: only the failed step and what it stopped run again.
    sessions.reset()
    again = plan_flow(plan, str(lab.inventory_dir), prior=PlanOutcome.from_json(outcome.to_json()))
    assert again.steps["unrelated"].carried and again.steps["incident"].carried
    assert again.steps["rollout"].state == "completed" and len(again.steps["rollout"].ok_hosts) == 6
    assert again.steps["after_rollout"].state == "completed"
    assert sessions.total == 12


@pytest.mark.parametrize("k", [2])
def test_concurrency_limit_caps_sessions_across_steps(lab, sessions, k):
    resource = f"plan-test-{uuid.uuid4().hex[:8]}"
    plan = Plan.from_dict({"name": "limited", "resources": {resource: k}, "steps": {
        "spines_fra_ams": {"task": HOLD, "params": {"seconds": 0.8}, "hosts": {"sites": "fra,ams"},
                           "resources": resource},
        "spines_nyc": {"task": HOLD, "params": {"seconds": 0.8}, "hosts": {"sites": "nyc"},
                       "resources": resource},
    }})
    sessions.reset()
    outcome = plan_flow(plan, str(lab.inventory_dir))
    assert all(s.state == "completed" for s in outcome.steps.values())
    assert sessions.total == 6
    assert sessions.peak == k                            # never more than k, and the limit was used


def test_run_plan_flow_publishes_and_ends_failed_when_a_step_fails(lab, tmp_path):
    plan = {"name": "flows", "steps": {
        "show": {"flow": "show_commands", "params": {"commands": ["show version"]},
                 "hosts": {"roles": "spine"}},
        "bad": {"flow": "show_commands", "params": {"commands": ["show nonsense"]},
                "hosts": {"names": "fra-spine-01"}, "depends_on": "show"},
    }}
    state = run_plan(plan=plan, inventory=str(lab.inventory_dir), return_state=True)
    outcome = state.result(raise_on_failure=False)
    assert state.is_failed() and isinstance(outcome, PlanOutcome)
    assert outcome.steps["show"].state == "completed" and len(outcome.steps["show"].ok_hosts) == 6
    assert outcome.steps["bad"].failed_hosts == ["fra-spine-01"]
    from prefect.artifacts import Artifact

    artifact = Artifact.get("plan-flows-outcome")
    assert PlanOutcome.from_json(artifact.data).steps["bad"].state == "failed"
    assert "](data:image/svg+xml;base64," in Artifact.get("plan-flows").data   # a picture the UI draws
    assert "```mermaid" not in Artifact.get("plan-flows").data


def test_resource_template_makes_one_limit_per_site(lab, sessions):
    template = f"plan-test-{uuid.uuid4().hex[:8]}:{{site}}"
    plan = Plan.from_dict({"name": "per-site", "resources": {template: 1}, "steps": {
        "all": {"task": HOLD, "params": {"seconds": 0.8}, "resources": template},
    }})
    sessions.reset()
    outcome = plan_flow(plan, str(lab.inventory_dir))
    assert outcome.steps["all"].state == "completed" and len(outcome.steps["all"].ok_hosts) == 6
    assert sessions.total == 6
    assert 1 < sessions.peak <= 3                        # one session per site at a time, the sites in parallel
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for site in ("fra", "ams", "nyc"):
            assert client.read_global_concurrency_limit_by_name(template.format(site=site)).limit == 1
