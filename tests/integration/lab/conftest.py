"""The lab's own tests talk SSH to it and nothing else: no Prefect server for them."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _prefect() -> None:
    """Overrides tests/integration's autouse Prefect server (15-20 s to start) for this folder."""
