"""The gateway's audit log: an append-only JSON-lines file whose records are hash-chained.

Each record carries ``prev`` (the previous record's ``hash``) and ``hash`` (SHA-256 of its
own canonical JSON without ``hash``), so :meth:`AuditLog.verify` finds the first record
that was edited, deleted, inserted, reordered or cut short. A chain proves order and
integrity, not completeness at the end: someone who can write the file can drop the
newest records or rewrite the whole chain. Anchor it outside the file: the gateway sends
every record (with its seq and hash) as a Prefect event through ``on_append``, and
:meth:`AuditLog.head` gives the newest (seq, hash) to compare with.

Appends are serialised by a thread lock and by ``flock`` on the file, so several
gateway processes (or the CLI) can share one log; each append re-reads the newest
record when another process has grown the file. ``detail`` passes through
:func:`redact_detail` and ``path`` has secret-looking query values masked, because an
audit trail is read by many more people than the secrets it mentions.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("nornflow.gateway.audit")

GENESIS = "0" * 64
REDACTED = "<redacted>"
_SECRET_KEY = re.compile(
    r"pass|token|secret|auth|cookie|api[-_]?key|credential|private[-_]?key|session[-_]?id|csrf", re.IGNORECASE)
# The shape of a NornFlow API token (see store.TOKEN_RE); the id part is kept so a reader can tell tokens apart.
_TOKEN_VALUE = re.compile(r"nft_([0-9a-f]{16})_[0-9a-f]{8}_[0-9a-f]{32}_[0-9a-f]{64}")
_SECRET_QUERY = re.compile(
    r"([?&][^=&#]*(?:pass|token|secret|auth|key|session|csrf)[^=&#]*=)[^&#]*", re.IGNORECASE)
# Named like secrets but safe: identifiers of a token and of a signing key, never their values.
_SAFE_KEYS = frozenset({"token_id", "kid"})
_ACTION = re.compile(r"[a-z0-9_]+(?:[.-][a-z0-9_]+)*")

AuditCallback = Callable[[dict[str, Any]], None]


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items() if str(k) in _SAFE_KEYS or not _SECRET_KEY.search(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return _TOKEN_VALUE.sub(rf"nft_\1_{REDACTED}", value)
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return value
    return _clean(str(value))  # datetimes, UUIDs, NaN: as text, so the record round-trips through JSON


def redact_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy of ``detail`` without keys named like secrets, at any depth.

    Keys matching password/token/secret/auth/authorization/cookie/api key/credential/
    session id/csrf are dropped (except ``token_id`` and ``kid``, which name without granting);
    strings shaped like a NornFlow token are masked.
    """
    cleaned = _clean(detail or {})
    return cleaned if isinstance(cleaned, dict) else {}


def redact_path(path: str | None) -> str | None:
    """Mask secret-looking query values and tokens in a request path."""
    if path is None:
        return None
    return _TOKEN_VALUE.sub(rf"nft_\1_{REDACTED}", _SECRET_QUERY.sub(rf"\1{REDACTED}", path))


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 over the record's canonical JSON (sorted keys, no spaces), ``hash`` itself left out."""
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class AuditVerification:
    """The result of :meth:`AuditLog.verify`: ``seq`` is the first record that is not as written."""

    ok: bool
    records: int
    problem: str | None = None
    seq: int | None = None


