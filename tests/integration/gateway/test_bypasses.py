"""Every way around the gate in the research notes, tried against the real gateway and refused.

Each refusal is a clear 400/401/403/413/429 and leaves an audit record; nothing leaks.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

pytestmark = pytest.mark.integration

BLOCK = "/w/core/api/block_types/slug/secret/block_documents/name/gw-bypass"
SECRET_VALUE = "bypass-Secret-77ab"


@pytest.fixture(scope="module", autouse=True)
def secret_block(team: Any) -> None:
    """A Secret block saved by a developer through the gateway, as Prefect's client saves one."""
    with temporary_settings({PREFECT_API_URL: team.api(), PREFECT_API_AUTH_STRING: team.tokens["dev"]}):
        Secret(value=SECRET_VALUE).save("gw-bypass", overwrite=True)


@pytest.fixture(scope="module")
def deployment_id(team: Any) -> str:
    with temporary_settings({PREFECT_API_URL: team.api(), PREFECT_API_AUTH_STRING: team.tokens["dev"]}), \
            get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("gw-bypass-flow")
        return str(client.create_deployment(flow_id=flow_id, name="gw-bypass-deployment"))


def _denied(team: Any, before: int, status: int) -> dict[str, Any]:
    records = team.audit()[before:]
    found = [r for r in records if r["status"] == status and r["outcome"] == "denied"]
    assert found, f"no audit record with status {status} among {records}"
    return found[-1]


@pytest.mark.parametrize("query", [
    "include_secrets=true", "include_secrets=on", "include_secrets=TRUE", "include_secrets=1",
    "include_secrets=yes", "include_secrets=%20true", "include_secrets=false&include_secrets=true",
    "include_secrets=true&include_secrets=false",
])
def test_every_spelling_of_include_secrets_is_refused_to_a_viewer(team: Any, query: str) -> None:
    before = len(team.audit())
    with team.client("vera") as http:
        reply = http.get(f"{BLOCK}?{query}")
    assert reply.status_code in (400, 403), reply.text
    assert SECRET_VALUE not in reply.text
    _denied(team, before, reply.status_code)


def test_include_secrets_in_a_filter_body_is_refused(team: Any) -> None:
    with team.client("vera") as http:
        reply = http.post("/w/core/api/block_documents/filter", json={"include_secrets": True})
        assert reply.status_code == 403 and SECRET_VALUE not in reply.text
        plain = http.post("/w/core/api/block_documents/filter", json={"include_secrets": False})
        assert plain.status_code == 200 and SECRET_VALUE not in plain.text


def test_encoded_slashes_and_dot_segments_are_refused(team: Any) -> None:
    before = len(team.audit())
    with team.client("vera") as http:
        for path in ("/w/core/api/admin%2Fsettings", "/w/core/api/admin%2fsettings",
                     "/w/core/api/flows/%2e%2e/admin/settings", "/w/core/api/../../w/datacenter/api/flows/filter"):
            reply = http.get(path)
            assert reply.status_code in (400, 404), (path, reply.status_code)
    _denied(team, before, 400)


def test_duplicate_json_keys_are_refused(team: Any, deployment_id: str) -> None:
    body = (b'{"parameters": {}, "job_variables": {}, "job_variables": {"command": "id"}}')
    before = len(team.audit())
    with team.client("rune") as http:
        reply = http.post(f"/w/core/api/deployments/{deployment_id}/create_flow_run", content=body,
                          headers={"content-type": "application/json"})
    assert reply.status_code == 400 and "duplicate JSON key" in reply.json()["detail"]
    _denied(team, before, 400)


