"""Session-wide set-up: one PostgreSQL and one Prefect test server for the whole run.

Tests that talk to Prefect ask for ``prefect_server``; everything under tests/integration
gets it automatically (see its conftest.py). Pure unit tests start neither.

PostgreSQL (``postgres``) starts once per session, so once per pytest-xdist worker; every
user takes a database of its own from ``new_database`` (the session server, each e2e or
sharding stack), named uniquely. The session Prefect server runs on PostgreSQL, as Prefect
does in production: on SQLite, concurrent subflows wait out "database is locked" retries.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from nornflow.settings import apply_prefect_defaults

apply_prefect_defaults()

import pytest  # noqa: E402

if TYPE_CHECKING:
    from tests.servers.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for this session (this xdist worker), about 1 s to start."""
    from tests.servers.postgres import PostgresServer

    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def new_database(postgres: PostgresServer) -> Callable[[str], tuple[str, str]]:
    """``new_database(purpose)`` -> ``(name, postgresql+asyncpg URL)`` of a new, empty database."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")

    def make(purpose: str) -> tuple[str, str]:
        name = f"{purpose}_{worker}_{uuid.uuid4().hex[:8]}".lower()
        return name, postgres.create_database(name)

    return make


@pytest.fixture(scope="session")
def prefect_database(new_database: Callable[[str], tuple[str, str]]) -> tuple[str, str]:
    """The session Prefect server's database: ``(name, url)``."""
    return new_database("prefect")


@pytest.fixture(scope="session")
def prefect_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The session Prefect server on PostgreSQL; ``NORNFLOW_TEST_PREFECT_DB=sqlite`` gives Prefect's stock
    SQLite harness instead (to compare the two)."""
    if os.environ.get("NORNFLOW_TEST_PREFECT_DB", "postgresql") == "sqlite":
        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=180):
            _mark_lab_server()
            yield str(PREFECT_API_URL.value())
        return
    from tests.support.prefect_harness import prefect_harness

    with prefect_harness(request.getfixturevalue("prefect_database")[1], startup_timeout=180) as api_url:
        _mark_lab_server()
        yield api_url


def _mark_lab_server() -> None:
    """The session server is the lab's: deploy_config honours auto_approve only on such a server."""
    from prefect.variables import Variable

    from nornflow.settings import LAB_VARIABLE

    Variable.set(LAB_VARIABLE, True, overwrite=True)
