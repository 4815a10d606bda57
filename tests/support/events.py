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