def _lines_backwards(fd: int, size: int, chunk: int = 1 << 16) -> Iterator[bytes]:
    """The file's lines from the last to the first (the first one yielded is b"" if it ends in a newline)."""
    position, buffer = size, b""
    while position > 0:
        step = min(chunk, position)
        position -= step
        parts = (os.pread(fd, step, position) + buffer).split(b"\n")
        buffer = parts[0]
        yield from reversed(parts[1:])
    yield buffer


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """Append, verify and read the hash-chained audit log at ``path`` (created 0600 if missing)."""

    def __init__(self, path: Path | str, *, fsync: bool = False, now: Callable[[], datetime] = _utcnow,
                 on_append: Iterable[AuditCallback] = ()) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.fsync = fsync
        self.on_append: list[AuditCallback] = list(on_append)
        self._now = now
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._lock = threading.Lock()
        self._size, self._seq, self._prev, self._clean_end = -1, 0, GENESIS, True
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
        """Learn the newest record's seq and hash, unless the file is as this process left it."""
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        self._size, self._seq, self._prev = size, 0, GENESIS
        self._clean_end = size == 0 or os.pread(self._fd, 1, size - 1) == b"\n"
        for raw in _lines_backwards(self._fd, size):
            record = _parse(raw) if raw.strip() else None
            if record and isinstance(record.get("seq"), int) and isinstance(record.get("hash"), str):
                # A damaged tail is left for verify() to report; new records chain to the last good one.
                self._seq, self._prev = record["seq"], record["hash"]
                return

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
            record: dict[str, Any] = {
                "seq": self._seq + 1, "ts": self._now().astimezone(UTC).isoformat(timespec="microseconds"),
                "workspace": workspace, "user": user, "action": action, "outcome": outcome, "ip": ip,
                "method": method, "path": redact_path(path), "status": status, "detail": redact_detail(detail),
                "prev": self._prev,
            }
            record["hash"] = record_hash(record)
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            data = (line if self._clean_end else "\n" + line).encode()
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            if self.fsync:
                os.fsync(self._fd)
            self._size += len(data)
            self._seq, self._prev, self._clean_end = record["seq"], record["hash"], True
        for callback in list(self.on_append):
            try:
                callback(dict(record))
            except Exception:  # a failing event sink must not fail the request being audited
                log.exception("audit on_append callback %r failed for seq %s", callback, record["seq"])
        return record

    def verify(self) -> AuditVerification:
        """Walk the whole chain; report the first record that was altered, removed, moved or cut short."""
        prev, expected = GENESIS, 1

        def bad(problem: str) -> AuditVerification:
            return AuditVerification(False, expected - 1, problem, expected)

        with self.path.open("rb") as lines:
            for number, raw in enumerate(lines, 1):
                if not raw.endswith(b"\n"):
                    return bad(f"line {number} (seq {expected}) is truncated: the file ends in the middle of a record")
                record = _parse(raw)
                if record is None or not isinstance(record.get("hash"), str):
                    return bad(f"line {number} (seq {expected}) is not a JSON audit record")
                if record_hash(record) != record["hash"]:
                    return bad(f"record seq {expected} (line {number}) was altered: its hash does not match")
                if record.get("seq") != expected:
                    return bad(f"line {number} holds seq {record.get('seq')!r} where seq {expected} belongs: "
                               "a record was deleted, inserted or reordered")
                if record.get("prev") != prev:
                    return bad(f"record seq {expected} (line {number}) does not chain to the record before it: "
                               "that record was replaced, or the chain was rewritten from here")
                prev, expected = record["hash"], expected + 1
        return AuditVerification(True, expected - 1)

    def tail(self, user: str | None = None, since: datetime | None = None, workspace: str | None = None,
             action: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` matching records, oldest first.

        ``action`` matches exactly or as a prefix ending at a dot ("login" matches "login.failed");
        a naive ``since`` is taken as UTC.
        """
        if limit <= 0:
            return []
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        size = os.fstat(self._fd).st_size
        found: list[dict[str, Any]] = []
        for raw in _lines_backwards(self._fd, size):
            record = _parse(raw) if raw.strip() else None
            if record is None:
                continue
            if since is not None:
                try:
                    if datetime.fromisoformat(str(record.get("ts"))) < since:
                        break  # records are appended in time order
                except ValueError:
                    continue
            name = str(record.get("action", ""))
            if ((user is None or record.get("user") == user)
                    and (workspace is None or record.get("workspace") == workspace)
                    and (action is None or name == action or name.startswith(action + "."))):
                found.append(record)
                if len(found) >= limit:
                    break
        found.reverse()
        return found
