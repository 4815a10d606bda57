"""The gateway's state in one SQLite file: users, token-signing keys, tokens, sessions, run starters.

Secrets are stored so that a copy of the file does not hand out logins: passwords as
argon2id hashes (memory-hard, rehashed when the parameters change), API tokens and
session ids as SHA-256 digests only (they are 128+ random bits, so a fast hash is
enough; the plain value is returned once and never stored). Tokens also carry an HMAC
under a signing key named by ``kid``: a forged or mistyped token is refused before any
database lookup, and retiring a key ends every token signed with it at once, while
rotating to a new key keeps older tokens working. The signing keys themselves sit in
this file, so it is created 0600 inside a 0700 directory.

One connection (WAL, ``check_same_thread=False``) guarded by a lock serves every thread;
argon2 runs outside the lock so one slow login never stalls the others. Verified tokens
are cached per token id for ``cache_ttl`` seconds: a revoke, retire or disable made by
*another* process takes effect within that time, in this process at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("team mode needs argon2-cffi: pip install 'nornflow-netops[gateway]'") from exc

from nornflow.gateway.errors import (
    AuthError,
    InvalidNameError,
    RoleError,
    TokenScopeError,
    UnknownSigningKeyError,
    UnknownTokenError,
    UnknownUserError,
    UserExistsError,
    WeakPasswordError,
)
from nornflow.gateway.settings import validate_workspace_name

try:
    from nornflow.gateway.roles import Role

    ROLE_NAMES: frozenset[str] = frozenset(str(role.value) for role in Role)
except ImportError:  # roles.py not written yet: the same six names
    ROLE_NAMES = frozenset({"viewer", "runner", "approver", "developer", "worker", "owner"})

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
LAST_USED_EVERY = timedelta(minutes=1)
SESSION_WRITE_EVERY = timedelta(seconds=30)
# nft_<id>_<kid>_<random>_<mac>: lowercase hex parts, so printable, no ':' (PREFECT_API_AUTH_STRING
# is "<user>:<token>") and no '_' inside a part.
TOKEN_RE = re.compile(r"nft_([0-9a-f]{16})_([0-9a-f]{8})_([0-9a-f]{32})_([0-9a-f]{64})")
_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")

_SCHEMA = """
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


@dataclass(frozen=True)
class User:
    """A person or a machine account; holds no password material, so its repr is safe to log."""

    name: str
    roles: dict[str, frozenset[str]]  # workspace -> role names
    disabled: bool
    created_at: datetime

    def roles_in(self, workspace: str) -> frozenset[str]:
        return self.roles.get(workspace, frozenset())


@dataclass(frozen=True)
class TokenInfo:
    """What a token grants; never the token itself (that is shown once, at creation)."""

    id: str
    user: str
    workspace: str
    roles: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    description: str
    kid: str


@dataclass(frozen=True)
class SigningKey:
    """A token-signing key's public facts; the secret never leaves the store."""

    kid: str
    created_at: datetime
    retired_at: datetime | None

    @property
    def active(self) -> bool:
        return self.retired_at is None


@dataclass(frozen=True)
class Session:
    """A browser login; ``expires_at`` is the sooner of the idle and the absolute expiry."""

    user: str
    created_at: datetime
    expires_at: datetime
    csrf_token: str = field(repr=False)
    absolute_expires_at: datetime | None = None


def _ts(when: datetime) -> float:
    return when.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_user_name(name: str) -> str:
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
        raise InvalidNameError(f"user name {name!r} is invalid: use 1-64 lowercase letters, digits or . _ @ -, "
                               "starting with a letter or digit (no ':' - it separates user and token)")
    return name


def _check_password(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters "
                                "long: use a longer passphrase")


def check_roles(roles: Iterable[str], *, allow_empty: bool = False) -> frozenset[str]:
    """Role names as a frozenset; a single string is one role, not its characters."""
    names = frozenset([roles] if isinstance(roles, str) else roles)
    unknown = sorted(names - ROLE_NAMES)
    if unknown:
        raise RoleError(f"unknown role(s) {unknown}; roles are: {', '.join(sorted(ROLE_NAMES))}")
    if not names and not allow_empty:
        raise RoleError(f"give at least one role; roles are: {', '.join(sorted(ROLE_NAMES))}")
    return names


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Cached:
    digest: str
    info: TokenInfo | None
    at: float


