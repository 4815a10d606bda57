"""The session Prefect server really runs on PostgreSQL (the stock harness would use SQLite)."""

from __future__ import annotations

import os

import httpx
import pytest
from prefect import flow

pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    os.environ.get("NORNFLOW_TEST_PREFECT_DB") == "sqlite", reason="the session server runs on SQLite on request")]


@flow(name="database-probe")
def probe() -> str:
    return "stored"


def test_session_server_stores_its_runs_in_postgres(prefect_server, prefect_database, postgres):
    assert httpx.get(f"{prefect_server}/health", timeout=30).json() is True
    state = probe(return_state=True)
    run_id = state.state_details.flow_run_id
    name, _ = prefect_database
    found = postgres.psql(f"SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id "
                          f"WHERE r.id = '{run_id}'", database=name)
    assert found.strip() == "database-probe|COMPLETED"
