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


def test_the_running_proposal_waits_for_the_scheduled_instant(monkeypatch):
    from prefect import flow_engine
    from prefect.states import Pending, Running

    proposals: list[tuple[str, float]] = []

    def propose(client, state, **kwargs):
        proposals.append((state.type.value, time.time()))
        return state

    def run_flow(flow, flow_run=None, **kwargs):  # what the engine does: Pending, then Running (twice: a retry)
        for state in (Pending(), Running(), Running()):
            flow_engine.propose_state_sync(None, state, flow_run_id=flow_run.id)
        return "ran"

    monkeypatch.setattr(flow_engine, "run_flow", run_flow)
    monkeypatch.setattr(flow_engine, "propose_state_sync", propose)
    monkeypatch.setattr(flow_engine, "propose_state", propose)
    ontime.install()
    wrapped = flow_engine.run_flow
    ontime.install()
    assert flow_engine.run_flow is wrapped  # installed once
    target = datetime.now(UTC) + timedelta(seconds=0.4)
    started = time.time()
    assert flow_engine.run_flow("f", flow_run=SimpleNamespace(id="r1", expected_start_time=target)) == "ran"
    (pending, at_pending), (running, at_running), (_, at_retry) = proposals
    assert pending == "PENDING" and at_pending - started < 0.1  # not held
    assert running == "RUNNING" and 0 <= at_running - target.timestamp() < 0.05
    assert at_retry - at_running < 0.05  # waits once
    proposals.clear()
    flow_engine.run_flow("f", flow_run=SimpleNamespace(id="r2", expected_start_time=None))  # a manual run
    assert [p for p, _ in proposals] == ["PENDING", "RUNNING", "RUNNING"]


def test_only_a_scheduled_run_taken_late_is_reported_as_late():
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("prefect.nornflow.ontime")
    logger.addHandler(handler)
    try:
        past = datetime.now(UTC) - timedelta(seconds=6)
        ontime._report(past, 0.0, scheduled=False)  # an event or a person started it: no complaint
        assert not [r for r in records if r.levelno >= logging.WARNING]
        ontime._report(past, 0.0, scheduled=True)
        [late] = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
        assert "after the scheduled start" in late and "PREFECT_WORKER_PREFETCH_SECONDS" in late
    finally:
        logger.removeHandler(handler)
