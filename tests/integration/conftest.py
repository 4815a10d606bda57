from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _prefect(prefect_server: str | None) -> str | None:
    return prefect_server


@pytest.fixture(autouse=True)
def _fresh_redaction_registry() -> None:
    """Each test starts with no registered secret values, as each flow run does in production
    (a worker runs every flow run in a process of its own). Without this, a value one test
    resolved (a lab password ``admin`` kept in Vault, say) masks text in every later test."""
    from nornflow.secrets import redaction

    redaction.clear()
