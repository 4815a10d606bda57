from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.events import record_emitted

TEMPLATES = str(Path(__file__).resolve().parents[3] / "examples" / "templates")


@pytest.fixture
def lab(tmp_path):
    from nornflow.lab import Lab

    with Lab(size=3, directory=tmp_path / "lab") as lab:
        yield lab


@pytest.fixture
def emitted(monkeypatch) -> list[dict[str, Any]]:
    """Every device event the flows emit (still sent to Prefect as well)."""
    from nornflow.config import events

    return record_emitted(monkeypatch, events)


def names(seen: list[dict[str, Any]], event: str) -> list[str]:
    return sorted(e["payload"]["host"] for e in seen if e["event"] == event)
