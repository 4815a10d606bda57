"""A reproducibility record per run: what a run ran from, so it can be compared later.

The record holds the inventory's and the templates' content hashes (per file, so a replay
names the file that changed; a source-of-truth inventory per device as loaded) and the git
commit they sit in, the plan hash, the versions of NornFlow and the packages that talk to
devices, Prefect's flow version (the hash of the flow's source file) and deployment version,
the code checkout's commit and uncommitted edits, the parameters (redacted), the secret
*references* used (names, never values: found by ``nornflow.secrets``' parser in the
parameters and the inventory's hosts, groups, defaults and data), the approver and the
change-window decision. It is published as the ``<flow>-record`` artifact and, for runs that
write to a backup repository, committed there as ``nornflow-run-<flow run id>.json``
(:func:`backup_record` joins the configs' own commit). ``nornflow replay <flow-run-id>``
compares it with now.

It must cost milliseconds (backup_configs is benchmarked): git is read from its files (HEAD,
refs, the index), never by starting ``git``; package versions and the code checkout once per
process; every inventory file is read once, and only files holding ``secret:`` are parsed.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import re
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from nornflow.change import gitfiles
from nornflow.secrets.credentials import REFS_KEY
from nornflow.secrets.redaction import redact, redact_text
from nornflow.secrets.reference import is_reference, parse_chain

if TYPE_CHECKING:
    from nornflow.config.backups import Change

PACKAGES = ("nornflow-netops", "prefect", "nornir", "nornir-scrapli", "scrapli", "hier-config", "jinja2",
            "networkx", "paramiko")
REFERENCE = re.compile(r"secret:[A-Za-z0-9_.-]+/[^\s'\",|}\]]+")
MARKER = "nornflow-run-record"
#: Inventory files whose parsed data is searched for secret references (SimpleInventory).
INVENTORY_FILES = ("hosts", "groups", "defaults")
#: Per-host hashes kept for a source-of-truth inventory (beyond: the overall hash only).
HOST_HASHES = 500
#: Modified files of a dirty checkout named in the record.
MODIFIED_NAMED = 20
PLAIN = "(plain value)"


class Source(BaseModel):
    """A directory (or file) a run read: its path, content hash, per-file hashes and git commit."""

    path: str
    hash: str = ""
    files: dict[str, str] = Field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool | None = None
    kind: str = Field(default="files", description="files: hashed per file; source: a source of truth's "
                      "devices as loaded, hashed per host (secrets as references)")


class Checkout(BaseModel):
    """The git checkout the flow's code was imported from: its commit and whether it had uncommitted edits."""

    path: str
    scope: str = Field(default="", description="the top folder of the checkout holding the flow's code (its "
                       "package), the part checked for edits; empty: the whole checkout")
    git_commit: str | None = None
    dirty: bool | None = None
    modified: list[str] = Field(default_factory=list, description=f"tracked files changed since the commit "
                                f"(the first {MODIFIED_NAMED} found)")


class RunRecord(BaseModel):
    """Everything a later reader needs to tell whether a run can be reproduced as it was."""

    flow: str
    flow_run_id: str | None = None
    flow_run_name: str | None = None
    flow_version: str | None = None
    flow_source: str | None = Field(default=None, description="the file Prefect hashed into flow_version")
    checkout: Checkout | None = None
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
    return gitfiles.scan(root)[0]


def _source(root: Path) -> tuple[Source, dict[str, bytes]]:
    files, blobs, contents = gitfiles.scan(root) if root.exists() else ({}, {}, {})
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    found = gitfiles.repository(root if root.is_dir() else root.parent)
    commit = dirty = None
    if found is not None:
        repo, git_dir = found
        commit = gitfiles.head(git_dir)
        dirty = gitfiles.dirty(blobs, root, repo, git_dir) if commit else None
    return Source(path=str(root), hash=digest, files=files, git_commit=commit, git_dirty=dirty), contents


def source(path: str | Path) -> Source:
    """The content hash of ``path`` (every file under it), and its git commit when it is in git."""
    return _source(Path(path).expanduser().resolve())[0]


_VERSIONS: dict[str, str] = {}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def versions() -> dict[str, str]:
    """The installed versions of :data:`PACKAGES`, read once per process (they do not change under it).

    The ``*.dist-info`` folder names on ``sys.path`` give them in one directory listing each;
    ``importlib.metadata`` (a search per package) is asked only for what they do not name.
    """
    if not _VERSIONS:
        wanted = {_normal(name): name for name in PACKAGES}
        for entry in sys.path:
            try:
                names = os.listdir(entry or ".")  # noqa: PTH208 - names only, no Path per entry
            except OSError:
                continue
            for folder in names:
                if folder.endswith(".dist-info"):
                    dist, _, version = folder[:-10].partition("-")
                    _VERSIONS.setdefault(wanted.get(_normal(dist), ""), version)
        _VERSIONS.pop("", None)
        for name in PACKAGES:
            if name not in _VERSIONS:
                with contextlib.suppress(metadata.PackageNotFoundError):
                    _VERSIONS[name] = metadata.version(name)
    return {name: _VERSIONS[name] for name in PACKAGES if name in _VERSIONS}


