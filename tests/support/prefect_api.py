"""Read back what a flow run left on the Prefect server: task runs, logs, artifacts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler


def flow_run_id(state: Any) -> UUID:
    return state.state_details.flow_run_id


def flow_run_name(state: Any) -> str:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id(state)).name


def task_runs(run_id: UUID) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))


def logs(run_id: UUID) -> list[str]:
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        return [log.message for log in client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200
        )]


def artifacts(run_id: UUID) -> dict[str, Any]:
    """Artifacts of a flow run by key, the newest version of each (unkeyed ones under their id)."""
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        by_run = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        found = client.read_artifacts(artifact_filter=by_run, sort=ArtifactSort.CREATED_DESC)
    newest: dict[str, Any] = {}
    for artifact in found:
        newest.setdefault(artifact.key or str(artifact.id), artifact)
    return newest
