"""A per-device ledger of one ``deploy_config`` run that outlives the process running it.

Where: ``nornflow-ledger-<flow run id>.jsonl`` in the run's backup repository, beside the
pre-change backups it points at (and the run record). It is a journal, one JSON object per
line, appended and ``fsync``'d at every step of every device (planned, backed-up, pushing,
pushed, verified, rolling-back, rolled-back, rollback-failed, stale, outside-window), so a process killed at
any instant leaves at most one torn last line, which a reader skips. It is committed to git
after the backup, every few seconds while devices finish, and at the end of the run.

Why not Prefect's result storage: a result is written when a task *returns*, so a task run
killed in the middle of a push leaves nothing behind, which is exactly the case to recover
from; a per-device journal would need our own files anyway. The backup repository already
holds the pre-change configs a resume rolls back to, every append is a local write (no API
round trip per device, and no dependency on the server being up), and a person reads the
history with ``git log``. The ledger never holds configuration text or a secret: host names,
states, fingerprints, line counts, redacted notes and redacted parameters.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nornflow.config.exceptions import LedgerError
from nornflow.secrets.redaction import redact, redact_text

#: States after which a device needs nothing more from this run.
FINAL = frozenset({"verified", "rolled-back", "rollback-failed", "stale", "undone"})
#: States of a device whose session may have been sending lines when the process died.
IN_FLIGHT = frozenset({"pushing", "pushed", "rolling-back"})
#: States of a device that was never sent a line (``outside-window``: its window closed before
#: its first line; a resume in its next window pushes it).
WAITING = frozenset({"planned", "backed-up", "outside-window"})
COMMIT_EVERY = 5.0  # seconds between commits while devices finish

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_LAST_COMMIT: dict[str, float] = {}


def _lock(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path), threading.Lock())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def owner() -> dict[str, Any]:
    """Who writes the ledger: the machine and the process (a resume checks that it is gone)."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}


def process_alive(who: dict[str, Any]) -> bool | None:
    """Whether the owner process still runs: ``None`` when it ran on another machine (unknown)."""
    if who.get("hostname") != socket.gethostname():
        return None
    try:
        os.kill(int(who.get("pid", 0)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger:
    """The journal of one run; every method is safe to call from many device threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @staticmethod
    def path_for(backup_dir: str | Path, run_id: str) -> Path:
        return Path(backup_dir).expanduser().resolve() / f"nornflow-ledger-{run_id}.jsonl"

    @classmethod
    def create(cls, backup_dir: str | Path, run_id: str, *, plan_hash: str,
               devices: dict[str, dict[str, Any]], parameters: dict[str, Any],
               approver: str | None = None) -> Ledger:
        """A new ledger: the run, then each device ``planned`` with its plan's fingerprints."""
        ledger = cls(cls.path_for(backup_dir, run_id))
        ledger.path.parent.mkdir(parents=True, exist_ok=True)
        ledger.path.unlink(missing_ok=True)  # a retry of a run that finished starts over (git keeps the old one)
        ledger.append({"kind": "run", "run_id": run_id, "plan_hash": plan_hash, "owner": owner(),
                       "approver": approver, "parameters": redact(parameters)})
        for host, facts in devices.items():
            ledger.append({"kind": "device", "host": host, "state": "planned", **facts})
        return ledger

    @classmethod
    def find(cls, backup_dir: str | Path, run_id: str) -> Ledger | None:
        path = cls.path_for(backup_dir, run_id)
        return cls(path) if path.is_file() else None

    @classmethod
    def open(cls, backup_dir: str | Path, run_id: str) -> Ledger:
        found = cls.find(backup_dir, run_id)
        if found is None:
            raise LedgerError(
                f"flow run {run_id} has no ledger {cls.path_for(backup_dir, run_id).name} in {backup_dir}: only "
                f"deploy_config runs that reached the push keep one; pass --backup-dir if the run used another")
        return found

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps({"at": _now(), **entry}, sort_keys=True, default=str)
        with _lock(self.path), self.path.open("a", encoding="utf-8") as handle:
            handle.write(redact_text(line) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def mark(self, host: str, state: str, note: str = "", **facts: Any) -> None:
        """Record that ``host`` reached ``state`` (a note says why); commit now and then."""
        entry: dict[str, Any] = {"kind": "device", "host": host, "state": state, **facts}
        if note:
            entry["note"] = note[:500]
        self.append(entry)
        if state in FINAL and time.monotonic() - _LAST_COMMIT.get(str(self.path), 0.0) > COMMIT_EVERY:
            self.commit(f"ledger: {host} {state}")

    def entries(self) -> list[dict[str, Any]]:
        """Every whole line (a line torn by a crash is skipped)."""
        found = []
        with _lock(self.path):
            text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        for raw in text.splitlines():
            try:
                found.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return found

    @property
    def run(self) -> dict[str, Any]:
        """The run's header merged with later run-level lines (backup commit, resumes)."""
        merged: dict[str, Any] = {"resumed_by": []}
        for entry in self.entries():
            if entry.get("kind") == "run":
                merged.update(entry)
            elif entry.get("kind") == "backup":
                merged["backup_commit"] = entry.get("commit")
            elif entry.get("kind") == "resume":
                merged["resumed_by"].append(entry.get("by"))
                merged["owner"] = entry.get("owner")
                merged.pop("paused", None)
            elif entry.get("kind") == "pause":
                merged["paused"] = entry.get("at")
                merged["owner"] = None  # the process let go: a resume need not wait for it
            elif entry.get("kind") == "end":
                merged["ended"] = entry.get("at")
        if "run_id" not in merged:
            raise LedgerError(f"ledger {self.path} has no run header: it is not a NornFlow ledger or was cut short")
        return merged

    def devices(self) -> dict[str, dict[str, Any]]:
        """Per host: the planned fingerprints, updated by every later line (``state`` is the last)."""
        found: dict[str, dict[str, Any]] = {}
        for entry in self.entries():
            if entry.get("kind") == "device":
                found.setdefault(entry["host"], {}).update({k: v for k, v in entry.items() if k != "kind"})
        return found

    def states(self) -> dict[str, str]:
        return {host: str(facts["state"]) for host, facts in self.devices().items()}

    def history(self, host: str) -> list[str]:
        return [e["state"] for e in self.entries() if e.get("kind") == "device" and e.get("host") == host]

    def commit(self, message: str) -> str | None:
        """Commit the ledger file to its backup repository; ``None`` when git holds it already."""
        from nornflow.config.backups import BackupStore, Change

        with _lock(self.path):
            _LAST_COMMIT[str(self.path)] = time.monotonic()
            store = BackupStore(self.path.parent)
            return store.commit(f"{message} ({self.path.stem})", [Change(self.path.stem, "changed", self.path)])

    def backed_up(self, commit: str | None, hosts: list[str]) -> None:
        """The pre-change backups are in ``commit``: every device is ``backed-up``; commit the ledger."""
        self.append({"kind": "backup", "commit": commit})
        for host in hosts:
            self.append({"kind": "device", "host": host, "state": "backed-up"})
        self.commit("ledger: pre-change backups taken")

    def waiting(self) -> list[str]:
        """Devices the run left for their next change window."""
        return [h for h, state in self.states().items() if state == "outside-window"]

    def finish(self, summary: dict[str, int]) -> None:
        """End the run, or pause it when devices wait for their window (a resume finishes them)."""
        if self.waiting():
            self.append({"kind": "pause", "summary": summary, "waiting": self.waiting()})
            self.commit("ledger: run paused, devices wait for their change window")
            return
        self.append({"kind": "end", "summary": summary})
        self.commit("ledger: run finished")
