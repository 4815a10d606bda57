"""The audit chain's parts: a record's hash, the audit key, the anchor, and reading the log's lines.

Each record carries ``prev`` (the previous record's ``hash``) and ``hash``: an HMAC-SHA256, under the
audit key, of its own canonical JSON without ``hash``. The anchor (``audit.anchor``) holds the newest
seq and hash, HMAC'd with the key. Both files sit beside the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
KEYED = "hmac-sha256"  # a record's "alg"; a record without "alg" is plain SHA-256 (written before keys)
KEY_FILE = "audit.key"
ANCHOR_FILE = "audit.anchor"
ANCHOR_SIZE = 256  # the anchor's JSON padded with spaces, so each write replaces all of it


def record_hash(record: Mapping[str, Any], key: bytes | None = None) -> str:
    """The record's canonical JSON (sorted keys, no spaces, ``hash`` left out): HMAC-SHA256 under
    ``key``, or plain SHA-256 without one (the scheme of records that carry no ``alg``)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if key is None:
        return hashlib.sha256(canonical).hexdigest()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def anchor_mac(key: bytes, seq: int, head: str, keyed_since: int) -> str:
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


def create_key(path: Path) -> bytes:
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
        return hmac.compare_digest(self.mac, anchor_mac(key, self.seq, self.hash, self.keyed_since))


def read_anchor(path: Path) -> Anchor | None:
    """The anchor at ``path``, None when missing; ValueError when it is not an anchor at all."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Anchor(int(data["seq"]), str(data["hash"]), int(data["keyed_since"]), str(data["mac"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"audit anchor {str(path)!r} is damaged: it is not the JSON the gateway writes") from None


def lines_backwards(fd: int, size: int, chunk: int = 1 << 16) -> Iterator[bytes]:
    """The file's lines from the last to the first (the first one yielded is b"" if it ends in a newline)."""
    position, buffer = size, b""
    while position > 0:
        step = min(chunk, position)
        position -= step
        parts = (os.pread(fd, step, position) + buffer).split(b"\n")
        buffer = parts[0]
        yield from reversed(parts[1:])
    yield buffer


def parse_record(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
