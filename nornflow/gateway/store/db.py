"""The SQLite file under the store: its schema, one connection and lock shared by every thread, and the
helpers the tables' classes share.

One connection (WAL, ``check_same_thread=False``) guarded by a lock serves every thread;
argon2 runs outside the lock so one slow login never stalls the others. Verified tokens
are cached per token id for ``cache_ttl`` seconds: a revoke, retire or disable made by
*another* process takes effect within that time, in this process at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

try:
    from argon2 import PasswordHasher
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("team mode needs argon2-cffi: pip install 'nornflow-netops[gateway]'") from exc

from nornflow.gateway.errors import RoleError, UnknownUserError
from nornflow.gateway.policy.roles import Role
from nornflow.gateway.store.records import TokenInfo

ROLE_NAMES: frozenset[str] = frozenset(str(role.value) for role in Role)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS user_roles (user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    workspace TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (user, workspace, role));
CREATE TABLE IF NOT EXISTS signing_keys (kid TEXT PRIMARY KEY, secret BLOB NOT NULL,
    created_at REAL NOT NULL, retired_at REAL);
CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, user TEXT NOT NULL, workspace TEXT NOT NULL,
    roles TEXT NOT NULL, kid TEXT NOT NULL, digest TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL,
    revoked_at REAL, last_used_at REAL, description TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE, created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL, idle_seconds REAL NOT NULL, idle_expires_at REAL NOT NULL,
    absolute_expires_at REAL NOT NULL, csrf_token TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user);
CREATE TABLE IF NOT EXISTS run_starters (workspace TEXT NOT NULL, flow_run_id TEXT NOT NULL,
    user TEXT NOT NULL, recorded_at REAL NOT NULL, PRIMARY KEY (workspace, flow_run_id));
"""


def ts(when: datetime) -> float:
    return when.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_roles(roles: Iterable[str], *, allow_empty: bool = False) -> frozenset[str]:
    """Role names as a frozenset; a single string is one role, not its characters."""
    names = frozenset([roles] if isinstance(roles, str) else roles)
    unknown = sorted(names - ROLE_NAMES)
    if unknown:
        raise RoleError(f"unknown role(s) {unknown}; roles are: {', '.join(sorted(ROLE_NAMES))}")
    if not names and not allow_empty:
        raise RoleError(f"give at least one role; roles are: {', '.join(sorted(ROLE_NAMES))}")
    return names


def utcnow() -> datetime:
    return datetime.now(UTC)


def connect(path: Path, *, foreign_keys: bool = False) -> sqlite3.Connection:
    """A connection to the gateway's SQLite file ``path``, created 0600 (WAL, a 10 s busy wait); shared by
    a lock, so one connection serves every thread.

    The file is created 0600 before SQLite opens it; an existing file is left alone: closing a descriptor
    of it would drop the POSIX locks another connection of this process holds (SQLite then fails with
    "disk I/O error", as a second store on the same data directory in one process did).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    db = sqlite3.connect(path, check_same_thread=False, timeout=10, isolation_level=None)
    pragmas = ["journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"]
    for pragma in pragmas + (["foreign_keys=ON"] if foreign_keys else []):
        db.execute(f"PRAGMA {pragma}")
    return db


@contextmanager
def transaction(db: sqlite3.Connection, lock: threading.RLock | threading.Lock) -> Iterator[sqlite3.Connection]:
    """One write transaction (``BEGIN IMMEDIATE``), rolled back on any exception, under ``lock``."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


@dataclass
class Cached:
    digest: str
    info: TokenInfo | None
    at: float


class Database:
    """The SQLite file and its lock, shared by the tables' classes (:class:`nornflow.gateway.store.GatewayStore`
    is all of them)."""

    def __init__(self, path: Path | str, *, now: Callable[[], datetime] = utcnow,
                 hasher: PasswordHasher | None = None, cache_ttl: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._now = now
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        self._cache_ttl = cache_ttl
        self._lock = threading.RLock()
        self._tokens: dict[str, Cached] = {}
        self._keys: dict[str, bytes] = {}
        self._keys_at = float("-inf")
        self._db = connect(self.path, foreign_keys=True)
        with self._lock:
            self._db.executescript(SCHEMA)

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db, self._lock)

    def _rows(self, sql: str, *args: Any) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _invalidate(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._keys_at = float("-inf")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _require_user(db: sqlite3.Connection, name: str) -> bool:
        """Whether the user is disabled; UnknownUserError when there is no such user."""
        row = db.execute("SELECT disabled FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UnknownUserError(f"no user named {name!r}: create it first")
        return bool(row[0])

    @staticmethod
    def _held(db: sqlite3.Connection, user: str, workspace: str) -> frozenset[str]:
        rows = db.execute("SELECT role FROM user_roles WHERE user = ? AND workspace = ?", (user, workspace))
        return frozenset(str(r[0]) for r in rows)
