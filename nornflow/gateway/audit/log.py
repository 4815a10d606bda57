"""The gateway's audit log: an append-only JSON-lines file whose records are hash-chained.

Each record carries ``prev`` (the previous record's ``hash``) and ``hash``: an HMAC-SHA256,
under the audit key, of its own canonical JSON without ``hash`` (``"alg": "hmac-sha256"``
in the record says so; records written before the key existed carry no ``alg`` and a plain
SHA-256). :meth:`AuditLog.verify` finds the first record that was edited, deleted,
inserted, reordered or cut short; without the key nobody can write a record that verifies,
so a chain rewritten from some record on is found too.

A chain alone cannot show that its newest records were dropped. So every append also
rewrites the *anchor* (``audit.anchor``: the newest seq and hash, HMAC'd with the key),
and verify compares the log's end with it; the gateway also ships every record (seq and
hash in the payload) as a Prefect event (:mod:`.events`), and :func:`.verify.check_against_event` compares the
newest shipped one with the file. The key (``audit.key``, 0600) and the anchor sit beside
the log; someone who can replace the key, the anchor and the log together is caught only
by the events, which live in the workspaces' databases.

Appends are serialised by a thread lock and by ``flock`` on the file, so several
gateway processes (or the CLI) can share one log; each append re-reads the newest
record when another process has grown the file. ``detail`` passes through
:func:`.redact.redact_detail` and ``path`` has secret-looking query values masked, because an
audit trail is read by many more people than the secrets it mentions.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nornflow.gateway.audit.chain import (
    ANCHOR_FILE,
    ANCHOR_SIZE,
    GENESIS,
    KEY_FILE,
    KEYED,
    anchor_mac,
    create_key,
    lines_backwards,
    parse_record,
    read_anchor,
    read_key,
    record_hash,
)
from nornflow.gateway.audit.redact import redact_detail, redact_path
from nornflow.gateway.audit.verify import AuditVerification, verify_chain

log = logging.getLogger("nornflow.gateway.audit")
_ACTION = re.compile(r"[a-z0-9_]+(?:[.-][a-z0-9_]+)*")

AuditCallback = Callable[[dict[str, Any]], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """Append, verify and read the hash-chained audit log at ``path`` (created 0600 if missing)."""

    def __init__(self, path: Path | str, *, fsync: bool = False, now: Callable[[], datetime] = _utcnow,
                 on_append: Iterable[AuditCallback] = (), key_path: Path | str | None = None,
                 anchor_path: Path | str | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.key_path = Path(key_path) if key_path is not None else self.path.parent / KEY_FILE
        self.anchor_path = Path(anchor_path) if anchor_path is not None else self.path.parent / ANCHOR_FILE
        self._key: bytes | None = None
        self.fsync = fsync
        self.on_append: list[AuditCallback] = list(on_append)
        self._now = now
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._lock = threading.Lock()
        self._size, self._seq, self._prev, self._clean_end = -1, 0, GENESIS, True
        self._anchored = False  # whether the anchor on disk matches the file's head (so appends may move it)
        self._keyed_since: int | None = None
        with self._locked():
            self._sync()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _sync(self) -> None:
        """Learn the newest record's seq and hash, and whether the anchor still names a record of this file,
        unless the file is as this process left it."""
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        self._size, self._seq, self._prev = size, 0, GENESIS
        self._clean_end = size == 0 or os.pread(self._fd, 1, size - 1) == b"\n"
        self._key = read_key(self.key_path)
        try:
            anchor = read_anchor(self.anchor_path)
        except ValueError:
            anchor = None
            self._anchored = False
        else:
            self._anchored = anchor is None and self._key is None  # a log from before keys: the key starts it
        self._keyed_since = anchor.keyed_since if anchor else None
        for raw in lines_backwards(self._fd, size):
            record = parse_record(raw) if raw.strip() else None
            if not (record and isinstance(record.get("seq"), int) and isinstance(record.get("hash"), str)):
                continue  # a damaged tail is left for verify() to report; new records chain to the last good one
            if self._seq == 0:
                self._seq, self._prev = record["seq"], record["hash"]
            if anchor is None or self._key is None or not anchor.valid(self._key) or record["seq"] <= anchor.seq:
                # A crash between a record and its anchor leaves the anchor one behind: it still fits.
                self._anchored = self._anchored or (
                    anchor is not None and self._key is not None and anchor.valid(self._key)
                    and record["seq"] == anchor.seq and hmac.compare_digest(record["hash"], anchor.hash))
                break
        if size == 0 and anchor is not None:
            self._anchored = False  # the whole log is gone but its anchor is not: keep that evidence

    def _write_anchor(self, seq: int, head: str, keyed_since: int) -> None:
        """Overwrite the anchor in place (fixed length, under the log's flock, which verify() takes too):
        a rename per record would cost a millisecond on ext4, this a few microseconds."""
        assert self._key is not None
        body = json.dumps({"seq": seq, "hash": head, "keyed_since": keyed_since,
                           "mac": anchor_mac(self._key, seq, head, keyed_since)}).encode()
        fd = os.open(self.anchor_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.pwrite(fd, body.ljust(ANCHOR_SIZE), 0)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def head(self) -> tuple[int, str]:
        """The newest record's (seq, hash): publish it elsewhere to detect a cut-off tail later."""
        with self._locked():
            self._sync()
            return self._seq, self._prev

    def append(self, action: str, *, outcome: str = "ok", workspace: str | None = None, user: str | None = None,
               ip: str | None = None, method: str | None = None, path: str | None = None,
               status: int | None = None, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write one record and return it (with seq, ts, prev and hash), then call ``on_append``."""
        if not isinstance(action, str) or not _ACTION.fullmatch(action):
            raise ValueError(f"audit action {action!r} must be lowercase words joined by '.', e.g. 'login.ok'")
        with self._locked():
            self._sync()
            keyed_since = None
            if self._key is None:  # the first record written with a key: create it, anchor from here
                self._key = create_key(self.key_path)
                keyed_since = self._seq + 1
            elif self._anchored:
                keyed_since = self._keyed_since or self._seq + 1
            record: dict[str, Any] = {
                "seq": self._seq + 1, "ts": self._now().astimezone(UTC).isoformat(timespec="microseconds"),
                "workspace": workspace, "user": user, "action": action, "outcome": outcome, "ip": ip,
                "method": method, "path": redact_path(path), "status": status, "detail": redact_detail(detail),
                "prev": self._prev, "alg": KEYED,
            }
            record["hash"] = record_hash(record, self._key)
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            data = (line if self._clean_end else "\n" + line).encode()
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            if self.fsync:
                os.fsync(self._fd)
            self._size += len(data)
            self._seq, self._prev, self._clean_end = record["seq"], record["hash"], True
            if keyed_since is not None:
                self._write_anchor(self._seq, self._prev, keyed_since)
                self._anchored, self._keyed_since = True, keyed_since
            else:  # keep the evidence: an anchor that disagrees with the file stays until someone looks
                log.error("audit anchor %s does not match the log's head; not moving it: run "
                          "`nornflow audit verify`", self.anchor_path)
        for callback in list(self.on_append):
            try:
                callback(dict(record))
            except Exception:  # a failing event sink must not fail the request being audited
                log.exception("audit on_append callback %r failed for seq %s", callback, record["seq"])
        return record

    def verify(self) -> AuditVerification:
        """Walk the whole chain and compare its end with the anchor; report the first problem."""
        try:
            with self._locked():  # not in the middle of an append's anchor write
                key, anchor = read_key(self.key_path), read_anchor(self.anchor_path)
        except ValueError as exc:
            return AuditVerification(False, 0, str(exc))
        return verify_chain(self.path, key, anchor, self.key_path, self.anchor_path)

    def tail(self, user: str | None = None, since: datetime | None = None, workspace: str | None = None,
             action: str | None = None, limit: int = 50, target: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` matching records, oldest first.

        ``user`` is who acted; ``target`` the user acted on (``detail.target_user``).
        ``action`` matches exactly or as a prefix ending at a dot ("login" matches "login.failed");
        a naive ``since`` is taken as UTC.
        """
        if limit <= 0:
            return []
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        size = os.fstat(self._fd).st_size
        found: list[dict[str, Any]] = []
        for raw in lines_backwards(self._fd, size):
            record = parse_record(raw) if raw.strip() else None
            if record is None:
                continue
            if since is not None:
                try:
                    if datetime.fromisoformat(str(record.get("ts"))) < since:
                        break  # records are appended in time order
                except ValueError:
                    continue
            name = str(record.get("action", ""))
            detail = record.get("detail")
            if ((user is None or record.get("user") == user)
                    and (target is None or (isinstance(detail, dict) and detail.get("target_user") == target))
                    and (workspace is None or record.get("workspace") == workspace)
                    and (action is None or name == action or name.startswith(action + "."))):
                found.append(record)
                if len(found) >= limit:
                    break
        found.reverse()
        return found