_CHECKOUTS: dict[tuple[str, str], Checkout | None] = {}


def checkout(path: str | Path | None, *, fresh: bool = False, scope: str | None = None) -> Checkout | None:
    """The git checkout holding ``path`` (the flow's source file): commit, and tracked files edited since.

    Only the top folder holding the flow's file (its package, e.g. ``nornflow/``) is checked for
    edits, unless ``scope`` names another ("" for all). Read once per process (the code a process
    runs was imported when it started) unless ``fresh``; a file whose size and modification time
    match the index is taken as unchanged, as git does.
    """
    if not path:
        return None
    start = Path(path).expanduser().resolve()
    found = gitfiles.repository(start if start.is_dir() else start.parent)
    if found is None:
        return None
    repo, git_dir = found
    if scope is None:
        parts = start.relative_to(repo).parts
        scope = f"{parts[0]}/" if len(parts) > 1 or (parts and start.is_dir()) else ""
    if (str(repo), scope) in _CHECKOUTS and not fresh:
        return _CHECKOUTS[(str(repo), scope)]
    index = gitfiles.index_entries(git_dir)
    modified: list[str] = []
    for name, (mtime, size, sha) in (index or {}).items():
        if len(modified) == MODIFIED_NAMED:  # dirty; the rest need not be read
            break
        if not name.startswith(scope):
            continue
        try:
            stat = (repo / name).stat()
        except OSError:
            modified.append(name)
            continue
        if (stat.st_mtime_ns, stat.st_size) != (mtime, size) and (
                stat.st_size != size or gitfiles.blob_sha((repo / name).read_bytes()) != sha):
            modified.append(name)
    state = Checkout(path=str(repo), scope=scope, git_commit=gitfiles.head(git_dir),
                     dirty=None if index is None else bool(modified), modified=sorted(modified))
    _CHECKOUTS[(str(repo), scope)] = state
    return state


# -- secret references (names only) and the inventory as loaded ------------------------------------------


def secret_references(*texts: str) -> list[str]:
    """The ``secret:`` references in the given texts: block, path and key names only."""
    return sorted({m.group(0) for text in texts for m in REFERENCE.finditer(text)})


