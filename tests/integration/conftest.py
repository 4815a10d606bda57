from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _prefect(prefect_server: str | None) -> str | None:
    return prefect_server
