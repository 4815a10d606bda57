"""Machines through the gateway with no code change: `prefect deploy`, a stock process worker,
the flow runs it starts, and Prefect's websockets (events in and out, logs out)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.events import Event
from prefect.events.clients import get_events_client, get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from nornflow.gateway.auth.caller import SESSION_COOKIE
from nornflow.gateway.proxy.upstream import free_port
from nornflow.gateway.proxy.websocket import AUTH_FRAME_TIMEOUT
from nornflow.gateway.serve import running
from nornflow.gateway.settings import load_settings

pytestmark = pytest.mark.integration
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _env(team: Any, user: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=team.api(), PREFECT_API_AUTH_STRING=team.tokens[user],
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_HOME=str(team.data_dir / f"home-{user}"), **extra)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


class LogTap:
    """A viewer following a flow run's live logs over ``/logs/out`` through the gateway, in a thread."""

    def __init__(self, team: Any, user: str, flow_run_id: str, until: str) -> None:
        self.url, self.token, self.run, self.until = _ws_url(team, "/logs/out"), team.tokens[user], flow_run_id, until
        self.messages: list[str] = []
        self.handshake = ""
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._follow()), daemon=True)

    def __enter__(self) -> LogTap:
        self.thread.start()
        assert self.ready.wait(30), "the log subscriber did not connect"
        assert self.handshake == "auth_success", self.handshake
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=5)

    async def _follow(self) -> None:
        try:
            async with connect(self.url, subprotocols=["prefect"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "auth", "token": self.token}))
                self.handshake = json.loads(await ws.recv()).get("type", "")
                await ws.send(json.dumps({"type": "filter", "filter": {"flow_run_id": {"any_": [self.run]}}}))
                self.ready.set()
                deadline = time.monotonic() + 170
                while time.monotonic() < deadline and not any(self.until in m for m in self.messages):
                    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=deadline - time.monotonic()))
                    if frame.get("type") == "log":
                        self.messages.append(frame["log"]["message"])
        except (ConnectionClosed, TimeoutError) as exc:
            self.handshake = self.handshake or f"closed: {exc}"
        finally:
            self.ready.set()


def test_prefect_deploy_and_a_stock_worker_run_through_the_gateway(team: Any, tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text(textwrap.dedent("""
        from prefect import flow, get_run_logger

        @flow
        def hello(name: str = "world") -> str:
            get_run_logger().info("hello %s through the gateway", name)
            return name
    """))
    (tmp_path / "prefect.yaml").write_text(textwrap.dedent(f"""
        name: gateway-e2e
        prefect-version: 3.9.1
        pull:
          - prefect.deployments.steps.set_working_directory:
              directory: {tmp_path}
        deployments:
          - name: hello-gw
            entrypoint: hello.py:hello
            work_pool: {{name: gw-pool}}
            tags: ["runner-sets:name"]      # runners may choose the name; nothing else
    """))
    before = len(team.audit())
    dev = _env(team, "dev")
    _run([PREFECT, "work-pool", "create", "gw-pool", "--type", "process"], dev, tmp_path)
    _run([PREFECT, "deploy", "--all"], dev, tmp_path)
    # the runner starts it, the worker (its own token) runs it; the flow run inherits the worker's credential
    with team.client("rune") as http:
        deployment = http.get("/w/core/api/deployments/name/hello/hello-gw").json()
        run = http.post(f"/w/core/api/deployments/{deployment['id']}/create_flow_run",
                        json={"parameters": {"name": "gw"}}).json()
    tap = LogTap(team, "vera", run["id"], "through the gateway").__enter__()  # a viewer follows the run live
    worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "gw-pool", "--type", "process"],
                              env=_env(team, "svc-worker", PREFECT_WORKER_QUERY_SECONDS="1",
                                       PREFECT_WORKER_PREFETCH_SECONDS="5"),
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        state = None
        deadline = time.monotonic() + 150
        with team.client("vera") as http:
            while time.monotonic() < deadline:
                state = http.get(f"/w/core/api/flow_runs/{run['id']}").json()["state"]["type"]
                if state in ("COMPLETED", "FAILED", "CRASHED"):
                    break
                time.sleep(1)
            messages: list[str] = []
            while time.monotonic() < deadline and not any("through the gateway" in m for m in messages):
                time.sleep(0.5)  # the flow run sends its last logs after its final state
                messages = [entry["message"] for entry in http.post(
                    "/w/core/api/logs/filter", json={"logs": {"flow_run_id": {"any_": [run["id"]]}}}).json()]
    finally:
        worker.terminate()
        try:
            output = worker.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:  # a stock worker that does not stop on SIGTERM in time (loaded CI)
            worker.kill()
            output = worker.communicate(timeout=30)[0]
        tap.__exit__()
    assert state == "COMPLETED", output[-3000:]
    assert any("hello gw through the gateway" in message for message in messages)
    # the same line reached the viewer live, over the /logs/out websocket through the gateway
    assert any("hello gw through the gateway" in message for message in tap.messages), tap.messages[-20:]
    denied = [r for r in team.audit()[before:] if r["user"] == "svc-worker" and r["outcome"] == "denied"]
    assert not denied, denied  # the worker's token was enough for everything a worker does


