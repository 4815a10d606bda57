"""Approvals carry the real identity: deploy_config on the lab, run through the gateway with a
worker token (in its own process, as a worker runs it), approved with an approver's token; what
the approver typed as their name is ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_runs import resume_flow_run
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from tests.support.approvals import plan_hash_of, wait_for_paused
from tests.support.prefect_api import artifacts

pytestmark = pytest.mark.integration
TEMPLATES = str(Path(__file__).resolve().parents[3] / "examples" / "templates")
FLOW = """
import sys
from nornflow.flows import deploy_config
state = deploy_config(inventory=sys.argv[1], templates=sys.argv[2], backup_dir=sys.argv[3],
                      approval_poll_interval=1, return_state=True)
print("FINAL", state.type.value, state.message)
"""


@pytest.fixture
def lab(tmp_path: Path) -> Any:
    from nornflow.lab import Lab

    with Lab(size=2, directory=tmp_path / "lab") as lab:
        yield lab


def _as(team: Any, user: str) -> Any:
    return temporary_settings({PREFECT_API_URL: team.api(), PREFECT_API_AUTH_STRING: team.tokens[user]})


def test_approval_through_the_gateway_records_the_authenticated_approver(team: Any, lab: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=team.api(), PREFECT_API_AUTH_STRING=team.tokens["svc-worker"],
               PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    flow = subprocess.Popen([sys.executable, "-c", FLOW, str(lab.inventory_dir), TEMPLATES, str(tmp_path / "bk")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with _as(team, "vera"):
            paused = wait_for_paused(lambda r: r.parameters.get("inventory") == str(lab.inventory_dir), timeout=150)
            plan_hash = plan_hash_of(paused)  # a viewer reads the plan
            with pytest.raises(PrefectHTTPStatusError) as refused:
                resume_flow_run(paused.id, run_input={"approve": True, "plan_hash": plan_hash})
            assert refused.value.response.status_code == 403
        with _as(team, "svc-worker"), pytest.raises(PrefectHTTPStatusError) as worker_refused:
            resume_flow_run(paused.id, run_input={"approve": True, "plan_hash": plan_hash})
        assert worker_refused.value.response.status_code == 403
        with _as(team, "april"):
            resume_flow_run(paused.id, run_input={"approve": True, "plan_hash": plan_hash,
                                                  "approver": "somebody-else", "comment": "CHG-42"})
        output = flow.communicate(timeout=180)[0]
    finally:
        if flow.poll() is None:
            flow.kill()
    assert "FINAL COMPLETED" in output, output[-3000:]
    with _as(team, "vera"):
        decision = artifacts(paused.id)["deploy-config-approval"].data
        with get_client(sync_client=True) as client:
            assert client.read_flow_run(paused.id).state.is_completed()
    assert "april" in decision and "somebody-else" not in decision
    approvals = [r for r in team.audit() if r["action"] == "approval" and r["outcome"] == "ok"]
    assert approvals and approvals[-1]["user"] == "april"
    assert approvals[-1]["detail"]["plan_hash"] == plan_hash and approvals[-1]["detail"]["approve"] is True
    assert "snmp-server location Amsterdam DC2" in lab.running_config("ams-spine-01")  # the change went on
