"""nornflow.engine.patches: flow-run heartbeats still go out, and the heartbeat thread ends with the flow."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from nornflow.engine import patches


class FakeEngine:
    heartbeat_seconds = 30

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.flow_run = SimpleNamespace(state=SimpleNamespace(is_final=lambda: False))
        self.logger = SimpleNamespace(debug=lambda *a, **k: None)

    def _build_heartbeat_event_template(self) -> tuple[str, list[str]]:
        return "resource", ["related"]

    def _emit_flow_run_heartbeat(self, resource: str, related: list[str]) -> None:
        self.sent.append((resource, related))


def _heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "nornflow-flow-heartbeat"]


def test_heartbeat_is_sent_and_its_thread_is_gone_when_the_flow_ends() -> None:
    engine = FakeEngine()
    with patches.send_heartbeats(engine):
        deadline = threading.Event()
        for _ in range(100):  # the first heartbeat goes out at once
            if engine.sent:
                break
            deadline.wait(0.01)
        assert _heartbeat_threads(), "the heartbeat thread runs while the flow does"
    assert engine.sent == [("resource", ["related"])]
    # Prefect's own loop sleeps in 1 s steps, so its thread outlives a 2 s-bounded join by up to a second;
    # ours waits on the stop event, so it has ended by the time the context exits.
    assert _heartbeat_threads() == []


def test_no_heartbeat_setting_means_no_thread() -> None:
    engine = FakeEngine()
    engine.heartbeat_seconds = None  # type: ignore[assignment]
    with patches.send_heartbeats(engine):
        assert _heartbeat_threads() == []
    assert engine.sent == []


def test_installed_into_prefects_flow_engine_by_the_engine_import() -> None:
    from prefect import flow_engine

    import nornflow.engine.run  # noqa: F401 - installs the patch

    assert flow_engine._send_heartbeats is patches.send_heartbeats


def test_plain_json_parameters_pass_through_as_prefects_encoder_would_return_them() -> None:
    import datetime
    from pathlib import Path

    from prefect import flow
    from prefect.flows import Flow

    patches.install()

    @flow
    def f(a: Any = None, b: Any = None) -> None:
        return None

    original = Flow.serialize_parameters.__wrapped__  # type: ignore[attr-defined]
    plain = {"a": {"hosts": ["r1", "r2"], "n": 3, "x": 1.5, "ok": True, "none": None}, "b": "inv.yaml"}
    out = f.serialize_parameters(plain)
    assert out == original(f, plain)
    assert out is not plain and out["a"] is not plain["a"]  # a copy, as the encoder gives
    other = {"a": Path("/tmp/x"), "b": datetime.date(2026, 11, 26)}  # not JSON: Prefect's encoder
    assert f.serialize_parameters(other) == original(f, other) == {"a": "/tmp/x", "b": "2026-11-26"}
    assert not patches.is_plain_json({1: "int key"}) and not patches.is_plain_json((1, 2))