def test_events_flow_in_and_out_over_websockets(team: Any) -> None:
    name = f"nornflow.test.{uuid.uuid4().hex[:8]}"

    async def scenario() -> list[Event]:
        seen: list[Event] = []
        with temporary_settings({PREFECT_API_URL: team.api(), PREFECT_API_AUTH_STRING: team.tokens["vera"]}):
            subscriber = get_events_subscriber(filter=EventFilter(event=EventNameFilter(name=[name])))
            async with subscriber:
                with temporary_settings({PREFECT_API_AUTH_STRING: team.tokens["svc-worker"]}):
                    async with get_events_client() as events:
                        await events.emit(Event(event=name, resource={"prefect.resource.id": "nornflow.test"}))

                async def first() -> None:
                    async for event in subscriber:
                        seen.append(event)
                        return

                await asyncio.wait_for(first(), timeout=30)
        return seen

    seen = asyncio.run(scenario())
    assert [e.event for e in seen] == [name]


def _ws_url(team: Any, path: str) -> str:
    return team.api().replace("http", "ws", 1) + path


async def _close_code(team: Any, path: str, first: dict[str, Any] | None, protocols: list[str] | None = None,
                      **options: Any) -> int:
    """0 when the gateway answers auth_success, the close code when it closes, the HTTP status when it
    refuses the handshake."""
    try:
        async with connect(_ws_url(team, path), subprotocols=protocols or ["prefect"],  # type: ignore[list-item]
                           **options) as ws:
            if first is not None:
                await ws.send(json.dumps(first))
            reply = await asyncio.wait_for(ws.recv(), timeout=AUTH_FRAME_TIMEOUT + 10)
            return 0 if json.loads(reply).get("type") == "auth_success" else -1
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else -2
    except InvalidStatus as exc:  # a refused handshake
        return exc.response.status_code


