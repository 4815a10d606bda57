"""The metrics' own arithmetic, no server: how requests and audit records are counted, what a token of one
workspace sees, and that a scrape never waits for a fleet reading (one at a time, at most every interval)."""

from __future__ import annotations

import asyncio
import threading
import time

from nornflow.gateway.metrics import FleetMetrics, GatewayMetrics, classify, ratelimit_kind
from nornflow.monitor.fleet_state import FleetState


def test_paths_map_to_a_known_workspace_or_to_the_gateway() -> None:
    known = {"core"}
    assert classify("/w/core/api/flows/filter", known) == ("core", "api")
    assert classify("/w/core/api", known) == ("core", "api")
    assert classify("/w/core/runs", known) == ("core", "ui")
    assert classify("/w/nope/api/flows", known) == ("", "gateway")  # a scanner mints no label values
    assert classify("/admin", known) == ("", "gateway")


def test_audit_records_become_denials_logins_and_limit_hits() -> None:
    metrics = GatewayMetrics(["core"])
    for record in (
        {"action": "denied", "workspace": "core", "status": 403},
        {"action": "denied", "workspace": "ghost", "status": 401},
        {"action": "login.ok", "workspace": ""},
        {"action": "login.failed", "workspace": ""},
        {"action": "ratelimited", "workspace": "", "detail": {"reason": "login lockout (address)"}},
        {"action": "ratelimited", "workspace": "core", "detail": {"reason": "too many failed authentications from "
                                                                            "1.2.3.4: retry in 5 s", "muted": 7}},
        {"action": "user.add", "workspace": "core"},
    ):
        metrics.observe_record(record)
    text = metrics.render("core").decode()
    assert 'nornflow_gateway_denials_total{code="403",workspace="core"} 1.0' in text
    assert 'nornflow_gateway_denials_total{code="401",workspace=""} 1.0' in text
    assert 'nornflow_gateway_logins_total{outcome="locked"} 1.0' in text
    assert 'nornflow_gateway_ratelimited_total{limit="auth",workspace="core"} 8.0' in text  # 1 + 7 muted
    assert ratelimit_kind("websocket connects: retry in 3 s") == "websocket"
    assert ratelimit_kind("too many requests from vera: retry in 1 s") == "api"


def test_a_token_of_one_workspace_sees_only_its_series() -> None:
    metrics = GatewayMetrics(["core", "edge"])
    metrics.observe_request("/w/core/api/flows/filter", "POST", 200, 0.01)
    metrics.observe_request("/w/edge/api/flows/filter", "POST", 200, 0.01)
    metrics.observe_request("/login", "BREW", 405, 0.001)
    core = metrics.render("core").decode()
    assert 'workspace="core"' in core and 'workspace="edge"' not in core
    assert 'method="OTHER",workspace=""' in core


def test_a_scrape_renders_the_last_reading_and_starts_at_most_one_more() -> None:
    calls: list[float] = []
    release = threading.Event()

    def reader(workspace: str) -> FleetState:
        calls.append(time.monotonic())
        release.wait(5)
        return FleetState(at=time.time(), seconds=0.1, api_calls=15, devices={"ok": 3, "changed": 0, "failed": 1})

    async def scenario() -> None:
        fleet = FleetMetrics({"core": reader}, refresh_seconds=60)
        metrics = GatewayMetrics(["core"])
        first = fleet.poke("core")
        assert first is not None and fleet.poke("core") is first  # one reading in flight, not two
        started = time.monotonic()
        text = metrics.render("core", fleet).decode()
        assert time.monotonic() - started < 0.5  # the scrape did not wait for the reading
        assert "nornflow_fleet_devices" not in text and "nornflow_fleet_refresh_errors_total" in text
        release.set()
        await first
        text = metrics.render("core", fleet).decode()
        assert 'nornflow_fleet_devices{outcome="failed",workspace="core"} 1.0' in text
        assert fleet.poke("core") is None and len(calls) == 1  # fresh for refresh_seconds

    asyncio.run(scenario())


def test_a_failed_reading_keeps_the_last_one_and_is_counted() -> None:
    def broken(workspace: str) -> FleetState:
        raise ConnectionError("refused")

    async def scenario() -> None:
        fleet = FleetMetrics({"edge": broken}, refresh_seconds=0.01)
        for _ in range(2):
            task = fleet.poke("edge")
            assert task is not None
            await task
        assert fleet.errors["edge"] == 2 and "edge" not in fleet.states

    asyncio.run(scenario())


def test_closing_stops_waiting_for_a_reading_in_flight() -> None:
    release = threading.Event()

    def slow(workspace: str) -> FleetState:
        release.wait(5)
        return FleetState(at=time.time(), seconds=5.0, api_calls=15)

    async def scenario() -> None:
        fleet = FleetMetrics({"core": slow}, refresh_seconds=60)
        task = fleet.poke("core")
        assert task is not None
        started = time.monotonic()
        await fleet.aclose()
        assert task.cancelled() and time.monotonic() - started < 1.0

    try:
        asyncio.run(scenario())
    finally:
        release.set()
