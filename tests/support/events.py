"""Record the events a module emits (they still go to Prefect as well)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest


def record_emitted(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[dict[str, Any]]:
    """Wrap ``module.emit_event`` so every call's keyword arguments land in the returned list."""
    seen: list[dict[str, Any]] = []
    real = module.emit_event

    def record(**kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(module, "emit_event", record)
    return seen


def record_device_run_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every ``nornflow.device.run.*`` event the runs hand over (name, resource, payload); they are sent
    in bulk by :mod:`nornflow.monitor.device_events`, not through ``emit_event``."""
    from nornflow.monitor import device_events

    seen: list[dict[str, Any]] = []
    real = device_events._post

    def record(events: list[tuple[str, dict[str, str], dict[str, Any]]], related: list[dict[str, str]]) -> bool:
        seen.extend({"event": name, "resource": resource, "payload": payload} for name, resource, payload in events)
        return real(events, related)

    monkeypatch.setattr(device_events, "_post", record)
    return seen
