"""The on-time start: never before the scheduled instant, at once when it has passed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from nornflow.triggers import ontime


def test_waits_until_the_instant_and_not_before():
    target = datetime.now(UTC) + timedelta(seconds=0.4)
    waited = ontime.wait_until(target)
    now = time.time()
    assert now >= target.timestamp()
    assert now - target.timestamp() < 0.05
    assert 0.3 < waited <= 0.4


def test_a_passed_or_far_instant_is_not_waited_for():
    assert ontime.wait_until(datetime.now(UTC) - timedelta(seconds=5)) == 0
    assert ontime.wait_until(datetime.now(UTC) + timedelta(hours=2)) == 0  # left to Prefect's own wait


def test_scheduled_start_is_aware():
    naive = datetime(2027, 1, 1, 2, 0, 15)
    assert ontime.scheduled_start(SimpleNamespace(expected_start_time=naive)) == naive.replace(tzinfo=UTC)
    assert ontime.scheduled_start(SimpleNamespace(expected_start_time=None)) is None


def test_install_wraps_prefects_run_flow_once(monkeypatch):
    from prefect import flow_engine

    calls = []
    monkeypatch.setattr(flow_engine, "run_flow", lambda flow, flow_run=None, **kw: calls.append(time.time()) or "ran")
    ontime.install()
    wrapped = flow_engine.run_flow
    ontime.install()
    assert flow_engine.run_flow is wrapped  # installed once
    target = datetime.now(UTC) + timedelta(seconds=0.3)
    assert flow_engine.run_flow("f", flow_run=SimpleNamespace(expected_start_time=target)) == "ran"
    assert len(calls) == 1 and calls[0] >= target.timestamp()
    assert flow_engine.run_flow("f", flow_run=SimpleNamespace(expected_start_time=None)) == "ran"  # a manual run
    assert len(calls) == 2
