"""Machines through the gateway with no code change: `prefect deploy`, a stock process worker,
the flow runs it starts, and Prefect's websockets (events in and out, logs out)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
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
from websockets.exceptions import ConnectionClosed

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
        output = worker.communicate(timeout=30)[0]
    assert state == "COMPLETED", output[-3000:]
    assert any("hello gw through the gateway" in message for message in messages)
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


def test_websockets_refuse_a_missing_or_wrong_auth_frame_and_a_missing_role(team: Any) -> None:
    async def close_code(path: str, first: dict[str, Any] | None, protocols: list[str] | None = None) -> int:
        try:
            async with connect(_ws_url(team, path), subprotocols=protocols or ["prefect"]) as ws:  # type: ignore[list-item]
                if first is not None:
                    await ws.send(json.dumps(first))
                reply = await asyncio.wait_for(ws.recv(), timeout=15)
                return 0 if json.loads(reply).get("type") == "auth_success" else -1
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else -2
        except Exception as exc:  # a refused handshake
            return getattr(getattr(exc, "response", None), "status_code", -3)

    async def scenario() -> dict[str, int]:
        return {
            "no frame": await close_code("/events/out", {"type": "hello"}),
            "wrong token": await close_code("/events/out", {"type": "auth", "token": "vera:nft_forged"}),
            "viewer on events/in": await close_code("/events/in", {"type": "auth", "token": team.tokens["vera"]}),
            "other workspace": await close_code("/events/out", {"type": "auth", "token": team.tokens["dana"]}),
            "no subprotocol": await close_code("/events/out", {"type": "auth", "token": team.tokens["vera"]},
                                               ["other"]),
            "viewer on events/out": await close_code("/events/out", {"type": "auth", "token": team.tokens["vera"]}),
        }

    before = len(team.audit())
    codes = asyncio.run(scenario())
    assert codes["viewer on events/out"] == 0
    for case in ("no frame", "wrong token", "viewer on events/in", "other workspace"):
        assert codes[case] == 1008, (case, codes)
    assert codes["no subprotocol"] in (1008, 403)
    denied = [r for r in team.audit()[before:] if r["method"] == "WS" and r["outcome"] == "denied"]
    assert len(denied) >= 5


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


def test_nobody_but_the_gateway_writes_audit_events(team: Any) -> None:
    forged = {"id": str(uuid.uuid4()), "occurred": "2026-01-01T00:00:00Z", "event": "nornflow.audit.approval",
              "resource": {"prefect.resource.id": "nornflow.user.april"}, "payload": {}}
    with team.client("svc-worker") as http:
        reply = http.post("/w/core/api/events", json=[forged])
        assert reply.status_code == 403 and "gateway only" in reply.json()["detail"]
        fine = dict(forged, id=str(uuid.uuid4()), event="nornflow.test.fine")
        assert http.post("/w/core/api/events", json=[fine]).status_code == 204

    async def over_websocket() -> int:
        async with connect(_ws_url(team, "/events/in"), subprotocols=["prefect"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "auth", "token": team.tokens["svc-worker"]}))
            assert json.loads(await ws.recv())["type"] == "auth_success"
            await ws.send(json.dumps(forged))
            try:
                await asyncio.wait_for(ws.recv(), timeout=15)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else -1
            return 0

    assert asyncio.run(over_websocket()) == 1008
