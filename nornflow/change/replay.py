"""``nornflow replay <flow-run-id>``: does the current checkout still match a run's record?

The record comes from the run's ``*-record`` artifact (or a JSON file). Compared: the
inventory's and the templates' files (added, removed, changed, by name), their git commit,
a source-of-truth inventory's devices as loaded now (per host), the package versions, the
flow's ``flow_version`` (Prefect's hash of the flow's source file, recomputed from that file
now) and the code checkout (its commit, and uncommitted edits then or now: changed code
under the same version string shows there). A plan hash cannot be recomputed without the
devices, so it is only shown.
"""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

from nornflow.change.exceptions import RecordError
from nornflow.change.record import RunRecord, Source, checkout, inventory_record, source, versions


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
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        by_run = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        # newest first: a run writes a record when it starts and the final one when it ends
        found = client.read_artifacts(artifact_filter=by_run, sort=ArtifactSort.CREATED_DESC)
    for artifact in found:
        if (artifact.key or "").endswith("-record") and isinstance(artifact.data, str):
            match = re.search(r"```json\s*\n(.*?)\n```", artifact.data, re.DOTALL)
            if match:
                return RunRecord.model_validate_json(match.group(1))
    raise RecordError(f"flow run {run} has no run record artifact; only runs of flows that write a record "
                      f"(deploy_config, show_commands, check_compliance, run-plan, backup_configs) can be replayed")


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


def _now(name: str, then: Source, given: str | None) -> Source:
    if then.kind == "source":
        return inventory_record(given or then.path)[0]
    return source(given or then.path)


def _code(record: RunRecord) -> list[str]:
    """``flow_version`` recomputed from the flow's file, and the checkout's commit and edits, then and now."""
    from prefect.utilities.hashing import file_hash

    differences = []
    if record.flow_source and record.flow_version:
        file = Path(record.flow_source)
        if not file.is_file():
            differences.append(f"flow_version: {file} (the flow's source) does not exist here")
        elif file_hash(str(file)) != record.flow_version:
            differences.append(f"flow_version: {record.flow_version} then, {file_hash(str(file))} now: {file} "
                               f"changed (NornFlow {record.versions.get('nornflow-netops', '?')} then)")
    then = record.checkout
    if then is None:
        return differences
    if then.dirty:
        differences.append(f"checkout: {Path(then.path, then.scope)} had uncommitted changes when the run ran "
                           f"({', '.join(then.modified) or 'files not named'}): that code cannot be checked out again")
    now = checkout(then.path, fresh=True, scope=then.scope)
    if now is None:
        differences.append(f"checkout: {then.path} is not a git checkout here")
        return differences
    if then.git_commit != now.git_commit:
        differences.append(f"checkout: commit {(then.git_commit or 'none')[:10]} then, "
                           f"{(now.git_commit or 'none')[:10]} now")
    if now.dirty:
        differences.append(f"checkout: uncommitted changes now: {', '.join(now.modified)}")
    return differences


def compare(record: RunRecord, inventory: str | None = None, templates: str | None = None) -> list[str]:
    """What differs between the record and the current files, code and packages (empty: it all matches)."""
    differences: list[str] = []
    for name, then, given in (("inventory", record.inventory, inventory), ("templates", record.templates, templates)):
        if then is None:
            continue
        now = _now(name, then, given)
        if then.kind == "source" and then.hash != now.hash and not (set(then.files) | set(now.files)) - {"defaults"}:
            differences.append(f"{name}: the devices of {then.path} changed (too many to list per host)")
            continue
        if not now.files and then.kind == "files":
            differences.append(f"{name}: {now.path} does not exist here")
            continue
        differences += _files(name, then, now)
    differences += _code(record)
    current = versions()
    for package, version in sorted(record.versions.items()):
        if current.get(package) != version:
            differences.append(f"version: {package} {version} then, {current.get(package, 'not installed')} now")
    return differences