class GatewayStore:
    """Users, keys, tokens, sessions and run starters over one SQLite file; safe to share across threads."""

    def __init__(self, path: Path | str, *, now: Callable[[], datetime] = _utcnow,
                 hasher: PasswordHasher | None = None, cache_ttl: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created 0600 before SQLite opens it; an existing file is left alone: closing a descriptor of
        # it would drop the POSIX locks another connection of this process holds (SQLite then fails
        # with "disk I/O error", as a second store on the same data directory in one process did).
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        self._now = now
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        self._cache_ttl = cache_ttl
        self._lock = threading.RLock()
        self._tokens: dict[str, _Cached] = {}
        self._keys: dict[str, bytes] = {}
        self._keys_at = float("-inf")
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10, isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=10000"):
            self._db.execute(f"PRAGMA {pragma}")
        with self._lock:
            self._db.executescript(_SCHEMA)
        with self._tx() as db:
            self._newest_key(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> GatewayStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, *args: Any) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _invalidate(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._keys_at = float("-inf")

    # users -----------------------------------------------------------------

    def add_user(self, name: str, password: str, roles: Mapping[str, Iterable[str]] | None = None) -> User:
        _check_user_name(name)
        _check_password(password)
        grants = {validate_workspace_name(ws): check_roles(r, allow_empty=True) for ws, r in (roles or {}).items()}
        hashed = self._hasher.hash(password)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise UserExistsError(f"user {name!r} already exists: choose another name or use set_password")
            db.execute("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)",
                       (name, hashed, _ts(self._now())))
            db.executemany("INSERT INTO user_roles VALUES (?, ?, ?)",
                           [(name, ws, role) for ws, names in grants.items() for role in names])
        return self._user(name)

    def set_password(self, name: str, password: str) -> None:
        """Replace the password and end the user's browser sessions (a changed password logs out)."""
        _check_password(password)
        hashed = self._hasher.hash(password)
        with self._tx() as db:
            self._require_user(db, name)
            db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (hashed, name))
            db.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def disable(self, name: str) -> None:
        """Refuse the user's logins, sessions and tokens from now on (nothing is deleted)."""
        self._set_disabled(name, True)

    def enable(self, name: str) -> None:
        self._set_disabled(name, False)

    def _set_disabled(self, name: str, disabled: bool) -> None:
        with self._tx() as db:
            self._require_user(db, name)
            db.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name))
            if disabled:
                db.execute("DELETE FROM sessions WHERE user = ?", (name,))
        self._invalidate()

    def grant(self, name: str, workspace: str, roles: Iterable[str]) -> User:
        names = check_roles(roles)
        validate_workspace_name(workspace)
        with self._tx() as db:
            self._require_user(db, name)
            db.executemany("INSERT OR IGNORE INTO user_roles VALUES (?, ?, ?)", [(name, workspace, r) for r in names])
        self._invalidate()
        return self._user(name)

    def revoke_roles(self, name: str, workspace: str, roles: Iterable[str] | None = None) -> User:
        """Remove ``roles`` (default: all) in ``workspace``; tokens needing them stop verifying."""
        with self._tx() as db:
            self._require_user(db, name)
            if roles is None:
                db.execute("DELETE FROM user_roles WHERE user = ? AND workspace = ?", (name, workspace))
            else:
                db.executemany("DELETE FROM user_roles WHERE user = ? AND workspace = ? AND role = ?",
                               [(name, workspace, r) for r in check_roles(roles, allow_empty=True)])
        self._invalidate()
        return self._user(name)

    def list_users(self) -> list[User]:
        return self._users()

    def get_user(self, name: str) -> User | None:
        found = self._users(name)
        return found[0] if found else None

    def _user(self, name: str) -> User:
        user = self.get_user(name)
        if user is None:
            raise UnknownUserError(f"no user named {name!r}")
        return user

    def _users(self, name: str | None = None) -> list[User]:
        where, args = ("WHERE name = ?", (name,)) if name is not None else ("", ())
        with self._lock:
            rows = self._db.execute(f"SELECT name, disabled, created_at FROM users {where} ORDER BY name",  # noqa: S608
                                    args).fetchall()
            grants = self._db.execute(f"SELECT user, workspace, role FROM user_roles {where.replace('name', 'user')}",  # noqa: S608
                                      args).fetchall()
        roles: dict[str, dict[str, set[str]]] = {}
        for user, workspace, role in grants:
            roles.setdefault(user, {}).setdefault(workspace, set()).add(role)
        return [User(n, {ws: frozenset(r) for ws, r in roles.get(n, {}).items()}, bool(d), _dt(c) or _utcnow())
                for n, d, c in rows]

    @staticmethod
    def _require_user(db: sqlite3.Connection, name: str) -> bool:
        """Whether the user is disabled; UnknownUserError when there is no such user."""
        row = db.execute("SELECT disabled FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UnknownUserError(f"no user named {name!r}: create it first")
        return bool(row[0])

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password is right and the account enabled, else None (same work either way)."""
        rows = self._rows("SELECT password_hash, disabled FROM users WHERE name = ?", name) \
            if isinstance(name, str) else []
        stored = rows[0][0] if rows else self._dummy()
        ok = False
        with suppress(VerificationError, InvalidHashError):
            ok = isinstance(password, str) and self._hasher.verify(stored, password)
        if not rows or not ok or rows[0][1]:
            return None
        if self._hasher.check_needs_rehash(stored):
            fresh = self._hasher.hash(password)
            with self._tx() as db:  # compare-and-set: never undo a concurrent set_password
                db.execute("UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?",
                           (fresh, name, stored))
        return self.get_user(name)

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))
        return self._dummy_hash

    # signing keys ----------------------------------------------------------

    def rotate_signing_key(self) -> str:
        """Sign new tokens with a fresh key; tokens signed with older keys keep working until retired."""
        with self._tx() as db:
            kid = self._insert_key(db)
        self._invalidate()
        return kid

    def retire_signing_key(self, kid: str) -> None:
        """Every token signed with ``kid`` stops verifying; new tokens use the newest active key."""
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM signing_keys WHERE kid = ?", (kid,)).fetchone():
                raise UnknownSigningKeyError(f"no signing key {kid!r}; see signing_keys()")
            db.execute("UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL",
                       (_ts(self._now()), kid))
        self._invalidate()

    def signing_keys(self) -> list[SigningKey]:
        rows = self._rows("SELECT kid, created_at, retired_at FROM signing_keys ORDER BY rowid")
        return [SigningKey(kid, _dt(created) or _utcnow(), _dt(retired)) for kid, created, retired in rows]

    def signing_kid(self) -> str:
        """The key new tokens are signed with: the newest one not retired."""
        with self._tx() as db:
            return self._newest_key(db)[0]

    def live_tokens_by_key(self) -> dict[str, int]:
        """kid -> how many tokens signed with it are neither revoked nor expired (retiring it ends them)."""
        rows = self._rows("SELECT kid, count(*) FROM tokens WHERE revoked_at IS NULL "
                          "AND (expires_at IS NULL OR expires_at > ?) GROUP BY kid", _ts(self._now()))
        return {str(kid): int(count) for kid, count in rows}

    def _insert_key(self, db: sqlite3.Connection) -> str:
        while True:
            kid = secrets.token_hex(4)
            cursor = db.execute("INSERT OR IGNORE INTO signing_keys (kid, secret, created_at) VALUES (?, ?, ?)",
                                (kid, secrets.token_bytes(32), _ts(self._now())))
            if cursor.rowcount:
                return kid

    def _newest_key(self, db: sqlite3.Connection) -> tuple[str, bytes]:
        row = db.execute("SELECT kid, secret FROM signing_keys WHERE retired_at IS NULL "
                         "ORDER BY rowid DESC LIMIT 1").fetchone()
        if row is None:  # first start, or every key retired
            kid = self._insert_key(db)
            row = db.execute("SELECT kid, secret FROM signing_keys WHERE kid = ?", (kid,)).fetchone()
        return str(row[0]), bytes(row[1])

    def _active_key(self, kid: str) -> bytes | None:
        with self._lock:
            if kid not in self._keys or time.monotonic() - self._keys_at > self._cache_ttl:
                rows = self._db.execute("SELECT kid, secret FROM signing_keys WHERE retired_at IS NULL").fetchall()
                self._keys = {str(k): bytes(s) for k, s in rows}
                self._keys_at = time.monotonic()
            return self._keys.get(kid)

    # tokens ----------------------------------------------------------------

    def create_token(self, user: str, workspace: str, roles: Iterable[str], ttl: timedelta | None = None,
                     description: str = "") -> tuple[TokenInfo, str]:
        """Mint a token; the string is returned here once and only its digest is kept.

        A token may not exceed its user's roles in ``workspace`` (TokenScopeError names the
        missing ones). ``ttl=None`` never expires; callers pass settings.token_default_ttl_days.
        """
        wanted = check_roles(roles)
        validate_workspace_name(workspace)
        if ttl is not None and ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {ttl}")
        if not isinstance(description, str) or len(description) > 200:
            raise ValueError("description must be a string of at most 200 characters")
        now = self._now()
        with self._tx() as db:
            if self._require_user(db, user):
                raise AuthError(f"user {user!r} is disabled: enable it before creating tokens")
            held = self._held(db, user, workspace)
            if not wanted <= held:
                raise TokenScopeError(
                    f"a token may not exceed its user's roles: {user!r} does not hold {sorted(wanted - held)} in "
                    f"workspace {workspace!r} (holds {sorted(held) or 'none'}); grant them first or ask for less")
            kid, key = self._newest_key(db)
            token_id = secrets.token_hex(8)
            body = f"nft_{token_id}_{kid}_{secrets.token_hex(16)}"
            token = f"{body}_{hmac.new(key, body.encode(), hashlib.sha256).hexdigest()}"
            expires = now + ttl if ttl is not None else None
            db.execute("INSERT INTO tokens (id, user, workspace, roles, kid, digest, created_at, expires_at, "
                       "description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (token_id, user, workspace, ",".join(sorted(wanted)), kid, _sha256(token), _ts(now),
                        _ts(expires) if expires else None, description))
        info = TokenInfo(token_id, user, workspace, wanted, now, expires, None, None, description, kid)
        return info, token

    def list_tokens(self, user: str | None = None, workspace: str | None = None) -> list[TokenInfo]:
        rows = self._rows(f"SELECT {_INFO_COLUMNS} FROM tokens WHERE (?1 IS NULL OR user = ?1) "  # noqa: S608
                          "AND (?2 IS NULL OR workspace = ?2) ORDER BY created_at, id", user, workspace)
        return [_token_info(row) for row in rows]

    def revoke_token(self, token_id: str) -> None:
        """The token stops verifying at once (other gateway processes: within cache_ttl)."""
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM tokens WHERE id = ?", (token_id,)).fetchone():
                raise UnknownTokenError(f"no token with id {token_id!r}; see list_tokens()")
            db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                       (_ts(self._now()), token_id))
        self._invalidate()

    def verify_token(self, token: str) -> TokenInfo | None:
        """What the token grants now, or None (malformed, forged, unknown or retired key, expired, revoked,
        user disabled or no longer holding the roles). The MAC is checked before any database read."""
        match = TOKEN_RE.fullmatch(token) if isinstance(token, str) and len(token) < 200 else None
        if match is None:
            return None
        token_id, kid, _, mac = match.groups()
        key = self._active_key(kid)
        expected = hmac.new(key or b"", token[:-65].encode(), hashlib.sha256).hexdigest()
        if key is None or not hmac.compare_digest(expected, mac):
            return None
        digest, now, clock = _sha256(token), self._now(), time.monotonic()
        with self._lock:
            cached = self._tokens.get(token_id)
            if cached is None or clock - cached.at > self._cache_ttl or not hmac.compare_digest(cached.digest, digest):
                if len(self._tokens) > 10_000:
                    self._tokens.clear()
                cached = self._tokens[token_id] = _Cached(digest, self._load_token(token_id, kid, digest), clock)
        info = cached.info
        if info is None or info.revoked_at is not None or (info.expires_at is not None and now >= info.expires_at):
            return None
        if info.last_used_at is None or now - info.last_used_at >= LAST_USED_EVERY:
            with self._tx() as db:
                db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (_ts(now), token_id))
            info = cached.info = replace(info, last_used_at=now)
        return info

    def _load_token(self, token_id: str, kid: str, digest: str) -> TokenInfo | None:
        row = self._db.execute(f"SELECT {_INFO_COLUMNS}, digest FROM tokens WHERE id = ?",  # noqa: S608
                               (token_id,)).fetchone()
        if row is None or row[-2] != kid or not hmac.compare_digest(row[-1], digest):
            return None
        info = _token_info(row[:-1])
        disabled = self._db.execute("SELECT disabled FROM users WHERE name = ?", (info.user,)).fetchone()
        if disabled is None or disabled[0] or not info.roles <= self._held(self._db, info.user, info.workspace):
            return None
        return info

    @staticmethod
    def _held(db: sqlite3.Connection, user: str, workspace: str) -> frozenset[str]:
        rows = db.execute("SELECT role FROM user_roles WHERE user = ? AND workspace = ?", (user, workspace))
        return frozenset(str(r[0]) for r in rows)

    # sessions --------------------------------------------------------------

    def create_session(self, user: str, idle: timedelta, absolute: timedelta) -> str:
        """Start a browser login; the returned id (256 random bits) is shown once, only its SHA-256 is kept."""
        if idle <= timedelta(0) or absolute <= timedelta(0):
            raise ValueError("session idle and absolute lifetimes must be positive")
        session_id, now = secrets.token_urlsafe(32), self._now()
        with self._tx() as db:
            if self._require_user(db, user):
                raise AuthError(f"user {user!r} is disabled")
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (_sha256(session_id), user, _ts(now), _ts(now), idle.total_seconds(),
                        _ts(now + min(idle, absolute)), _ts(now + absolute), secrets.token_urlsafe(32)))
        return session_id

    def get_session(self, session_id: str) -> Session | None:
        """The live session, sliding its idle expiry (written at most every 30 s); None when it has ended."""
        if not isinstance(session_id, str) or not 0 < len(session_id) <= 256:
            return None
        digest, now = _sha256(session_id), _ts(self._now())
        rows = self._rows("SELECT s.user, s.created_at, s.last_seen_at, s.idle_seconds, s.idle_expires_at, "
                          "s.absolute_expires_at, s.csrf_token, u.disabled FROM sessions s "
                          "JOIN users u ON u.name = s.user WHERE s.digest = ?", digest)
        if not rows:
            return None
        user, created, seen, idle, idle_expires, absolute, csrf, disabled = rows[0]
        if disabled or now >= idle_expires or now >= absolute:
            self.delete_session(session_id)
            return None
        if now - seen >= SESSION_WRITE_EVERY.total_seconds():
            idle_expires = min(now + idle, absolute)
            with self._tx() as db:
                db.execute("UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE digest = ?",
                           (now, idle_expires, digest))
        return Session(user, _dt(created) or _utcnow(), _dt(idle_expires) or _utcnow(), csrf, _dt(absolute))

    def delete_session(self, session_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE digest = ?", (_sha256(session_id),))

    def delete_user_sessions(self, user: str) -> int:
        with self._tx() as db:
            return db.execute("DELETE FROM sessions WHERE user = ?", (user,)).rowcount

    def purge_expired_sessions(self) -> int:
        """Drop ended sessions (get_session drops them lazily; call this now and then to keep the file small)."""
        now = _ts(self._now())
        with self._tx() as db:
            return db.execute("DELETE FROM sessions WHERE idle_expires_at <= ? OR absolute_expires_at <= ?",
                              (now, now)).rowcount

    # four-eyes -------------------------------------------------------------

    def record_run_starter(self, workspace: str, flow_run_id: str, user: str) -> None:
        """Remember who started a flow run; the first record wins, so a later call cannot rewrite it."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO run_starters VALUES (?, ?, ?, ?)",
                       (workspace, str(flow_run_id), user, _ts(self._now())))

    def run_starter(self, workspace: str, flow_run_id: str) -> str | None:
        rows = self._rows("SELECT user FROM run_starters WHERE workspace = ? AND flow_run_id = ?",
                          workspace, str(flow_run_id))
        return str(rows[0][0]) if rows else None


_INFO_COLUMNS = "id, user, workspace, roles, created_at, expires_at, revoked_at, last_used_at, description, kid"


def _token_info(row: Any) -> TokenInfo:
    tid, user, workspace, roles, created, expires, revoked, used, description, kid = row
    return TokenInfo(tid, user, workspace, frozenset(r for r in roles.split(",") if r), _dt(created) or _utcnow(),
                     _dt(expires), _dt(revoked), _dt(used), description, kid)
