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
hash in the payload) as a Prefect event, and :func:`check_against_event` compares the
newest shipped one with the file. The key (``audit.key``, 0600) and the anchor sit beside
the log; someone who can replace the key, the anchor and the log together is caught only
by the events, which live in the workspaces' databases.

Appends are serialised by a thread lock and by ``flock`` on the file, so several
gateway processes (or the CLI) can share one log; each append re-reads the newest
record when another process has grown the file. ``detail`` passes through
:func:`redact_detail` and ``path`` has secret-looking query values masked, because an
audit trail is read by many more people than the secrets it mentions.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("nornflow.gateway.audit")

GENESIS = "0" * 64
KEYED = "hmac-sha256"  # a record's "alg"; a record without "alg" is plain SHA-256 (written before keys)
KEY_FILE = "audit.key"
ANCHOR_FILE = "audit.anchor"
_ANCHOR_SIZE = 256  # the anchor's JSON padded with spaces, so each write replaces all of it
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


def record_hash(record: Mapping[str, Any], key: bytes | None = None) -> str:
    """The record's canonical JSON (sorted keys, no spaces, ``hash`` left out): HMAC-SHA256 under
    ``key``, or plain SHA-256 without one (the scheme of records that carry no ``alg``)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if key is None:
        return hashlib.sha256(canonical).hexdigest()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def _anchor_mac(key: bytes, seq: int, head: str, keyed_since: int) -> str:
    return hmac.new(key, f"anchor:{seq}:{head}:{keyed_since}".encode(), hashlib.sha256).hexdigest()


def read_key(path: Path) -> bytes | None:
    """The audit key at ``path`` (64 hex characters), or None when there is none yet."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError(f"audit key {str(path)!r} is damaged (not 64 hex characters): restore it from the backup "
                         "of the gateway's data directory")
    return bytes.fromhex(text)


def _create_key(path: Path) -> bytes:
    """A new key at ``path`` (0600); the existing one when a crashed writer left it there already."""
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        existing = read_key(path)
        if existing is None:
            raise
        return existing
    try:
        os.write(fd, key.hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


@dataclass(frozen=True)
class Anchor:
    """The newest (seq, hash) as the gateway last wrote it, and the first seq written with the key."""

    seq: int
    hash: str
    keyed_since: int
    mac: str

    def valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.mac, _anchor_mac(key, self.seq, self.hash, self.keyed_since))


def read_anchor(path: Path) -> Anchor | None:
    """The anchor at ``path``, None when missing; ValueError when it is not an anchor at all."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Anchor(int(data["seq"]), str(data["hash"]), int(data["keyed_since"]), str(data["mac"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"audit anchor {str(path)!r} is damaged: it is not the JSON the gateway writes") from None


@dataclass(frozen=True)
class AuditVerification:
    """The result of :meth:`AuditLog.verify`: ``seq`` is the first record that is not as written."""

    ok: bool
    records: int
    problem: str | None = None
    seq: int | None = None
    head: tuple[int, str] = (0, GENESIS)
    notes: tuple[str, ...] = ()


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


def _anchor_problem(key: bytes | None, anchor: Anchor | None, last: tuple[int, str], at_anchor: str | None,
                    keyed_seen: bool, path: Path) -> str | None:
    """Why the log's end disagrees with the anchor, or None when it agrees."""
    if anchor is None:
        if key is not None or keyed_seen:
            return (f"the audit anchor {str(path)!r} is missing although the log is keyed: it was deleted, so the "
                    "newest records may have been removed with it; compare with the workspaces' events "
                    "(nornflow audit verify --against-events)")
        return None
    if key is None or not anchor.valid(key):
        return f"the audit anchor {str(path)!r} was not written with the audit key: it was forged or replaced"
    if last[0] < anchor.seq:
        return (f"the log ends at seq {last[0]} but the anchor says seq {anchor.seq}: the newest "
                f"{anchor.seq - last[0]} record(s) were deleted")
    if at_anchor != anchor.hash:
        return (f"record seq {anchor.seq} is not the one the anchor names: the log was rewritten "
                f"from seq {anchor.seq} or earlier")
    return None