def test_websockets_refuse_a_missing_or_wrong_auth_frame_and_a_missing_role(team: Any) -> None:
    session = team.login("dana").cookies[SESSION_COOKIE]  # dana has no role in core

    async def scenario() -> dict[str, int]:
        cases = {
            "no frame": _close_code(team, "/events/out", {"type": "hello"}),
            "silence": _close_code(team, "/events/out", None),  # nothing sent until the gateway's timeout
            "null token": _close_code(team, "/events/out", {"type": "auth", "token": None}),
            "wrong token": _close_code(team, "/events/out", {"type": "auth", "token": "vera:nft_forged"}),
            "viewer on events/in": _close_code(team, "/events/in", {"type": "auth", "token": team.tokens["vera"]}),
            "other workspace": _close_code(team, "/events/out", {"type": "auth", "token": team.tokens["dana"]}),
            "logs, other workspace": _close_code(team, "/logs/out", {"type": "auth", "token": team.tokens["dana"]}),
            "logs, no role": _close_code(team, "/logs/out", {"type": "auth", "token": None},
                                         additional_headers={"cookie": f"{SESSION_COOKIE}={session}"}),
            "no subprotocol": _close_code(team, "/events/out", {"type": "auth", "token": team.tokens["vera"]},
                                          ["other"]),
            "evil origin": _close_code(team, "/events/out", {"type": "auth", "token": team.tokens["vera"]},
                                       origin="https://evil.example"),
            "viewer on events/out": _close_code(team, "/events/out",
                                                {"type": "auth", "token": team.tokens["vera"]}),
            "viewer on logs/out": _close_code(team, "/logs/out", {"type": "auth", "token": team.tokens["vera"]}),
        }
        codes = await asyncio.gather(*cases.values())
        return dict(zip(cases, codes, strict=True))

    before = len(team.audit())
    codes = asyncio.run(scenario())
    assert codes["viewer on events/out"] == 0 and codes["viewer on logs/out"] == 0, codes
    for case in ("no frame", "silence", "null token", "wrong token", "viewer on events/in", "other workspace",
                 "logs, other workspace", "logs, no role"):
        assert codes[case] == 1008, (case, codes)
    assert codes["no subprotocol"] in (1008, 403)
    assert codes["evil origin"] == 403, codes
    denied = [r for r in team.audit()[before:] if r["method"] == "WS" and r["outcome"] == "denied"]
    reasons = {(r["path"], str(r["detail"].get("reason", ""))) for r in denied}

    def refused(path: str, words: str) -> None:
        assert any(p.endswith(path) and words in reason for p, reason in reasons), (path, words, reasons)

    refused("/events/out", "expected an auth frame first (TimeoutError)")
    refused("/events/out", "no credential in the auth frame")
    refused("/events/out", "origin https://evil.example is not allowed")
    refused("/logs/out", "the token is for workspace 'datacenter'")
    refused("/logs/out", "dana may not open /logs/out in workspace 'core'")
    assert len(denied) >= 10
    assert team.tokens["vera"].split(":", 1)[1] not in (team.data_dir / "audit.jsonl").read_text()


def test_websocket_connects_over_the_limit_get_429_before_the_handshake(team: Any) -> None:
    """A second gateway in front of the same servers, allowing 2 websocket connects a minute."""
    settings = load_settings(None, host="127.0.0.1", port=free_port(), data_dir=team.data_dir,
                             workspaces=[{"name": "core"}, {"name": "datacenter"}], websocket_connects_per_minute=2)
    with running(settings, team.running.supervisor) as gw:
        url = gw.url.replace("http", "ws", 1) + "/w/core/api/events/in"
        header = {"Authorization": team.basic("svc-worker")["authorization"]}  # as Prefect's events client sends

        async def attempt() -> tuple[int, dict[str, str], str]:
            try:
                async with connect(url, subprotocols=["prefect"], additional_headers=header) as ws:  # type: ignore[list-item]
                    await ws.send(json.dumps({"type": "auth", "token": team.tokens["svc-worker"]}))
                    return 0 if json.loads(await ws.recv())["type"] == "auth_success" else -1, {}, ""
            except InvalidStatus as exc:
                return exc.response.status_code, dict(exc.response.headers), exc.response.body.decode()

        async def scenario() -> list[tuple[int, dict[str, str], str]]:
            return [await attempt() for _ in range(3)]

        before = len(team.audit())
        results = asyncio.run(scenario())
    assert [status for status, _, _ in results] == [0, 0, 429], results
    _, headers, body = results[2]
    assert int(headers["retry-after"]) > 0 and "too many websocket connections for svc-worker" in body
    assert headers["x-content-type-options"] == "nosniff"
    limited = [r for r in team.audit()[before:] if r["action"] == "ratelimited" and r["method"] == "WS"]
    assert limited and limited[-1]["user"] == "svc-worker" and limited[-1]["status"] == 429


