"""Every way around the gate in the research notes, tried against the real gateway and refused.

Each refusal is a clear 400/401/403/413/429 and leaves an audit record; nothing leaks.
"""

from __future__ import annotations

import asyncio
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
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from nornflow.gateway.proxy.http import trusted_networks
from nornflow.gateway.proxy.upstream import free_port
from nornflow.gateway.ratelimit import LoginGuard
from nornflow.gateway.serve import running
from nornflow.gateway.settings import load_settings

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


def _denied(team: Any, before: int, status: int, reason: str = "") -> dict[str, Any]:
    """The newest denial record since ``before`` with ``status`` (and ``reason`` in its reason)."""
    records = team.audit()[before:]
    found = [r for r in records if r["status"] == status and r["outcome"] == "denied"
             and reason in str(r["detail"].get("reason", ""))]
    assert found, f"no audit record with status {status} and reason {reason!r} among {records}"
    return found[-1]


@pytest.fixture
def second_gateway(team: Any) -> Any:
    """Another gateway in front of the same two servers (no new Prefect server), with small limits."""
    settings = load_settings(None, host="127.0.0.1", port=free_port(), data_dir=team.data_dir,
                             workspaces=[{"name": "core"}, {"name": "datacenter"}],
                             api_rate_per_second=1, api_burst=3, websocket_connects_per_minute=60)
    with running(settings, team.running.supervisor) as gw:
        yield gw


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
    before = len(team.audit())
    with team.client("vera") as http:
        reply = http.post("/w/core/api/block_documents/filter", json={"include_secrets": True})
        assert reply.status_code == 403 and SECRET_VALUE not in reply.text
        record = _denied(team, before, 403, "with include_secrets")
        assert record["user"] == "vera" and record["path"].endswith("/block_documents/filter")
        plain = http.post("/w/core/api/block_documents/filter", json={"include_secrets": False})
        assert plain.status_code == 200 and SECRET_VALUE not in plain.text