def test_oversized_bodies_are_refused(team: Any) -> None:
    with team.client("dev") as http:
        reply = http.post("/w/core/api/flows/filter", content=b"{" + b" " * 1_200_000 + b"}",
                          headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "max_body_bytes" in reply.json()["detail"]


def _basic(auth_string: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(auth_string.encode()).decode()}


def test_forged_expired_and_revoked_tokens_are_refused(team: Any) -> None:
    store = team.running.gateway.store
    with team.client() as http:
        user, token = team.tokens["vera"].split(":", 1)
        forged = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert http.post("/w/core/api/flows/filter", json={}, headers=_basic(f"{user}:{forged}")).status_code == 401
        assert http.post("/w/core/api/flows/filter", json={},
                         headers=_basic(f"otto:{token}")).status_code == 401  # someone else's token
        assert http.post("/w/core/api/flows/filter", json={}, headers={"authorization": "Basic !!!"}).status_code == 401
        _, short = store.create_token("vera", "core", ["viewer"], timedelta(seconds=1))
        time.sleep(1.5)
        reply = http.post("/w/core/api/flows/filter", json={}, headers=_basic(f"vera:{short}"))
        assert reply.status_code == 401 and "expired" in reply.json()["detail"]
        info, revoked = store.create_token("vera", "core", ["viewer"], timedelta(hours=1))
        assert http.post("/w/core/api/flows/filter", json={}, headers=_basic(f"vera:{revoked}")).status_code == 200
        done = subprocess.run([sys.executable, "-m", "nornflow.cli", "token", "revoke", info.id],
                              capture_output=True, text=True, check=False,
                              env={"NORNFLOW_DATA_DIR": str(team.data_dir), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 10  # another process revoked it: the gateway's cache lasts 5 s at most
        while time.monotonic() < deadline:
            status = http.post("/w/core/api/flows/filter", json={}, headers=_basic(f"vera:{revoked}")).status_code
            if status == 401:
                break
            time.sleep(0.5)
        assert status == 401
    assert token not in (team.data_dir / "audit.jsonl").read_text()


def test_origins_outside_the_allow_list_are_refused(team: Any) -> None:
    with team.client("vera") as http:
        evil = http.post("/w/core/api/flows/filter", json={}, headers={"origin": "https://evil.example"})
        assert evil.status_code == 403 and "cors_origins" in evil.json()["detail"]
        assert "access-control-allow-origin" not in evil.headers
        ok = http.post("/w/core/api/flows/filter", json={}, headers={"origin": "https://ops.example.com"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://ops.example.com"
        preflight = http.options("/w/core/api/flows/filter", headers={
            "origin": "https://evil.example", "access-control-request-method": "POST"})
        assert preflight.status_code == 403
        plain = http.post("/w/core/api/flows/filter", json={})
        assert plain.headers.get("access-control-allow-origin") is None  # Prefect's "*" never gets out
        assert plain.headers["x-content-type-options"] == "nosniff"


def test_a_thousand_wrong_passwords_lock_the_address_out(team: Any) -> None:
    guard = team.running.gateway.login.guard
    before = len(team.audit())
    statuses = []
    with team.client() as http:
        for attempt in range(1000):
            reply = http.post("/login", data={"username": "vera", "password": f"wrong-{attempt}"})
            statuses.append(reply.status_code)
        locked = http.post("/login", data={"username": "vera", "password": "correct-horse-battery"})
    try:
        assert statuses[:5] == [401] * 5
        assert set(statuses[5:]) == {429}
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert "Too many failed logins" in locked.text
        records = team.audit()[before:]
        assert sum(r["action"] == "login.failed" for r in records) == 5
        assert sum(r["action"] == "ratelimited" for r in records) >= 995
    finally:
        guard.reset("127.0.0.1")


def test_worker_token_cannot_skip_an_approval(team: Any, deployment_id: str) -> None:
    deployment = {"id": deployment_id}
    with team.client("rune") as http:
        created = http.post(f"/w/core/api/deployments/{deployment_id}/create_flow_run", json={})
        assert created.status_code == 201, created.text
        run = created.json()
    upstream = team.running.gateway.upstreams["core"]
    paused = {"state": {"type": "PAUSED", "name": "Paused",
                        "state_details": {"pause_key": "1", "pause_reschedule": False}}, "force": True}
    reply = httpx.post(f"{upstream.api_url}/flow_runs/{run['id']}/set_state", json=paused,
                       headers={"authorization": upstream.authorization})
    assert reply.status_code in (200, 201), reply.text  # test set-up, straight to the server
    with team.client("svc-worker") as http:
        running = http.post(f"/w/core/api/flow_runs/{run['id']}/set_state",
                            json={"state": {"type": "RUNNING", "name": "Running"}})
        assert running.status_code == 403 and "approver" in running.json()["detail"]
        answer = http.post(f"/w/core/api/flow_runs/{run['id']}/input",
                           json={"key": "paused-1-response", "value": json.dumps({"approve": True})})
        assert answer.status_code == 403
        resume = http.post(f"/w/core/api/flow_runs/{run['id']}/resume", json={"run_input": {"approve": True}})
        assert resume.status_code == 403
    with team.client("otto") as http:  # an owner may approve, but not a change the owner started
        own = http.post(f"/w/core/api/deployments/{deployment['id']}/create_flow_run", json={}).json()
        httpx.post(f"{upstream.api_url}/flow_runs/{own['id']}/set_state", json=paused,
                   headers={"authorization": upstream.authorization})
        four_eyes = http.post(f"/w/core/api/flow_runs/{own['id']}/resume", json={})
        assert four_eyes.status_code == 403 and "four-eyes" in four_eyes.json()["detail"]
    state = httpx.get(f"{upstream.api_url}/flow_runs/{run['id']}", headers={"authorization": upstream.authorization})
    assert state.json()["state"]["type"] == "PAUSED"
