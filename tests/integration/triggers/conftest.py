"""One Prefect server (PostgreSQL, scheduler every 3 s) and one process worker for the trigger tests.

The worker polls every second and takes runs 25 s ahead (``PREFECT_WORKER_PREFETCH_SECONDS``): a
run's process starts early and ``nornflow.triggers.ontime`` holds it to its scheduled second.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nornflow.triggers.schedules import ONTIME_COMMAND
from tests.support.stack import BIN, ROOT, Cli, Server, wait_for

POOL = "nornflow-triggers"
ENTRYPOINT = "tests/integration/triggers/flows.py:stamp"


@pytest.fixture(autouse=True, scope="session")
def _prefect() -> None:
    """These tests start their own Prefect server; none needs the session one."""


class Stack:
    def __init__(self, server: Server, cli: Cli, flow_id: str) -> None:
        self.server, self.cli, self.flow_id = server, cli, flow_id

    def worker_log(self) -> str:
        return "\n".join(w.log.read_text(errors="replace") for w in self.cli.workers if w.log.exists())

    def finished_runs(self, deployment_id: str, count: int, timeout: float = 90) -> list[dict[str, Any]]:
        """Wait for ``count`` runs of the deployment to be COMPLETED (a failed one fails the wait at once)."""
        def done() -> list[dict[str, Any]] | None:
            runs = self.server.runs(deployment_id)
            failed = [r for r in runs if r["state_type"] in ("FAILED", "CRASHED")]
            assert not failed, (failed, self.server.logs(failed[0]["id"]))
            finished = [r for r in runs if r["state_type"] == "COMPLETED"]
            return finished if len(finished) >= count else None

        result: list[dict[str, Any]] = wait_for(f"{count} completed run(s)", done, timeout, every=0.5)
        return result

    def deploy(self, name: str, schedules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A deployment of the stamp flow, started by the on-time command; returns the server's record."""
        from prefect.utilities.callables import parameter_schema

        from tests.integration.triggers.flows import stamp

        body = {
            "name": name, "flow_id": self.flow_id, "entrypoint": ENTRYPOINT, "path": str(ROOT),
            "work_pool_name": POOL, "enforce_parameter_schema": True,
            "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
            "job_variables": {"command": ONTIME_COMMAND.replace("python", str(BIN / "python"), 1)},
            "parameter_openapi_schema": parameter_schema(stamp).model_dump(),
            "schedules": [{"schedule": s, "active": True} for s in schedules or []],
        }
        result: dict[str, Any] = self.server.api("POST", "/deployments/", body)
        return result


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, new_database: Any) -> Iterator[Stack]:
    from prefect.workers.process import ProcessWorker

    base = tmp_path_factory.mktemp("triggers")
    _, url = new_database("triggers")
    server = Server(base / "server-home", url,
                    PREFECT_UI_ENABLED="false")
    cli = Cli(server, base / "client-home", PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="25")
    try:
        server.start()
        server.api("POST", "/work_pools/", {"name": POOL, "type": "process",
                                             "base_job_template": ProcessWorker.get_default_base_job_template()})
        flow_id = server.api("POST", "/flows/", {"name": "trigger-stamp"})["id"]
        cli.start_worker(POOL, "triggers-worker")
        yield Stack(server, cli, flow_id)
    finally:
        cli.stop_worker()
        server.stop()
