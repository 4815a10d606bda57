"""Session-wide set-up: one Prefect test server for the whole run (it takes 15-20 s to start).

Tests that talk to Prefect ask for ``prefect_server``; everything under tests/integration
and tests/e2e gets it automatically (see their conftest.py). Pure unit tests never start it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from nornflow.settings import apply_prefect_defaults

apply_prefect_defaults()

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str | None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield os.environ.get("PREFECT_API_URL")
