"""All-or-nothing on the lab: a step's waves (step-level on_failure: rollback) and a whole plan (plan-level)."""

from __future__ import annotations

import pytest
from prefect import flow

from nornflow.config.ledger import Ledger
from nornflow.config.remediation import remediation
from nornflow.config.render import Renderer
from nornflow.inventory.load import HostFilter, load_nornir
from nornflow.plan import Plan, PlanOutcome
from nornflow.plan.execute import execute_plan
from nornflow.plan.planner import waves
from tests.integration.config.conftest import TEMPLATES

pytestmark = pytest.mark.integration


@flow
def plan_flow(plan: Plan, inventory: str) -> PlanOutcome:
    return execute_plan(plan, inventory=inventory)


def _params(backup_dir: str) -> dict[str, object]:
    return {"templates": TEMPLATES, "auto_approve": True, "backup_dir": backup_dir}


def _plan(backup_dir: str, on_failure: str) -> Plan:
    """One step in waves of two; ``on_failure`` is the step's own (the plan keeps: only the step's scope)."""
    return Plan.from_dict({
        "name": "all-or-nothing",
        "steps": {"push": {"flow": "deploy_config", "mode": "waves", "canary": 2, "wave_size": 2,
                           "on_failure": on_failure, "params": _params(backup_dir)}},
    })


def _reject_last_line(lab, nr, host: str, config: str) -> None:
    platform = str(nr.inventory.hosts[host].platform)
    lab.reject_line(host, remediation(config, Renderer(TEMPLATES).render(nr.inventory.hosts[host]), platform)[-1])


def test_step_level_rollback_third_wave_fails_and_every_device_of_the_first_two_waves_is_restored(tmp_path):
    from prefect.artifacts import Artifact

    from nornflow.lab import Lab

    with Lab(size=6, directory=tmp_path / "lab") as lab:
        nr = load_nornir(lab.inventory_dir)
        order = HostFilter.coerce(None).select(nr)
        first, second, third = waves(order, mode="waves", canary=2, wave_size=2)
        before = {h: lab.running_config(h) for h in lab.devices}
        victim = third[-1]
        host = nr.inventory.hosts[victim]
        lines = remediation(before[victim], Renderer(TEMPLATES).render(host), str(host.platform))
        lab.reject_line(victim, lines[-1])

        outcome = plan_flow(_plan(str(tmp_path / "bk"), "rollback"), str(lab.inventory_dir))

        step = outcome.steps["push"]
        assert step.state == "failed" and "on_failure: rollback undid 5 device(s)" in (step.reason or ""), step.reason
        for name in (*first, *second, *third):
            assert lab.running_config(name) == before[name], f"{name} does not have its exact pre-change config"
        outcomes = {r.host: (r.data or {}).get("outcome") for r in step.records}
        assert outcomes == {**dict.fromkeys([*first, *second, third[0]], "undone"), victim: "rolled-back"}
        summary = Artifact.get("plan-step-push-undo")
        assert summary is not None and isinstance(summary.data, str)
        rows = [line.split("|")[1:3] for line in summary.data.splitlines() if "rolled back to its pre-change" in line]
        undone = [(int(w), h.strip()) for w, h in rows]
        expected = [(3, third[0]), (2, second[1]), (2, second[0]), (1, first[1]), (1, first[0])]
        assert undone == expected, "undone in reverse order: last wave first, each wave's hosts reversed"
        ledgers = [Ledger(p) for p in sorted((tmp_path / "bk").glob("nornflow-ledger-*.jsonl"))]
        assert sorted(h for ledger in ledgers for h, s in ledger.states().items() if s == "undone") == sorted(
            [*first, *second, third[0]])


def test_keep_leaves_earlier_waves_changed(tmp_path):
    from nornflow.lab import Lab

    with Lab(size=4, directory=tmp_path / "lab") as lab:
        nr = load_nornir(lab.inventory_dir)
        first, second = waves(HostFilter.coerce(None).select(nr), mode="waves", canary=2, wave_size=2)
        before = {h: lab.running_config(h) for h in lab.devices}
        host = nr.inventory.hosts[second[0]]
        lab.reject_line(second[0], remediation(before[second[0]], Renderer(TEMPLATES).render(host),
                                               str(host.platform))[0])
        outcome = plan_flow(_plan(str(tmp_path / "bk"), "keep"), str(lab.inventory_dir))
        assert outcome.steps["push"].state == "failed"
        assert all(lab.running_config(h) != before[h] for h in first), "keep: the first wave keeps its change"


def test_plan_level_rollback_undoes_every_step_and_wave_last_first(tmp_path):
    """Two deploy_config steps; the second's third wave fails: step 1 and waves 1-2 of step 2 are undone."""
    from prefect.artifacts import Artifact

    from nornflow.lab import Lab

    with Lab(size=5, directory=tmp_path / "lab") as lab:
        nr = load_nornir(lab.inventory_dir)
        order = HostFilter.coerce(None).select(nr)
        one, two = order[:2], order[2:]
        before = {h: lab.running_config(h) for h in lab.devices}
        _reject_last_line(lab, nr, two[-1], before[two[-1]])
        backup_dir = str(tmp_path / "bk")
        plan = Plan.from_dict({
            "name": "two steps", "on_failure": "rollback",
            "steps": {
                "push1": {"flow": "deploy_config", "hosts": {"names": one}, "params": _params(backup_dir)},
                "push2": {"flow": "deploy_config", "hosts": {"names": two}, "mode": "waves", "canary": 1,
                          "wave_size": 1, "depends_on": ["push1"], "params": _params(backup_dir)},
                "push3": {"flow": "deploy_config", "hosts": {"names": one[:1]}, "depends_on": {"push2": "always"},
                          "params": _params(backup_dir)},
            },
        })

        outcome = plan_flow(plan, str(lab.inventory_dir))

        for name in order:
            assert lab.running_config(name) == before[name], f"{name} does not have its exact pre-change config"
    first, second, third = (outcome.steps[n] for n in ("push1", "push2", "push3"))
    assert first.state == second.state == "failed", (first.reason, second.reason)
    assert "on_failure: rollback (plan) undid 2 device(s) of this step" in (first.reason or "")
    assert third.state == "skipped" and "rolled back after step push2 failed" in (third.reason or ""), third.reason
    outcomes = {r.host: (r.data or {}).get("outcome") for s in (first, second) for r in s.records}
    assert outcomes == {**dict.fromkeys([*one, *two[:2]], "undone"), two[-1]: "rolled-back"}
    summary = Artifact.get("plan-two-steps-undo")
    assert summary is not None and isinstance(summary.data, str)
    rows = [[c.strip() for c in line.split("|")[1:3]] for line in summary.data.splitlines()
            if "rolled back to its pre-change" in line]
    assert rows == [["push2 2/3", two[1]], ["push2 1/3", two[0]], ["push1", one[1]], ["push1", one[0]]], \
        "undone last step first, each step's last wave first, each wave's hosts reversed"
    assert summary.data.rstrip().endswith("4 device(s) undone, 0 could not be, 0 never touched.")