@pytest.mark.parametrize("user", ["vera", "rune", "april", "dev"])
def test_include_secrets_on_the_block_document_routes_is_refused(team: Any, user: str) -> None:
    """GET /block_documents/{id} and both slug routes, through the gateway, for every role without secrets."""
    with team.client("dev") as http:
        block = http.get(BLOCK).json()
        assert SECRET_VALUE not in json.dumps(block)
    routes = [f"/w/core/api/block_documents/{block['id']}", BLOCK,
              "/w/core/api/block_types/slug/secret/block_documents"]
    with team.client(user) as http:
        for route in routes:
            before = len(team.audit())
            reply = http.get(route, params={"include_secrets": "true"})
            assert reply.status_code == 403 and "secrets" in reply.json()["detail"], (route, reply.text)
            assert SECRET_VALUE not in reply.text
            record = _denied(team, before, 403, "with include_secrets")
            assert record["user"] == user and record["path"] == route.split("?")[0]
            plain = http.get(route)  # the same read without secrets works and shows none
            assert plain.status_code == 200 and SECRET_VALUE not in plain.text
    with team.client("svc-worker") as http:  # the worker role holds the secrets permission: the control
        before = len(team.audit())
        shown = http.get(routes[0], params={"include_secrets": "true"})
        assert shown.status_code == 200 and SECRET_VALUE in shown.text
        reads = [r for r in team.audit()[before:] if r["action"] == "secret.read"]
        assert reads and reads[-1]["user"] == "svc-worker" and SECRET_VALUE not in json.dumps(reads)


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
    before = len(team.audit())
    with team.client("dev") as http:
        reply = http.post("/w/core/api/flows/filter", content=b"{" + b" " * 1_200_000 + b"}",
                          headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "max_body_bytes" in reply.json()["detail"]
    assert _denied(team, before, 413, "max_body_bytes")["path"] == "/w/core/api/flows/filter"


def _basic(auth_string: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(auth_string.encode()).decode()}


def test_forged_expired_and_revoked_tokens_are_refused(team: Any) -> None:
    store = team.running.gateway.store
    with team.client() as http:
        user, token = team.tokens["vera"].split(":", 1)
        forged = token[:-1] + ("A" if token[-1] != "A" else "B")
        before = len(team.audit())
        assert http.post("/w/core/api/flows/filter", json={}, headers=_basic(f"{user}:{forged}")).status_code == 401
        assert _denied(team, before, 401, "invalid, expired or revoked")["user"] == "vera"
        before = len(team.audit())
        assert http.post("/w/core/api/flows/filter", json={},
                         headers=_basic(f"otto:{token}")).status_code == 401  # someone else's token
        _denied(team, before, 401, "does not belong to user 'otto'")
        before = len(team.audit())
        assert http.post("/w/core/api/flows/filter", json={}, headers={"authorization": "Basic !!!"}).status_code == 401
        _denied(team, before, 401, "malformed Basic credentials")
        _, short = store.create_token("vera", "core", ["viewer"], timedelta(seconds=1))
        time.sleep(1.5)
        before = len(team.audit())
        reply = http.post("/w/core/api/flows/filter", json={}, headers=_basic(f"vera:{short}"))
        assert reply.status_code == 401 and "expired" in reply.json()["detail"]
        _denied(team, before, 401, "expired")
        info, revoked = store.create_token("vera", "core", ["viewer"], timedelta(hours=1))
        before = len(team.audit())
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
        _denied(team, before, 401, "revoked")
    audit_text = (team.data_dir / "audit.jsonl").read_text()
    assert token not in audit_text and forged not in audit_text and short not in audit_text


def test_origins_outside_the_allow_list_are_refused(team: Any) -> None:
    with team.client("vera") as http:
        before = len(team.audit())
        evil = http.post("/w/core/api/flows/filter", json={}, headers={"origin": "https://evil.example"})
        assert evil.status_code == 403 and "cors_origins" in evil.json()["detail"]
        assert "access-control-allow-origin" not in evil.headers
        assert _denied(team, before, 403, "origin https://evil.example is not allowed")["user"] == "vera"
        ok = http.post("/w/core/api/flows/filter", json={}, headers={"origin": "https://ops.example.com"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://ops.example.com"
        before = len(team.audit())
        preflight = http.options("/w/core/api/flows/filter", headers={
            "origin": "https://evil.example", "access-control-request-method": "POST"})
        assert preflight.status_code == 403
        _denied(team, before, 403, "origin https://evil.example is not allowed")
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
        before = len(team.audit())
        running = http.post(f"/w/core/api/flow_runs/{run['id']}/set_state",
                            json={"state": {"type": "RUNNING", "name": "Running"}})
        assert running.status_code == 403 and "approver" in running.json()["detail"]
        record = _denied(team, before, 403, "paused for an approval")
        assert record["user"] == "svc-worker" and run["id"] in record["path"]
        before = len(team.audit())
        answer = http.post(f"/w/core/api/flow_runs/{run['id']}/input",
                           json={"key": "paused-1-response", "value": json.dumps({"approve": True})})
        assert answer.status_code == 403
        assert _denied(team, before, 403, "approval key 'paused-1-response'")["user"] == "svc-worker"
        before = len(team.audit())
        resume = http.post(f"/w/core/api/flow_runs/{run['id']}/resume", json={"run_input": {"approve": True}})
        assert resume.status_code == 403
        assert _denied(team, before, 403, "approve permission")["user"] == "svc-worker"
    with team.client("otto") as http:  # an owner may approve, but not a change the owner started
        own = http.post(f"/w/core/api/deployments/{deployment['id']}/create_flow_run", json={}).json()
        httpx.post(f"{upstream.api_url}/flow_runs/{own['id']}/set_state", json=paused,
                   headers={"authorization": upstream.authorization})
        before = len(team.audit())
        four_eyes = http.post(f"/w/core/api/flow_runs/{own['id']}/resume", json={})
        assert four_eyes.status_code == 403 and "four-eyes" in four_eyes.json()["detail"]
        assert _denied(team, before, 403, "four-eyes")["user"] == "otto"
    state = httpx.get(f"{upstream.api_url}/flow_runs/{run['id']}", headers={"authorization": upstream.authorization})
    assert state.json()["state"]["type"] == "PAUSED"


def test_the_api_rate_limit_per_principal_answers_429_with_retry_after(team: Any, second_gateway: Any) -> None:
    with httpx.Client(base_url=second_gateway.url, headers=team.basic("vera"), timeout=30) as http:
        before = len(team.audit())
        statuses = [http.post("/w/core/api/flows/filter", json={}) for _ in range(6)]
    assert [r.status_code for r in statuses[:3]] == [200] * 3, [r.status_code for r in statuses]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert int(limited[0].headers["retry-after"]) >= 1 and "too many requests from vera" in limited[0].json()["detail"]
    records = [r for r in team.audit()[before:] if r["action"] == "ratelimited"]
    assert records and records[-1]["user"] == "vera" and records[-1]["status"] == 429


def test_failed_authentications_from_one_address_are_rate_limited(team: Any, second_gateway: Any) -> None:
    """Token guessing is not free: after 3 failures (test setting) the address gets 429, audited once; a valid
    token from the same address still works (issue 18: the lockout cannot be used against others)."""
    gateway = second_gateway.gateway
    gateway.front.auth_guard = LoginGuard(3, 60, 30)
    before = len(team.audit())
    with httpx.Client(base_url=second_gateway.url, timeout=30) as http:
        guesses = [http.post("/w/core/api/flows/filter", json={}, headers=_basic(f"vera:nft_guess{i}")).status_code
                   for i in range(40)]
        guesses_limited = http.post("/w/core/api/flows/filter", json={}, headers=_basic("vera:nft_guess-last"))
        with_real_token = http.post("/w/core/api/flows/filter", json={}, headers=team.basic("vera"))

    async def websocket_status(headers: dict[str, str], frame: str) -> int | str:
        url = second_gateway.url.replace("http", "ws", 1) + "/w/core/api/events/out"
        try:
            async with connect(url, subprotocols=["prefect"], additional_headers=headers) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "auth", "token": frame}))
                reply = json.loads(await ws.recv())
                return str(reply.get("type"))
        except InvalidStatus as exc:
            return exc.response.status_code
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else -1

    bad_header = asyncio.run(websocket_status(_basic("vera:nft_guess-ws"), "vera:nft_guess-ws"))
    bad_frame = asyncio.run(websocket_status({}, "vera:nft_guess-frame"))
    good_frame = asyncio.run(websocket_status({}, team.tokens["vera"]))
    assert guesses[:3] == [401] * 3 and set(guesses[3:]) == {429}, guesses
    assert int(guesses_limited.headers["retry-after"]) > 0
    assert "too many failed authentications" in guesses_limited.json()["detail"]
    # A valid token from the same address is never held back by others' failures (a NAT, a proxy, a worker).
    assert with_real_token.status_code == 200, with_real_token.text
    assert bad_header == 429  # a bad credential on the upgrade: refused before the websocket handshake
    assert bad_frame == 1013  # a bad auth frame from the locked address: closed, try again later
    assert good_frame == "auth_success"
    records = team.audit()[before:]
    assert sum(r["action"] == "denied" and r["status"] == 401 for r in records) == 3
    limited = [r for r in records if r["action"] == "ratelimited"]
    assert 1 <= len(limited) <= 3, limited  # one per address and 10 s, not one per guess
    assert "nft_guess" not in json.dumps(records)