def references_in(value: Any, found: set[str] | None = None) -> set[str]:
    """Every secret reference in a structure (parameters, inventory data), as parsed by ``nornflow.secrets``."""
    found = set() if found is None else found
    if is_reference(value):
        with contextlib.suppress(ValueError):  # a malformed reference fails the run by itself
            found.update(str(ref) for ref in parse_chain(value))
    elif isinstance(value, dict):
        for item in value.values():
            references_in(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            references_in(item, found)
    return found


def _credential(value: Any) -> Any:
    """A credential field as a record keeps it: a reference as written, any other value never."""
    return value if value is None or is_reference(value) else PLAIN


def _secretish(key: str) -> bool:
    return any(word in key.lower() for word in ("pass", "secret", "token", "key", "auth_secondary"))


def _element(element: Any) -> dict[str, Any]:
    """One loaded inventory element (defaults, group, host) as data to hash: secrets as references."""
    refs = dict((element.data or {}).get(REFS_KEY) or {})  # a resolved inventory keeps its references here
    options = {}
    for name, opts in sorted((element.connection_options or {}).items()):
        extras = {k: refs.get(f"connection_options.{name}.extras.{k}", v) for k, v in (opts.extras or {}).items()}
        options[name] = {"hostname": opts.hostname, "port": opts.port, "platform": opts.platform,
                         "username": refs.get(f"connection_options.{name}.username", opts.username),
                         "password": _credential(refs.get(f"connection_options.{name}.password", opts.password)),
                         "extras": {k: _credential(v) if _secretish(k) else v for k, v in sorted(extras.items())}}
    own = object.__getattribute__  # the element's own fields, not what it inherits
    return {"hostname": own(element, "hostname"), "port": own(element, "port"), "platform": own(element, "platform"),
            "username": refs.get("username", own(element, "username")),
            "password": _credential(refs.get("password", own(element, "password"))),
            "groups": [str(g) for g in getattr(element, "groups", [])],
            "data": {k: v for k, v in sorted((element.data or {}).items()) if k != REFS_KEY},
            "connection_options": options}


def _digest(value: Any) -> str:
    text = redact_text(json.dumps(value, sort_keys=True, default=str))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def loaded_inventory(nr: Any, path: str) -> tuple[Source, list[str]]:
    """A source of truth's inventory as loaded: a hash per host and of the whole, and its secret references."""
    inventory = nr.inventory
    hosts = {name: _element(host) for name, host in sorted(inventory.hosts.items())}
    everything = {"defaults": _element(inventory.defaults), "hosts": hosts}
    per_host = {f"host:{n}": _digest(h) for n, h in hosts.items()} if len(hosts) <= HOST_HASHES else {}
    refs = references_in(everything)
    options = (nr.config.inventory.options or {}).get("spec") or {}
    references_in(options.get("token"), refs)
    spec_file = Path(path).expanduser()
    found = gitfiles.repository(spec_file.resolve().parent) if spec_file.is_file() else None
    return Source(path=path, hash=_digest(everything), files={"defaults": _digest(everything["defaults"]), **per_host},
                  git_commit=gitfiles.head(found[1]) if found else None, kind="source"), sorted(refs)


def inventory_record(inventory: str | Path) -> tuple[Source, list[str]]:
    """The inventory's :class:`Source` and the secret references it uses (names only).

    A SimpleInventory directory is read once: its files hashed, and its hosts, groups and
    defaults parsed from the same bytes to find the references (credentials and any data).
    A source of truth (Nautobot, NetBox) is loaded as the run loads it and hashed per device.
    """
    from nornflow.inventory.sources import source_spec

    if source_spec(inventory) is not None:
        from nornflow.inventory.load import load_nornir

        return loaded_inventory(load_nornir(inventory), str(inventory))
    import yaml

    root = Path(inventory).expanduser().resolve()
    found, contents = _source(root)
    names = [root.name] if root.is_file() else [f"{n}{s}" for n in INVENTORY_FILES for s in (".yaml", ".yml")]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    refs: set[str] = set()
    for name in names:
        if b"secret:" not in contents.get(name, b""):  # a file without one holds no reference: not parsed
            continue
        try:  # the parser's scalar events: every value as YAML reads it, without building the mappings
            for event in yaml.parse(contents[name], Loader=loader):
                if isinstance(event, yaml.ScalarEvent):
                    references_in(event.value, refs)
        except yaml.YAMLError:
            continue  # the run itself names the malformed line
    return found, sorted(refs)


def _flow_source(context: Any) -> str | None:
    if context is None or context.flow is None:
        return None
    try:
        return inspect.getsourcefile(context.flow.fn)
    except TypeError:
        return None


def plan_hash_of(plan: Any) -> str:
    """The hash of a plan model (what ``run-plan`` records): its canonical JSON."""
    data = plan.model_dump(mode="json") if hasattr(plan, "model_dump") else plan
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_record(flow: str, *, inventory: str | Path | None = None, templates: str | Path | None = None,
                 plan_hash: str | None = None, parameters: dict[str, Any] | None = None,
                 approver: str | None = None, window: dict[str, Any] | None = None) -> RunRecord:
    """The record of the current flow run (Prefect's runtime gives ids and versions).

    Secret references come from the parameters and the inventory as loaded (never values:
    parameters are redacted, credentials kept as their references).
    """
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()  # read directly: prefect.runtime.deployment asks the API each time
    run = context.flow_run if context is not None else None
    params = dict(parameters if parameters is not None else ((run.parameters if run else None) or {}))
    inventory_source, refs = inventory_record(inventory) if inventory else (None, [])
    flow_file = _flow_source(context)
    return RunRecord(
        flow=flow, flow_run_id=str(run.id) if run else None, flow_run_name=run.name if run else None,
        flow_version=run.flow_version if run else None, flow_source=flow_file, checkout=checkout(flow_file),
        deployment_id=str(run.deployment_id) if run and run.deployment_id else None,
        deployment_version=run.deployment_version if run else None, inventory=inventory_source,
        templates=source(templates) if templates else None, plan_hash=plan_hash, versions=versions(),
        parameters=redact(params), secret_references=sorted(references_in(params, set(refs))),
        approver=approver, window=window,
    )


def publish_record(record: RunRecord, artifact_key: str, backup_dir: str | Path | None = None) -> str | None:
    """The ``<artifact_key>-record`` artifact; with ``backup_dir``, the JSON committed there (its commit)."""
    from prefect.artifacts import create_markdown_artifact

    from nornflow.monitor.artifacts import (
        artifact_key as valid_key,  # "backup-configs site=fra" (a shard) -> a valid key
    )

    create_markdown_artifact(key=valid_key(f"{artifact_key}-record"), markdown=record.markdown(),
                             description=f"reproducibility record of {record.flow}")
    if backup_dir is None:
        return None
    from nornflow.config.backups import BackupStore, Change, atomic_write

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


def backup_record(flow: str, inventory: str | Path, directory: str | Path) -> tuple[RunRecord, Change]:
    """The run's record written beside the configs as ``nornflow-run-<id>.json``, not yet committed.

    Returns the record (publish it with :func:`publish_record`) and the store
    :class:`~nornflow.config.backups.Change` to pass to the same ``BackupStore.commit`` as the configs, so
    the record costs no commit of its own (and no fsync: the commit flushes it). Milliseconds
    at 100 devices: git is read from its files, package versions once per process.
    """
    from nornflow.config.backups import Change, atomic_write

    record = build_record(flow, inventory=inventory)
    path = Path(directory).expanduser().resolve() / f"nornflow-run-{record.flow_run_id or 'local'}.json"
    atomic_write(path, record.to_json() + "\n", sync=False)
    return record, Change(flow, "new", path)
