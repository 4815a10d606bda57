"""``nornflow watch DIR``: a Prefect event for every file created, changed or removed under DIR.

A dropped change request, inventory export or template becomes an event an automation (or a
deployment's ``triggers:``) turns into a flow run:

- ``nornflow.file.created``, ``nornflow.file.changed``, ``nornflow.file.removed``;
- resource ``nornflow.file.<path>`` (the path relative to DIR, with ``/``), labels
  ``prefect.resource.name`` (the path) and ``nornflow.file.directory`` (DIR);
- payload ``{"path", "sha256", "size", "directory"}`` (a removed file: its last hash, no size).

Changes are debounced (``--debounce``, watchfiles' grouping of a burst of writes) and compared by
content: a file whose SHA-256 did not change (touched, rewritten the same) fires nothing. What
was reported is kept in a small state file (path -> hash, size, mtime), written atomically beside
DIR (``--state``), so a restart reports only what changed while the watcher was down: nothing
fires twice. An event is sent over HTTP (``POST /api/events``) and the state saved only once the
server took it; when the server is away, the watcher retries every second.

Never followed: a symlink that leads outside DIR (refused and logged once), a symlinked
directory (not descended, so no loops), names starting with ``.`` and editor or download
leftovers (``~``, ``.swp``, ``.tmp``, ``.part``, ``.crdownload``). For one event per drop, write to
a temporary name and rename. SIGTERM or Ctrl-C stops it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import signal
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from nornflow.exceptions import NornFlowError

EVENT_PREFIX = "nornflow.file."
RESOURCE_PREFIX = "nornflow.file."
IGNORED_SUFFIXES = ("~", ".swp", ".tmp", ".part", ".crdownload")

log = logging.getLogger("nornflow.watch")

Sender = Callable[[list[dict[str, Any]]], None]


class WatchError(NornFlowError, OSError):
    """The directory to watch is missing, or the state file cannot be read or written."""


@dataclass(frozen=True)
class FileChange:
    kind: Literal["created", "changed", "removed"]
    path: str  # relative to the watched directory, "/"-separated
    sha256: str
    size: int | None = None

    def event(self, directory: Path) -> dict[str, Any]:
        """The Prefect event, as ``POST /api/events`` takes it."""
        payload: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "directory": str(directory)}
        if self.size is not None:
            payload["size"] = self.size
        return {
            "id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(), "event": EVENT_PREFIX + self.kind,
            "resource": {"prefect.resource.id": RESOURCE_PREFIX + self.path, "prefect.resource.name": self.path,
                         "nornflow.file.directory": str(directory)},
            "payload": payload,
        }


def default_state_file(directory: Path) -> Path:
    """``<parent>/.<name>.nornflow-watch.json``: beside DIR, so writing it never fires a change."""
    directory = directory.resolve()
    return directory.parent / f".{directory.name}.nornflow-watch.json"


def ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith(IGNORED_SUFFIXES)


def sha256_of(path: Path) -> str:
    """The file's SHA-256, opened without following a symlink swapped in at the last moment."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Watcher:
    """Compares DIR with what was last reported, sends an event per difference, remembers it."""

    def __init__(self, directory: str | Path, send: Sender, state_file: str | Path | None = None) -> None:
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            raise WatchError(f"{directory} is not a directory; create it or pass the drop directory to watch")
        self.state_file = Path(state_file) if state_file else default_state_file(self.directory)
        self.send = send
        self.state: dict[str, dict[str, Any]] = self._load()
        self.refused: set[str] = set()
        self.pending = False  # the last send failed: retry

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise WatchError(f"cannot read the watch state {self.state_file}: {exc}; move it away to start afresh "
                             "(every file is then reported once more)") from exc
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict) or data.get("directory") != str(self.directory):
            raise WatchError(f"{self.state_file} is not the watch state of {self.directory}; pass another --state")
        return files

    def _save(self) -> None:
        body = json.dumps({"directory": str(self.directory), "files": self.state}, indent=1, sort_keys=True)
        try:
            fd, tmp = tempfile.mkstemp(prefix=self.state_file.name + ".", dir=self.state_file.parent)
        except OSError as exc:
            raise WatchError(f"cannot write the watch state beside {self.state_file}: {exc}; pass --state "
                             "a file in a writable directory outside the watched one") from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(self.state_file)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise

    def _refuse(self, path: Path, why: str) -> None:
        rel = path.relative_to(self.directory).as_posix()
        if rel not in self.refused:
            self.refused.add(rel)
            log.warning("refused %s: %s", rel, why)

    def _files(self) -> dict[str, tuple[Path, os.stat_result]]:
        """Every regular file under DIR (relative path -> the file to read, its stat), symlinks checked."""
        found: dict[str, tuple[Path, os.stat_result]] = {}
        for dirpath, dirnames, filenames in os.walk(self.directory, followlinks=False):
            here = Path(dirpath)
            for name in list(dirnames):
                if ignored(name) or (here / name).is_symlink():
                    dirnames.remove(name)
                    if not ignored(name):
                        self._refuse(here / name, "a symlinked directory is not followed")
            for name in filenames:
                full = here / name
                if ignored(name):
                    continue
                target = full
                if full.is_symlink():
                    real = Path(os.path.realpath(full))
                    if not real.is_relative_to(self.directory):
                        self._refuse(full, f"a symlink to {real}, outside {self.directory}")
                        continue
                    target = real
                with contextlib.suppress(OSError):  # gone since the walk listed it, or unreadable
                    stat = target.lstat()
                    if stat.st_mode & 0o170000 == 0o100000:  # a regular file
                        found[full.relative_to(self.directory).as_posix()] = (target, stat)
        return found

    def scan(self) -> tuple[list[FileChange], dict[str, dict[str, Any]]]:
        """The differences from the state, and the state after them."""
        changes: list[FileChange] = []
        state: dict[str, dict[str, Any]] = {}
        for rel, (target, stat) in sorted(self._files().items()):
            old = self.state.get(rel)
            if old and old["size"] == stat.st_size and old["mtime_ns"] == stat.st_mtime_ns:
                state[rel] = old
                continue
            try:
                digest = sha256_of(target)
            except OSError as exc:
                log.warning("cannot read %s: %s", rel, exc)
                continue
            state[rel] = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            if old is None or old["sha256"] != digest:
                changes.append(FileChange("created" if old is None else "changed", rel, digest, stat.st_size))
        for rel in sorted(set(self.state) - set(state)):
            changes.append(FileChange("removed", rel, self.state[rel]["sha256"]))
        return changes, state

    def sync(self) -> list[FileChange]:
        """Report what changed since the last report; the state moves on only once the server took the events."""
        changes, state = self.scan()
        if changes:
            try:
                self.send([change.event(self.directory) for change in changes])
            except Exception as exc:  # the server is away: keep the old state, retry
                if not self.pending:
                    log.error("could not send %d event(s) (%s: %s); retrying every second",
                              len(changes), type(exc).__name__, exc)
                self.pending = True
                return []
            for change in changes:
                log.info("%s%s %s %s", EVENT_PREFIX, change.kind, change.path, change.sha256[:12])
        self.pending = False
        if changes or state != self.state:
            self.state = state
            self._save()
        return changes

    def run(self, stop: threading.Event, debounce_ms: int = 1600) -> None:
        """Report what changed while nobody watched, then every change until ``stop`` is set."""
        import watchfiles

        self.sync()
        log.info("watching %s (state %s)", self.directory, self.state_file)
        for batch in watchfiles.watch(self.directory, watch_filter=None, debounce=debounce_ms, stop_event=stop,
                                      rust_timeout=1000, yield_on_timeout=True, recursive=True):
            if batch or self.pending:
                self.sync()


def http_sender(events: list[dict[str, Any]]) -> None:
    """``POST /api/events`` to the server ``PREFECT_API_URL`` names; raises unless it took them."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.request("POST", "/events", json=events).raise_for_status()


def cmd_watch(args: argparse.Namespace) -> int:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    watcher = Watcher(args.dir, http_sender, args.state)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    watcher.run(stop, debounce_ms=args.debounce)
    log.info("stopped (state saved in %s)", watcher.state_file)
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``watch`` to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "watch", help="emit a Prefect event per created, changed or removed file in a directory",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="the directory to watch (subdirectories too)")
    parser.add_argument("--state", help="state file (default: .<DIR name>.nornflow-watch.json beside DIR)")
    parser.add_argument("--debounce", type=int, default=1600,
                        help="milliseconds a burst of changes is grouped over (default 1600)")
    parser.set_defaults(func=cmd_watch, uses_prefect=True)
    return parser
