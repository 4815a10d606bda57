"""A plan in waves with on_failure: rollback whose third wave fails: the first two waves are undone."""

from __future__ import annotations

import pytest
from prefect import flow

from nornflow.config.ledger import Ledger
from nornflow.config.remediation import remediation
from nornflow.config.render import Renderer
from nornflow.inventory import HostFilter, load_nornir
from nornflow.plan import Plan, PlanOutcome
from nornflow.plan.execute import execute_plan
from nornflow.plan.planner import waves
from tests.integration.config.conftest import TEMPLATES

pytestmark = pytest.mark.integration


@flow
def plan_flow(plan: Plan, inventory: str) -> PlanOutcome:
    return execute_plan(plan, inventory=inventory)


def _plan(backup_dir: str, on_failure: str) -> Plan:
    return Plan.from_dict({
        "name": "all-or-nothing", "on_failure": on_failure,
        "steps": {"push": {"flow": "deploy_config", "mode": "waves", "canary": 2, "wave_size": 2,
                           "params": {"templates": TEMPLATES, "auto_approve": True, "backup_dir": backup_dir}}},
    })


def test_third_wave_fails_and_every_device_of_the_first_two_waves_is_restored(tmp_path):
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
