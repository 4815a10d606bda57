"""Issue 18: the gateway decides on what Prefect will execute, and forwards exactly that.

Each instance found from outside is tried again through the real gateway in front of the real
workspace servers; then a property-based test (hypothesis) generates equivalent spellings of
every guarded request (UUID forms, hydration wrappers, JSON escapes, duplicate keys, content
types and encodings, method and path variants) and checks that the gateway's decision on each
is its decision on the canonical request, for every role, or a refusal of what Prefect would not
read the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from starlette.requests import Request

from nornflow.gateway.app import Gateway
from nornflow.gateway.auth.caller import Principal
from nornflow.gateway.policy.decide import Decision, Refusal
from nornflow.gateway.policy.roles import perms_for
from nornflow.gateway.proxy.http import BadRequest, check_path
from nornflow.gateway.proxy.upstream import free_port, mirror_lab_flag
from nornflow.gateway.serve import running
from nornflow.gateway.settings import load_settings
from nornflow.settings import LAB_VARIABLE

pytestmark = pytest.mark.integration

PAUSED = {"state": {"type": "PAUSED", "name": "Paused",
                    "state_details": {"pause_key": "1", "pause_reschedule": False}}, "force": True}
DEFAULTS = {"x": 1, "y": 1, "templates": "examples/templates"}
SCHEMA = {"type": "object", "properties": {
    "x": {"type": "integer", "default": 0}, "y": {"type": "integer"}, "templates": {"type": "string"},
    "auto_approve": {"type": "boolean", "default": False}, "override_reason": {"type": "string"},
    "change_calendar": {"type": "string"}, "resume_of": {"type": "string"},
}}


def _as(team: Any, user: str) -> Any:
    return temporary_settings({PREFECT_API_URL: team.api(), PREFECT_API_AUTH_STRING: team.tokens[user]})


@pytest.fixture(scope="module")
def world(team: Any) -> dict[str, str]:
    """A deployment whose runners may set x only, a run of it paused for approval (started by rune),
    one started by otto, and a block document."""
    with _as(team, "dev"), get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(f"gw-decide-{uuid.uuid4().hex[:6]}")
        deployment = str(client.create_deployment(flow_id=flow_id, name="gw-decide", parameters=dict(DEFAULTS),
                                                  tags=["runner-sets:x"], parameter_openapi_schema=SCHEMA))
    upstream = team.running.gateway.upstreams["core"]
    runs = {}
    for user in ("rune", "otto"):
        with team.client(user) as http:
            reply = http.post(f"/w/core/api/deployments/{deployment}/create_flow_run", json={})
            assert reply.status_code == 201, reply.text
            runs[user] = reply.json()["id"]
        paused = httpx.post(f"{upstream.api_url}/flow_runs/{runs[user]}/set_state", json=PAUSED,
                            headers={"authorization": upstream.authorization})
        assert paused.status_code in (200, 201), paused.text
    name = f"gw-decide-{uuid.uuid4().hex[:6]}"
    with _as(team, "dev"):
        Secret(value="decide-Secret-4411").save(name)
    with team.client("dev") as http:
        block = http.get(f"/w/core/api/block_types/slug/secret/block_documents/name/{name}")
        assert block.status_code == 200, block.text
    return {"deployment": deployment, "rune_run": runs["rune"], "otto_run": runs["otto"],
            "block": block.json()["id"]}


def _denied(team: Any, before: int, reason: str) -> dict[str, Any]:
    found = [r for r in team.audit()[before:] if r["outcome"] == "denied" and reason in str(r["detail"].get("reason"))]
    assert found, f"no denial with {reason!r} among {team.audit()[before:]}"
    return found[-1]


# -- 1. a runner skips approval ------------------------------------------------------------------------
@pytest.mark.parametrize("parameters", [
    {"auto_approve": True}, {"auto_approve": "yes"}, {"auto_approve": 1}, {"auto_approve": "on"},
    {"auto_approve": {"__prefect_kind": "none", "value": True}},
    {"auto_approve": {"__prefect_kind": "json", "value": "true"}},
    {"__prefect_kind": "none", "value": {**DEFAULTS, "auto_approve": True}},
    {"auto_approve": {"__prefect_kind": "jinja", "template": "{{ 1 == 1 }}"}},
], ids=["bool", "yes", "one", "on", "none-kind", "json-kind", "top-level-wrapper", "jinja"])
def test_nobody_sets_auto_approve_outside_a_lab_workspace(team: Any, world: dict[str, str],
                                                          parameters: dict[str, Any]) -> None:
    url = f"/w/core/api/deployments/{world['deployment']}/create_flow_run"
    for user in ("rune", "dev", "otto", "svc-worker"):
        before = len(team.audit())
        with team.client(user) as http:
            reply = http.post(url, json={"parameters": parameters})
        assert reply.status_code == 403, (user, reply.text)
        assert "auto_approve" in reply.json()["detail"] and "not a lab" in reply.json()["detail"]
        assert _denied(team, before, "auto_approve")["user"] == user


def test_auto_approve_escaped_in_the_json_is_the_same_key(team: Any, world: dict[str, str]) -> None:
    body = b'{"parameters": {"\\u0061uto_approve": true}}'
    with team.client("rune") as http:
        reply = http.post(f"/w/core/api/deployments/{world['deployment']}/create_flow_run", content=body,
                          headers={"content-type": "application/json"})
    assert reply.status_code == 403 and "auto_approve" in reply.json()["detail"], reply.text


def test_auto_approve_cannot_become_a_deployment_default_or_runner_settable(team: Any, world: dict[str, str]) -> None:
    url = f"/w/core/api/deployments/{world['deployment']}"
    with team.client("otto") as http:
        default = http.patch(url, json={"parameters": {**DEFAULTS, "auto_approve": True}})
        assert default.status_code == 403 and "not a lab" in default.json()["detail"], default.text
        in_schema = http.patch(url, json={"parameter_openapi_schema": {
            **SCHEMA, "properties": {**SCHEMA["properties"], "auto_approve": {"type": "boolean", "default": True}}}})
        assert in_schema.status_code == 403, in_schema.text
        tagged = http.patch(url, json={"tags": ["runner-sets:x", "runner-sets:auto_approve"]})
        assert tagged.status_code == 403 and "never runner-settable" in tagged.json()["detail"], tagged.text
        wrapped = http.patch(url, json={"parameters": {**DEFAULTS, "override_reason": {
            "__prefect_kind": "workspace_variable", "variable_name": "why"}}})
        assert wrapped.status_code == 403 and "plain value" in wrapped.json()["detail"], wrapped.text


def test_a_wrapper_around_all_parameters_cannot_carry_a_governed_default(team: Any, world: dict[str, str]) -> None:
    url = f"/w/core/api/deployments/{world['deployment']}"
    wrapped = {"__prefect_kind": "none", "value": {**DEFAULTS, "auto_approve": True}}
    with team.client("otto") as http:
        reply = http.patch(url, json={"parameters": wrapped})  # Prefect hydrates a PATCH's parameters
        assert reply.status_code == 403 and "plain mapping" in reply.json()["detail"], reply.text
        assert "auto_approve" not in http.get(url).json()["parameters"]


def _automation(deployment: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"gw-decide-{uuid.uuid4().hex[:6]}", "enabled": False,
            "trigger": {"type": "event", "expect": ["nornflow.test.never"], "posture": "Reactive",
                        "threshold": 1, "within": 0},
            "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": deployment,
                         "parameters": parameters}]}


@pytest.mark.parametrize(("parameters", "reason"), [
    ({"auto_approve": True}, "not a lab"),
    ({"auto_approve": {"__prefect_kind": "jinja", "template": "{{ event.payload.go }}"}}, "plain value"),
    ({"__prefect_kind": "none", "value": {"auto_approve": True}}, "plain mapping"),
    ({"override_reason": "every time it fires"}, "approver"),
])
def test_an_automation_cannot_start_runs_with_governed_parameters(
        team: Any, world: dict[str, str], parameters: dict[str, Any], reason: str) -> None:
    before = len(team.audit())
    with team.client("dev") as http:
        reply = http.post("/w/core/api/automations/", json=_automation(world["deployment"], parameters))
    assert reply.status_code == 403 and reason in reply.json()["detail"], reply.text
    assert _denied(team, before, reason)["user"] == "dev"


def test_an_automation_with_plain_parameters_is_created(team: Any, world: dict[str, str]) -> None:
    with team.client("dev") as http:
        reply = http.post("/w/core/api/automations/", json=_automation(world["deployment"], {"x": 5}))
    assert reply.status_code == 201, reply.text


def test_the_lab_variable_is_written_by_nobody(team: Any) -> None:
    with team.client("otto") as http:
        create = http.post("/w/core/api/variables/", json={"name": LAB_VARIABLE, "value": True})
        assert create.status_code == 403 and "lab" in create.json()["detail"], create.text
        by_name = http.patch(f"/w/core/api/variables/name/{LAB_VARIABLE}", json={"value": True})
        assert by_name.status_code == 403
        other = http.post("/w/core/api/variables/", json={"name": f"gw_decide_{uuid.uuid4().hex[:6]}", "value": 1})
        assert other.status_code == 201, other.text
        renamed = http.patch(f"/w/core/api/variables/{other.json()['id'].replace('-', '')}",
                             json={"name": LAB_VARIABLE})
        assert renamed.status_code == 403, renamed.text
        assert http.get(f"/w/core/api/variables/name/{LAB_VARIABLE}").status_code == 404


@pytest.fixture(scope="module")
def lab_gateway(team: Any) -> Iterator[Any]:
    """A gateway in front of the same servers where workspace datacenter is marked ``lab: true``."""
    upstreams = {name: dataclasses.replace(up, lab=(name == "datacenter"))
                 for name, up in team.running.gateway.upstreams.items()}
    mirror_lab_flag(upstreams["datacenter"])
    settings = load_settings(None, host="127.0.0.1", port=free_port(), data_dir=team.data_dir,
                             workspaces=[{"name": "core"}, {"name": "datacenter", "lab": True}],
                             api_rate_per_second=500, api_burst=2000)
    try:
        with running(settings, SimpleNamespace(upstreams=upstreams)) as gw:  # type: ignore[arg-type]
            yield gw
    finally:
        mirror_lab_flag(team.running.gateway.upstreams["datacenter"])  # not a lab: the variable goes


def test_auto_approve_works_in_a_lab_workspace_only(team: Any, lab_gateway: Any) -> None:
    with httpx.Client(base_url=lab_gateway.url, headers=team.basic("dana"), timeout=30) as http:
        flow = http.post("/w/datacenter/api/flows/", json={"name": f"gw-lab-{uuid.uuid4().hex[:6]}"}).json()
        deployment = http.post("/w/datacenter/api/deployments/", json={
            "name": "gw-lab", "flow_id": flow["id"], "parameters": {"auto_approve": True}})
        assert deployment.status_code in (200, 201), deployment.text
        run = http.post(f"/w/datacenter/api/deployments/{deployment.json()['id']}/create_flow_run", json={})
        assert run.status_code == 201 and run.json()["parameters"]["auto_approve"] is True, run.text
        assert http.get(f"/w/datacenter/api/variables/name/{LAB_VARIABLE}").json()["value"] is True
        again = http.patch(f"/w/datacenter/api/variables/name/{LAB_VARIABLE}", json={"value": False})
        assert again.status_code == 403  # even in a lab, the setting is the one switch
    with httpx.Client(base_url=lab_gateway.url, headers=team.basic("otto"), timeout=30) as http:
        assert http.get(f"/w/core/api/variables/name/{LAB_VARIABLE}").status_code == 404


# -- 2. another spelling of the deployment id ----------------------------------------------------------
def _spellings(run_id: str) -> list[str]:
    bare = run_id.replace("-", "")
    return [bare, bare.upper(), run_id[:8] + run_id[9:], run_id.upper()]


def test_every_spelling_of_a_deployment_id_starts_a_run_with_its_starter_recorded(
        team: Any, world: dict[str, str]) -> None:
    store = team.running.gateway.store
    upstream = team.running.gateway.upstreams["core"]
    for spelling in _spellings(world["deployment"]):
        with team.client("otto") as http:
            reply = http.post(f"/w/core/api/deployments/{spelling}/create_flow_run", json={})
            assert reply.status_code == 201, (spelling, reply.text)
            run_id = reply.json()["id"]
            assert store.run_starter("core", run_id) == "otto", spelling
            httpx.post(f"{upstream.api_url}/flow_runs/{run_id}/set_state", json=PAUSED,
                       headers={"authorization": upstream.authorization}).raise_for_status()
            own = http.post(f"/w/core/api/flow_runs/{run_id.replace('-', '').upper()}/resume",
                            json={"run_input": {"approve": True, "plan_hash": "x"}})
            assert own.status_code == 403 and "four-eyes" in own.json()["detail"], own.text
            moved = http.post(f"/w/core/api/flow_runs/{run_id.replace('-', '')}/set_state",
                              json={"state": {"type": "RUNNING"}})
            assert moved.status_code == 403 and "four-eyes" in moved.json()["detail"], moved.text


@pytest.mark.parametrize("parameters,needs", [
    ({"override_reason": "INC-1"}, "approver"), ({"change_calendar": "/tmp/open.yaml"}, "developer"),
    ({"resume_of": "0b7c6a9e-0000-4000-8000-000000000000"}, "approver"),
    ({"__prefect_kind": "none", "value": {**DEFAULTS, "override_reason": "INC-2"}}, "approver"),
])
def test_a_runner_sets_no_governed_parameter_however_the_id_is_spelled(
        team: Any, world: dict[str, str], parameters: dict[str, Any], needs: str) -> None:
    for spelling in [world["deployment"], *_spellings(world["deployment"])]:
        before = len(team.audit())
        with team.client("rune") as http:
            reply = http.post(f"/w/core/api/deployments/{spelling}/create_flow_run", json={"parameters": parameters})
        assert reply.status_code == 403 and needs in reply.json()["detail"], (spelling, reply.text)
        assert _denied(team, before, needs)["user"] == "rune"


# -- 3. the hydration wrapper on an approval ----------------------------------------------------------
def test_an_approval_in_a_hydration_wrapper_is_stamped_and_audited_as_hydrated(
        team: Any, world: dict[str, str]) -> None:
    wrapped = {"run_input": {"__prefect_kind": "none", "value": {
        "approve": True, "plan_hash": "abc123", "approver": "mallory", "comment": "ok"}}}
    before = len(team.audit())
    with team.client("april") as http:
        http.post(f"/w/core/api/flow_runs/{world['rune_run']}/resume", json=wrapped)
    approvals = [r for r in team.audit()[before:] if r["action"] == "approval"]
    assert approvals and approvals[-1]["user"] == "april", team.audit()[before:]
    assert approvals[-1]["detail"]["approve"] is True and approvals[-1]["detail"]["plan_hash"] == "abc123"
    assert "mallory" not in json.dumps(approvals)


# -- the property: every equivalent spelling gets the canonical request's decision ----------------------
ROLE_OF = {"vera": "viewer", "rune": "runner", "april": "approver", "dev": "developer", "otto": "owner",
           "svc-worker": "worker"}
KEYS = ["x", "y", "templates", "auto_approve", "override_reason", "override_by", "change_calendar", "resume_of",
        "approval_timeout"]
VALUES = st.sampled_from([True, False, 1, 2, "yes", "INC-7", None, "examples/templates"])
PARAMETERS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3)


@st.composite
def canonical_requests(draw: st.DrawFn, ids: dict[str, str]) -> tuple[str, str, str, Any]:
    """(method, path template filled with canonical ids, query, body) of a guarded request."""
    kind = draw(st.sampled_from(["create", "bulk", "resume", "set_state", "input", "block", "variable",
                                 "deployment"]))
    if kind == "create":
        return "POST", f"/deployments/{ids['deployment']}/create_flow_run", "", {"parameters": draw(PARAMETERS)}
    if kind == "bulk":
        runs = draw(st.lists(PARAMETERS, min_size=1, max_size=2))
        return "POST", f"/deployments/{ids['deployment']}/create_flow_run/bulk", "", [{"parameters": p} for p in runs]
    run = draw(st.sampled_from([ids["rune_run"], ids["otto_run"]]))
    if kind == "resume":
        answer = {"approve": draw(st.booleans()), "plan_hash": "abc123", "approver": "mallory", "comment": "c"}
        return "POST", f"/flow_runs/{run}/resume", "", {"run_input": answer}
    if kind == "set_state":
        state = draw(st.sampled_from(["RUNNING", "SCHEDULED", "CANCELLING", "PENDING"]))
        return "POST", f"/flow_runs/{run}/set_state", "", {"state": {"type": state}, "force": draw(st.booleans())}
    if kind == "input":
        key = draw(st.sampled_from(["paused-1-response", "notes"]))
        value = json.dumps({"approve": True, "plan_hash": "abc123", "approver": "mallory"})
        return "POST", f"/flow_runs/{run}/input", "", {"key": key, "value": value}
    if kind == "block":
        return "GET", f"/block_documents/{ids['block']}", draw(st.sampled_from(
            ["include_secrets=true", "include_secrets=false", ""])), None
    if kind == "variable":
        return "POST", "/variables/", "", {"name": draw(st.sampled_from([LAB_VARIABLE, "other_var"])), "value": True}
    return "PATCH", f"/deployments/{ids['deployment']}", "", {"parameters": {**DEFAULTS, **draw(PARAMETERS)}}


def _wrap(value: Any, how: str) -> Any:
    if how == "none":
        return {"__prefect_kind": "none", "value": value}
    if how == "json":
        return {"__prefect_kind": "json", "value": json.dumps(value)}
    if how == "nested":
        return {"__prefect_kind": "none", "value": {"__prefect_kind": "none", "value": value}}
    return value


def _escape(text: str, rng: random.Random) -> str:
    """JSON text with some letters inside its strings written as \\uXXXX escapes (existing escapes kept)."""
    out, in_string, index = [], False, 0
    while index < len(text):
        char = text[index]
        if in_string and char == "\\":
            out.append(text[index:index + 2])
            index += 2
            continue
        if char == '"':
            in_string = not in_string
            out.append(char)
        elif in_string and char.isalpha() and rng.random() < 0.3:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
        index += 1
    return "".join(out)


@st.composite
def spellings(draw: st.DrawFn, canonical: tuple[str, str, str, Any]) -> tuple[str, str, str, bytes, str, bool]:
    """An equivalent spelling: (method, raw path, query, body bytes, content type, Prefect reads it the same)."""
    method, path, query, body = canonical
    same = True
    rng = random.Random(draw(st.integers(0, 2**16)))
    # UUIDs: any dash dropped, either case (Starlette's uuid convertor); letters percent-encoded.
    parts = []
    for segment in path.split("/"):
        try:
            uuid.UUID(segment)
            form = draw(st.sampled_from(["same", "bare", "upper", "one-dash", "bare-upper"]))
            segment = {"same": segment, "bare": segment.replace("-", ""), "upper": segment.upper(),
                       "one-dash": segment.replace("-", "", 1), "bare-upper": segment.replace("-", "").upper()}[form]
        except ValueError:
            pass
        parts.append(segment)
    path = "/".join(parts)
    if draw(st.booleans()):
        path = "".join(f"%{ord(c):02X}" if c.isalpha() and rng.random() < 0.2 else c for c in path)
    if draw(st.booleans()) and not path.endswith("/"):
        path += "/"
    if method == "GET" and draw(st.booleans()):
        method = "HEAD"
    if draw(st.integers(0, 9)) == 0:
        method, same = method.lower(), False  # Starlette matches the method as sent: Prefect answers 405
    content_type = "application/json"
    raw = b""
    if body is not None:
        how = draw(st.sampled_from(["plain", "none", "json", "nested"]))
        if isinstance(body, dict) and "parameters" in body and method.upper() == "POST":
            body = {**body, "parameters": (
                _wrap({**DEFAULTS, **body["parameters"]}, how) if how != "plain" and draw(st.booleans())
                else {k: _wrap(v, how) for k, v in body["parameters"].items()})}
        elif isinstance(body, dict) and "run_input" in body:
            body = {**body, "run_input": _wrap(body["run_input"], how)}
        text = json.dumps(body, indent=draw(st.sampled_from([None, 1, 4])))
        if draw(st.booleans()):
            text = _escape(text, rng)
        if draw(st.integers(0, 7)) == 0 and text.startswith("{") and len(text) > 2:
            text, same = '{"duplicate": 1, "duplicate": 2, ' + text[1:], False
        encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-32"]))
        raw = text.encode(encoding)
        content_type = draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                             "APPLICATION/JSON", "application/vnd.prefect+json",
                                             "text/plain", ""]))
        if content_type in ("text/plain", ""):
            same = False  # FastAPI reads neither as JSON: Prefect answers 422
    return method, path, query, raw, content_type, same


def _request(method: str, raw_path: str, query: str, body: bytes, content_type: str) -> Request:
    headers = [(b"content-type", content_type.encode())] if content_type else []
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    full = "/w/core/api" + raw_path
    scope = {"type": "http", "method": method, "path": unquote(full), "raw_path": full.encode(),
             "query_string": query.encode(), "headers": headers, "client": ("127.0.0.1", 40000),
             "server": ("127.0.0.1", 80), "scheme": "http", "root_path": "", "http_version": "1.1"}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def _decision(gateway: Gateway, principal: Principal, method: str, raw_path: str, query: str, body: bytes,
                    content_type: str) -> tuple[Any, ...]:
    request = _request(method, raw_path, query, body, content_type)
    try:
        check_path(request.scope["raw_path"])
        decided = await gateway.decider.decide(request, gateway.upstreams["core"],
                                               request.url.path[len("/w/core/api"):], principal)
    except BadRequest as exc:
        return ("refused", exc.status, exc.message)
    if isinstance(decided, Refusal):
        return ("refused", decided.status, decided.reason)
    assert isinstance(decided, Decision)
    return ("forwarded", decided.match.route.method, decided.match.path, decided.body, json.dumps(decided.approval))


@pytest.fixture(scope="module")
def decider(team: Any) -> Iterator[tuple[Gateway, asyncio.Runner]]:
    """A gateway object on the team's servers, store and audit, driven in this thread's own event loop."""
    live = team.running.gateway
    gateway = Gateway(live.settings, live.store, live.audit, live.upstreams)
    with asyncio.Runner() as runner:
        yield gateway, runner
        runner.run(gateway.client.aclose())


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(data=st.data())
def test_equivalent_spellings_get_the_canonical_decision_for_every_role(
        team: Any, world: dict[str, str], decider: tuple[Gateway, asyncio.Runner], data: st.DataObject) -> None:
    gateway, runner = decider
    canonical = data.draw(canonical_requests(world), label="canonical")
    user = data.draw(st.sampled_from(sorted(ROLE_OF)), label="user")
    roles = frozenset([ROLE_OF[user]])
    principal = Principal(user, "token", "core", roles, perms_for(roles))
    method, path, query, body = canonical
    plain = json.dumps(body).encode() if body is not None else b""
    expected = runner.run(_decision(gateway, principal, method, quote(path), query, plain, "application/json"))
    variant = data.draw(spellings(canonical), label="variant")
    got = runner.run(_decision(gateway, principal, *variant[:5]))
    if variant[5]:
        assert got == expected, (variant, got, expected)
    else:
        assert got[0] == "refused" and got[1] in (400, 403, 415), (variant, got)


# -- 4. secrets stay secret: writes (nornflow.gateway.policy.blocks, test_block_schemas.py) and reads -------------
def test_a_secret_holding_a_json_object_is_masked_for_every_reader_without_secrets(team: Any) -> None:
    """Prefect obfuscates only a scalar at a secret field's exact path: a Secret whose value is an object
    (what `secret:secret/<name>#<key>` references read) came back in clear on a plain GET."""
    name, value = f"gw-json-{uuid.uuid4().hex[:6]}", "json-Secret-5581"
    with _as(team, "dev"):
        Secret(value={"username": "netops", "password": value}).save(name)
    base = "/w/core/api/block_types/slug/secret/block_documents"
    for user in ("vera", "rune", "april", "dev"):
        with team.client(user) as http:
            one = http.get(f"{base}/name/{name}")
            assert one.status_code == 200 and one.json()["data"] == {"value": "********"}, one.text
            listed = http.get(base)
            by_id = http.get(f"/w/core/api/block_documents/{one.json()['id']}")
            filtered = http.post("/w/core/api/block_documents/filter", json={"limit": 200})
            for reply in (listed, by_id, filtered):
                assert reply.status_code == 200 and value not in reply.text and "netops" not in reply.text
    with team.client("svc-worker") as http:  # the secrets permission, asked for: the value (and audited)
        shown = http.get(f"{base}/name/{name}", params={"include_secrets": "true"})
        assert shown.json()["data"]["value"]["password"] == value


def test_an_anonymous_caller_cannot_tell_which_workspaces_exist(team: Any) -> None:
    with team.client() as http:
        known, unknown = http.get("/w/core/api/flows/filter"), http.get("/w/no-such-ws/api/flows/filter")
        assert (known.status_code, unknown.status_code) == (401, 401) and known.json() == unknown.json()
        assert http.get("/healthz").json() == {"status": "ok"}
    with team.client("vera") as http:  # a known caller is told the truth
        assert http.get("/w/no-such-ws/api/flows/filter").status_code == 404


def test_a_developer_cannot_un_secret_a_secret_block(team: Any, world: dict[str, str]) -> None:
    """Issue 18, item 4, through the gateway: a schema without secret fields for the Secret type, then the
    document moved onto it. Both refused and audited; a viewer still sees the value masked."""
    with team.client("dev") as http:
        document = http.get(f"/w/core/api/block_documents/{world['block']}").json()
        fields = {**document["block_schema"]["fields"], "secret_fields": []}
        before = len(team.audit())
        schema = http.post("/w/core/api/block_schemas/", json={
            "block_type_id": document["block_type_id"], "fields": fields, "capabilities": []})
        assert schema.status_code == 403, schema.text
        assert _denied(team, before, "")["path"].endswith("/block_schemas/")
        before = len(team.audit())
        moved = http.patch(f"/w/core/api/block_documents/{world['block']}",
                           json={"block_schema_id": str(uuid.uuid4()), "data": {}})
        assert moved.status_code in (403, 404), moved.text  # no such schema: refused before Prefect is asked
        assert team.audit()[before:] and team.audit()[-1]["outcome"] == "denied"
        deleted = http.delete(f"/w/core/api/block_schemas/{document['block_schema_id']}")
        assert deleted.status_code == 403 and "owner" in deleted.json()["detail"], deleted.text
    with team.client("vera") as http:
        shown = http.get(f"/w/core/api/block_documents/{world['block']}")
        assert shown.status_code == 200 and "decide-Secret-4411" not in shown.text