def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(
        team: Any, second_gateway: Any) -> None:
    spoofed = {"x-forwarded-for": "203.0.113.9"}
    before = len(team.audit())
    with team.client() as http:  # the main gateway trusts no proxy: the header is ignored
        http.post("/w/core/api/flows/filter", json={}, headers=spoofed)
    assert _denied(team, before, 401)["ip"] == "127.0.0.1"
    second_gateway.gateway.front.trusted = trusted_networks(["127.0.0.0/8"])
    before = len(team.audit())
    with httpx.Client(base_url=second_gateway.url, timeout=30) as http:
        http.post("/w/core/api/flows/filter", json={}, headers={"x-forwarded-for": "198.51.100.1, 203.0.113.9"})
    assert _denied(team, before, 401)["ip"] == "203.0.113.9"  # the right-most address the proxy saw


def test_a_redirect_never_points_at_the_internal_server(team: Any) -> None:
    upstream = team.running.gateway.upstreams["core"]
    with team.client("dev") as http:
        reply = http.post("/w/core/api/flows", json={"name": "gw-redirect-flow"})
    # The gateway forwards the canonical path (the route's own form), so Prefect has no redirect to send.
    assert reply.status_code == 201 and "location" not in reply.headers, reply.text
    assert reply.json()["name"] == "gw-redirect-flow" and upstream.base_url not in reply.text