def check_against_event(verified: AuditVerification, records_by_seq: Mapping[int, str],
                        event_seq: int, event_hash: str, workspace: str) -> str | None:
    """Compare the newest audit event shipped to ``workspace`` with the log; None when it agrees.

    ``records_by_seq`` maps the log's seqs to their hashes (at least ``event_seq``'s).
    """
    if event_seq > verified.head[0]:
        return (f"workspace {workspace!r} holds audit event seq {event_seq} but the log ends at seq "
                f"{verified.head[0]}: the newest {event_seq - verified.head[0]} record(s) were deleted")
    if records_by_seq.get(event_seq) != event_hash:
        return (f"record seq {event_seq} differs from the audit event shipped to workspace {workspace!r}: "
                "the log was rewritten from that record or earlier")
    return None


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
        for raw in _lines_backwards(self._fd, size):
            record = _parse(raw) if raw.strip() else None
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
                           "mac": _anchor_mac(self._key, seq, head, keyed_since)}).encode()
        fd = os.open(self.anchor_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.pwrite(fd, body.ljust(_ANCHOR_SIZE), 0)
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
                self._key = _create_key(self.key_path)
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
        prev, expected, last = GENESIS, 1, (0, GENESIS)
        try:
            with self._locked():  # not in the middle of an append's anchor write
                key, anchor = read_key(self.key_path), read_anchor(self.anchor_path)
        except ValueError as exc:
            return AuditVerification(False, 0, str(exc))
        keyed_seen, at_anchor = False, None

        def bad(problem: str) -> AuditVerification:
            return AuditVerification(False, expected - 1, problem, expected, last)

        with self.path.open("rb") as lines:
            for number, raw in enumerate(lines, 1):
                if not raw.endswith(b"\n"):
                    return bad(f"line {number} (seq {expected}) is truncated: the file ends in the middle of a record")
                record = _parse(raw)
                if record is None or not isinstance(record.get("hash"), str):
                    return bad(f"line {number} (seq {expected}) is not a JSON audit record")
                alg = record.get("alg")
                if alg == KEYED:
                    if key is None:
                        return bad(f"record seq {expected} is keyed but the audit key {str(self.key_path)!r} is "
                                   "missing: restore it from the backup of the data directory")
                    keyed_seen = True
                elif alg is not None:
                    return bad(f"record seq {expected} (line {number}) names an unknown scheme {alg!r}")
                elif keyed_seen or (anchor is not None and expected >= anchor.keyed_since):
                    return bad(f"record seq {expected} (line {number}) is not keyed although the log is keyed from "
                               "an earlier record on: the chain was rewritten from here without the key")
                if not hmac.compare_digest(record_hash(record, key if alg else None), record["hash"]):
                    return bad(f"record seq {expected} (line {number}) was altered or rewritten without the audit "
                               "key: its hash does not match")
                if record.get("seq") != expected:
                    return bad(f"line {number} holds seq {record.get('seq')!r} where seq {expected} belongs: "
                               "a record was deleted, inserted or reordered")
                if record.get("prev") != prev:
                    return bad(f"record seq {expected} (line {number}) does not chain to the record before it: "
                               "that record was replaced, or the chain was rewritten from here")
                if anchor is not None and expected == anchor.seq:
                    at_anchor = record["hash"]
                prev, expected = record["hash"], expected + 1
                last = (expected - 1, prev)
        records = expected - 1
        problem = _anchor_problem(key, anchor, last, at_anchor, keyed_seen, self.anchor_path)
        if problem:
            return AuditVerification(False, records, problem, anchor.seq if anchor else None, last)
        notes = () if anchor else ("a log from before audit keys: nothing anchors its newest records yet "
                                   "(the next record written creates the key and the anchor)",)
        return AuditVerification(True, records, head=last, notes=notes)

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
