"""A reproducibility record per run: what a run ran from, so it can be compared later.

The record holds the inventory's and the templates' content hashes (per file, so a replay
names the file that changed) and the git commit they sit in, the plan hash, the versions
of NornFlow and the packages that talk to devices, the Prefect flow and deployment
versions, the parameters (redacted), the secret *references* used (names, never values),
the approver and the change-window decision. It is published as the ``<flow>-record``
artifact and, for runs that write to a backup repository, committed there as
``nornflow-run-<flow run id>.json``. ``nornflow replay <flow-run-id>`` compares it with now.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from nornflow.redaction import redact, redact_text

PACKAGES = ("nornflow-netops", "prefect", "nornir", "nornir-scrapli", "scrapli", "hier-config", "jinja2",
            "networkx", "paramiko")
REFERENCE = re.compile(r"secret:[A-Za-z0-9_.-]+/[^\s'\",|}\]]+")
MARKER = "nornflow-run-record"


class Source(BaseModel):
    """A directory (or file) a run read: its path, content hash, per-file hashes and git commit."""

    path: str
    hash: str = ""
    files: dict[str, str] = Field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool | None = None


class RunRecord(BaseModel):
    """Everything a later reader needs to tell whether a run can be reproduced as it was."""

    flow: str
    flow_run_id: str | None = None
    flow_run_name: str | None = None
    flow_version: str | None = None
    deployment_id: str | None = None
    deployment_version: str | None = None
    recorded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    inventory: Source | None = None
    templates: Source | None = None
    plan_hash: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    secret_references: list[str] = Field(default_factory=list)
    approver: str | None = None
    window: dict[str, Any] | None = None

    def to_json(self) -> str:
        return redact_text(self.model_dump_json(indent=1))

    def markdown(self) -> str:
        lean = self.model_dump(mode="json", exclude={"inventory": {"files"}, "templates": {"files"}})
        rows = [f"| {k} | `{json.dumps(v) if isinstance(v, (dict, list)) else v}` |" for k, v in lean.items()
                if v not in (None, {}, [])]
        return redact_text("\n".join([
            f"## Run record: {self.flow}", "", "| field | value |", "|---|---|", *rows, "",
            f"`nornflow replay {self.flow_run_id}` compares it with the current checkout.", "",
            f"<!-- {MARKER} -->", "```json", self.model_dump_json(), "```"]))


def _files(root: Path) -> dict[str, str]:
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()[:16]}
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(root).parts and "__pycache__" not in path.parts:
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return found


def _git(root: Path, *args: str) -> str | None:
    where = root if root.is_dir() else root.parent
    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def source(path: str | Path) -> Source:
    """The content hash of ``path`` (every file under it), and its git commit when it is in git."""
    root = Path(path).expanduser().resolve()
    files = _files(root) if root.exists() else {}
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    commit = _git(root, "rev-parse", "HEAD")
    dirty = None if commit is None else bool(_git(root, "status", "--porcelain", "--", str(root)))
    return Source(path=str(root), hash=digest, files=files, git_commit=commit, git_dirty=dirty)


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def secret_references(*texts: str) -> list[str]:
    """The ``secret:`` references in the given texts: block, path and key names only."""
    return sorted({m.group(0) for text in texts for m in REFERENCE.finditer(text)})


def _inventory_text(root: Path) -> str:
    files = [root] if root.is_file() else sorted(root.glob("*.y*ml"))
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files if p.is_file())


def build_record(flow: str, *, inventory: str | Path | None = None, templates: str | Path | None = None,
                 plan_hash: str | None = None, parameters: dict[str, Any] | None = None,
                 approver: str | None = None, window: dict[str, Any] | None = None) -> RunRecord:
    """The record of the current flow run (Prefect's runtime gives ids and versions)."""
    from prefect import runtime

    params = dict(parameters if parameters is not None else (runtime.flow_run.parameters or {}))
    refs = secret_references(json.dumps(params, default=str),
                             _inventory_text(Path(inventory).expanduser()) if inventory else "")
    return RunRecord(
        flow=flow, flow_run_id=str(runtime.flow_run.id) if runtime.flow_run.id else None,
        flow_run_name=runtime.flow_run.name, flow_version=runtime.flow_run.flow_version,
        deployment_id=runtime.deployment.id, deployment_version=runtime.deployment.version,
        inventory=source(inventory) if inventory else None, templates=source(templates) if templates else None,
        plan_hash=plan_hash, versions=versions(), parameters=redact(params), secret_references=refs,
        approver=approver, window=window,
    )


def publish_record(record: RunRecord, artifact_key: str, backup_dir: str | Path | None = None) -> str | None:
    """The ``<artifact_key>-record`` artifact; with ``backup_dir``, the JSON committed there (its commit)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key=f"{artifact_key}-record", markdown=record.markdown(),
                             description=f"reproducibility record of {record.flow}")
    if backup_dir is None:
        return None
    from nornflow.backup import BackupStore, Change, atomic_write

    store = BackupStore(backup_dir)
    path = store.directory / f"nornflow-run-{record.flow_run_id or 'local'}.json"
    atomic_write(path, record.to_json() + "\n")
    return store.commit(f"{record.flow} run {record.flow_run_name} ({record.flow_run_id}): run record",
                        [Change(record.flow, "new", path)])


def record_run(flow: str, artifact_key: str, *, inventory: str | Path | None = None,
               templates: str | Path | None = None, plan_hash: str | None = None, approver: str | None = None,
               window: Any = None, backup_dir: str | Path | None = None) -> RunRecord:
    """Build the current run's record, publish it (and commit it to ``backup_dir``), return it.

    ``window`` is the run's :class:`~nornflow.change.windows.WindowCheck`, kept as its decision.
    """
    decision = None
    if window is not None:
        decision = {"calendar": window.calendar or None, "summary": window.summary(), "refused": window.refused,
                    "overridden": window.overridden,
                    "override": window.override.model_dump() if window.override is not None else None}
    record = build_record(flow, inventory=inventory, templates=templates, plan_hash=plan_hash,
                          approver=approver, window=decision)
    publish_record(record, artifact_key, backup_dir)
    return record
