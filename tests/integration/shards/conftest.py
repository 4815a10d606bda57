from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _prefect() -> None:
    """These tests start their own Prefect servers; a test that needs the session one asks for it."""
