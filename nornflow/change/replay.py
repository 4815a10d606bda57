"""``nornflow replay <flow-run-id>``: does the current checkout still match a run's record?

The record comes from the run's ``*-record`` artifact (or a JSON file). Compared: the
inventory's and the templates' files (added, removed, changed, by name), their git commit,
and the package versions. A plan hash cannot be recomputed without the devices, so it is
only shown.
"""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

from nornflow.change.exceptions import RecordError
from nornflow.change.record import RunRecord, Source, source, versions


def load_record(run: str) -> RunRecord:
    """The record of flow run ``run`` (its id), or of a JSON file at that path."""
    path = Path(run)
    if path.is_file():
        return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))
    try:
        run_id = UUID(run)
    except ValueError:
        raise RecordError(f"{run!r} is neither a flow run id nor a record file; pass the id shown in the "
                          f"Prefect UI (or a nornflow-run-<id>.json from the backup repository)") from None
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        by_run = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        found = client.read_artifacts(artifact_filter=by_run)
    for artifact in found:
        if (artifact.key or "").endswith("-record") and isinstance(artifact.data, str):
            match = re.search(r"```json\s*\n(.*?)\n```", artifact.data, re.DOTALL)
            if match:
                return RunRecord.model_validate_json(match.group(1))
    raise RecordError(f"flow run {run} has no run record artifact; only runs of flows that write a record "
                      f"(deploy_config) can be replayed")


def _files(name: str, then: Source, now: Source) -> list[str]:
    differences = []
    for file in sorted(set(then.files) | set(now.files)):
        if file not in now.files:
            differences.append(f"{name}: {file} was removed")
        elif file not in then.files:
            differences.append(f"{name}: {file} was added")
        elif then.files[file] != now.files[file]:
            differences.append(f"{name}: {file} changed")
    if then.git_commit and now.git_commit and then.git_commit != now.git_commit:
        differences.append(f"{name}: git commit {then.git_commit[:10]} then, {now.git_commit[:10]} now")
    return differences


def compare(record: RunRecord, inventory: str | None = None, templates: str | None = None) -> list[str]:
    """What differs between the record and the current files and packages (empty: it all matches)."""
    differences: list[str] = []
    for name, then, given in (("inventory", record.inventory, inventory), ("templates", record.templates, templates)):
        if then is None:
            continue
        now = source(given or then.path)
        if not now.files:
            differences.append(f"{name}: {now.path} does not exist here")
            continue
        differences += _files(name, then, now)
    current = versions()
    for package, version in sorted(record.versions.items()):
        if current.get(package) != version:
            differences.append(f"version: {package} {version} then, {current.get(package, 'not installed')} now")
    return differences