def test_audit_records_reach_the_workspace_event_feed(team: Any) -> None:
    with team.client("vera") as http:
        http.get("/w/core/api/block_types/slug/secret/block_documents/name/nothing?include_secrets=true")
        deadline = time.monotonic() + 20
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not found:
            reply = http.post("/w/core/api/events/filter", json={
                "filter": {"event": {"prefix": ["nornflow.audit.denied"]}}, "limit": 50})
            found = [e for e in reply.json().get("events", []) if e["resource"]["prefect.resource.name"] == "vera"]
            time.sleep(0.5)
    assert found, "the denial was not shipped to the workspace as a nornflow.audit.denied event"
    assert httpx.get(f"{team.url}/healthz").json()["status"] == "ok"


def _events(team: Any, user: str, flt: dict[str, Any], timeout: float = 30) -> list[dict[str, Any]]:
    """Poll the workspace's event feed through the gateway until ``flt`` finds something."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    with team.client(user) as http:
        while time.monotonic() < deadline and not found:
            reply = http.post("/w/core/api/events/filter", json={"filter": flt, "limit": 50})
            assert reply.status_code == 200, reply.text
            found = reply.json().get("events", [])
            if not found:
                time.sleep(0.5)
    return found


def test_audit_records_written_by_the_cli_reach_the_event_feed(team: Any) -> None:
    """The CLI appends to audit.jsonl in its own process; the gateway's shipper tails the file."""
    done = subprocess.run([sys.executable, "-m", "nornflow.cli", "token", "create", "--user", "vera",
                           "--workspace", "core", "--role", "viewer", "--ttl", "1h", "--description", "shipped"],
                          capture_output=True, text=True, check=False,
                          env={"NORNFLOW_DATA_DIR": str(team.data_dir), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    created = [r for r in team.audit() if r["action"] == "token.create" and r["workspace"] == "core"]
    assert created, "the CLI wrote no token.create record"
    seq = str(created[-1]["seq"])
    events = _events(team, "vera", {"event": {"prefix": ["nornflow.audit.token.create"]},
                                    "resource": {"labels": {"nornflow.audit.seq": [seq]}}})
    assert [e["payload"]["seq"] for e in events] == [int(seq)], events
    assert events[0]["payload"]["hash"] == created[-1]["hash"]
    state = json.loads((team.data_dir / "audit-shipped.json").read_text())
    assert state["core"] >= int(seq)  # where shipping resumes after a restart


def test_nobody_but_the_gateway_writes_audit_events(team: Any) -> None:
    forged = {"id": str(uuid.uuid4()), "occurred": "2026-01-01T00:00:00Z", "event": "nornflow.audit.approval",
              "resource": {"prefect.resource.id": "nornflow.user.april"}, "payload": {}}
    with team.client("svc-worker") as http:
        reply = http.post("/w/core/api/events", json=[forged])
        assert reply.status_code == 403 and "gateway only" in reply.json()["detail"]
        # the same event with its name in JSON escapes: decided on the parsed name (issue 18)
        escaped = json.dumps([forged]).replace('"nornflow.audit', '"\\u006eornflow.audit')
        assert "\\u006e" in escaped
        reply = http.post("/w/core/api/events", content=escaped, headers={"content-type": "application/json"})
        assert reply.status_code == 403 and "gateway only" in reply.json()["detail"]
        fine = dict(forged, id=str(uuid.uuid4()), event="nornflow.test.fine")
        assert http.post("/w/core/api/events", json=[fine]).status_code == 204

    async def over_websocket(frame: str) -> int:
        async with connect(_ws_url(team, "/events/in"), subprotocols=["prefect"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "auth", "token": team.tokens["svc-worker"]}))
            assert json.loads(await ws.recv())["type"] == "auth_success"
            await ws.send(frame)
            try:
                await asyncio.wait_for(ws.recv(), timeout=15)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else -1
            return 0

    assert asyncio.run(over_websocket(json.dumps(forged))) == 1008
    assert asyncio.run(over_websocket(json.dumps(forged).replace('"nornflow.audit', '"\\u006eornflow.audit'))) == 1008
