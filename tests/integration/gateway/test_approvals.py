"""Approvals carry the real identity: deploy_config on the lab, run through the gateway with a
worker token (in its own process, as a worker runs it), approved with an approver's token; what
the approver typed as their name is ignored."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
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
        with _as(team, "april"):  # in Prefect's hydration wrapper (issue 18): decided on, and stamped, as hydrated
            resume_flow_run(paused.id, run_input={"__prefect_kind": "none", "value": {
                "approve": True, "plan_hash": plan_hash, "approver": "somebody-else", "comment": "CHG-42"}})
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


PAUSED = {"state": {"type": "PAUSED", "name": "Paused",
                    "state_details": {"pause_key": "1", "pause_reschedule": False}}, "force": True}


@pytest.fixture(scope="module")
def change_deployment(team: Any) -> str:
    with _as(team, "dev"), get_client(sync_client=True) as client:  # retries a busy server's 503
        flow_id = client.create_flow_from_name(f"gw-four-eyes-{uuid.uuid4().hex[:6]}")
        return str(client.create_deployment(flow_id=flow_id, name="gw-four-eyes"))


def _pause(team: Any, run_id: str) -> None:
    """Test set-up: pause the run straight on the server, as a deploy_config run pauses for its approval."""
    upstream = team.running.gateway.upstreams["core"]
    reply = httpx.post(f"{upstream.api_url}/flow_runs/{run_id}/set_state", json=PAUSED,
                       headers={"authorization": upstream.authorization})
    assert reply.status_code in (200, 201), reply.text


def _state(team: Any, run_id: str) -> str:
    with team.client("vera") as http:
        return str(http.get(f"/w/core/api/flow_runs/{run_id}").json()["state"]["type"])


def test_four_eyes_can_be_turned_off_per_workspace(team: Any, change_deployment: str) -> None:
    """four_eyes: false (WorkspaceSettings) lets the starter approve their own change; on, they cannot."""
    upstream = team.running.gateway.upstreams["core"]
    url = f"/w/core/api/deployments/{change_deployment}/create_flow_run"
    with team.client("otto") as http:  # an owner: starts changes and holds the approver's permission
        guarded, relaxed = http.post(url, json={}).json()["id"], http.post(url, json={}).json()["id"]
        _pause(team, guarded)
        _pause(team, relaxed)
        refused = http.post(f"/w/core/api/flow_runs/{guarded}/resume", json={})
        assert refused.status_code == 403 and "four-eyes" in refused.json()["detail"]
        assert _state(team, guarded) == "PAUSED"
        assert upstream.four_eyes is True
        upstream.four_eyes = False  # what `four_eyes: false` on the workspace sets (Supervisor.start)
        try:
            for _ in range(5):  # a busy SQLite server answers 503: retry, as Prefect's own client does
                own = http.post(f"/w/core/api/flow_runs/{relaxed}/resume", json={})
                if own.status_code != 503:
                    break
                time.sleep(1)
        finally:
            upstream.four_eyes = True
        assert own.status_code in (200, 201) and own.json()["status"] == "ACCEPT", own.text
    assert _state(team, relaxed) != "PAUSED"
    approvals = [r for r in team.audit() if r["action"] == "approval" and r["outcome"] == "ok"]
    assert approvals[-1]["user"] == "otto" and approvals[-1]["detail"]["flow_run"] == relaxed
    # the approval shows on the run's own event feed (a related flow-run resource)
    with team.client("vera") as http:
        deadline, events = time.monotonic() + 30, []
        while time.monotonic() < deadline and not events:
            events = http.post("/w/core/api/events/filter", json={"filter": {
                "event": {"prefix": ["nornflow.audit.approval"]},
                "related": {"id": [f"prefect.flow-run.{relaxed}"]}}}).json()["events"]
            time.sleep(0.5)
    assert events and events[0]["resource"]["prefect.resource.name"] == "otto"


def test_a_change_started_by_a_flow_run_counts_as_started_by_the_parent_runs_starter(
        team: Any, change_deployment: str) -> None:
    """run_deployment inside a flow run sends the worker's token; the child is still otto's change."""
    with team.client("otto") as http:
        parent = http.post(f"/w/core/api/deployments/{change_deployment}/create_flow_run", json={}).json()["id"]
    with team.client("svc-worker") as http:  # what the flow run's process does, with the worker's credential
        task_run = http.post("/w/core/api/task_runs/", json={
            "flow_run_id": parent, "task_key": "run_deployment", "dynamic_key": "0", "name": "child"}).json()
        child = http.post(f"/w/core/api/deployments/{change_deployment}/create_flow_run",
                          json={"parent_task_run_id": task_run["id"]})
        assert child.status_code == 201, child.text
        orphan = http.post(f"/w/core/api/deployments/{change_deployment}/create_flow_run", json={}).json()["id"]
    child_id = child.json()["id"]
    store = team.running.gateway.store
    assert store.run_starter("core", child_id) == "otto"
    assert store.run_starter("core", orphan) == "svc-worker"  # no parent: the service account itself
    _pause(team, child_id)
    with team.client("otto") as http:
        refused = http.post(f"/w/core/api/flow_runs/{child_id}/resume", json={})
        assert refused.status_code == 403 and "four-eyes" in refused.json()["detail"]
    starts = [r for r in team.audit()
              if r["action"] == "deployment.run" and child_id in r["detail"].get("flow_runs", [])]
    assert starts and starts[-1]["user"] == "svc-worker" and starts[-1]["detail"]["started_for"][child_id] == "otto"
