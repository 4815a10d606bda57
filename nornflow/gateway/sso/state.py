"""What single sign-on keeps between requests, in the gateway's SQLite file beside the store's tables.

- **Pending logins** (``sso_pending``): a login's state, nonce and PKCE verifier while the person is
  at the provider, keyed by the SHA-256 of ``state`` and bound to the browser that started it (the
  SHA-256 of a random cookie). :meth:`SsoState.take_pending` deletes the row as it reads it, so a
  state (and the code that came with it) is spent once: a replayed callback finds nothing.
- **Identities** (``sso_identities``): which provider subject a gateway user name belongs to. A name
  is bound to the first subject that used it, so another subject (an account recreated under a
  recycled name, or a second provider) cannot take over its roles, tokens and audit trail.
- **SSO sessions** (``sso_sessions``): for a browser session opened by single sign-on, when its
  groups are read again and what that needs (OIDC: refresh token, nonce, ID token for logout).
  Keyed like the store's sessions, by the SHA-256 of the session id; the session id itself is
  never stored. A copy of this file holds refresh tokens, which work only with the client secret
  (kept outside the file) for a confidential client.

One connection in WAL mode guarded by a lock, as the store does; every method is short.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nornflow.gateway.sso.errors import SsoError
from nornflow.gateway.store.db import connect, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sso_pending (state_digest TEXT PRIMARY KEY, binding_digest TEXT NOT NULL,
    data TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sso_identities (source TEXT NOT NULL, subject TEXT NOT NULL, user TEXT NOT NULL UNIQUE,
    first_seen REAL NOT NULL, last_login REAL NOT NULL, PRIMARY KEY (source, subject));
CREATE TABLE IF NOT EXISTS sso_sessions (session_digest TEXT PRIMARY KEY, user TEXT NOT NULL, source TEXT NOT NULL,
    subject TEXT NOT NULL, recheck_at REAL NOT NULL, expires_at REAL NOT NULL, secrets TEXT NOT NULL,
    checked_at REAL NOT NULL);
"""


def digest(value: str) -> str:
    """SHA-256 hex, as the store keys sessions: the plain value is never kept."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class SsoSession:
    """A browser session single sign-on opened; ``secrets`` never leaves the gateway."""

    user: str
    source: str
    subject: str
    recheck_at: float
    checked_at: float  # the last time the provider or the directory vouched for the person
    secrets: Mapping[str, str] = field(repr=False)


class SsoState:
    """The three tables above, over the gateway's SQLite file (``settings.store_path``)."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._db = connect(self.path)
        with self._lock:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db, self._lock)

    # -- pending logins ----------------------------------------------------------------------------
    def put_pending(self, state: str, binding: str, data: str, ttl: float) -> None:
        now = self._clock()
        with self._tx() as db:
            db.execute("DELETE FROM sso_pending WHERE expires_at <= ?", (now,))
            db.execute("INSERT INTO sso_pending VALUES (?, ?, ?, ?)", (digest(state), digest(binding), data, now + ttl))

    def take_pending(self, state: str, binding: str | None) -> str:
        """The pending login's data, spent; SsoError when the state is unknown, spent, expired or another
        browser's (the binding cookie differs)."""
        if not state or len(state) > 512:
            raise SsoError("the provider's callback carries no usable state: start the login again")
        with self._tx() as db:
            row = db.execute("SELECT binding_digest, data, expires_at FROM sso_pending WHERE state_digest = ?",
                             (digest(state),)).fetchone()
            if row is not None:
                db.execute("DELETE FROM sso_pending WHERE state_digest = ?", (digest(state),))
        if row is None:
            raise SsoError("this login's state is unknown or was used already (a replayed or forged callback): "
                           "start the login again")
        if binding is None or not _equal(row[0], digest(binding)):
            raise SsoError("this login was started in another browser (its binding cookie is missing or differs): "
                           "start the login again here")
        if self._clock() >= row[2]:
            raise SsoError("the login took too long at the provider: start it again")
        return str(row[1])

    # -- identities --------------------------------------------------------------------------------
    def bind_identity(self, source: str, subject: str, user: str) -> None:
        """Bind ``user`` to (source, subject) on first use; SsoError when either is bound elsewhere."""
        now = self._clock()
        with self._tx() as db:
            row = db.execute("SELECT user FROM sso_identities WHERE source = ? AND subject = ?",
                             (source, subject)).fetchone()
            if row is not None and row[0] != user:
                raise SsoError(f"this {source} account signed in before as {row[0]!r}, and now calls itself "
                               f"{user!r}: an owner must remove the old user first")
            other = db.execute("SELECT source, subject FROM sso_identities WHERE user = ?", (user,)).fetchone()
            if other is not None and (other[0], other[1]) != (source, subject):
                raise SsoError(f"the user name {user!r} belongs to another {other[0]} account: refused (ask an "
                               "owner, who can remove the old user)")
            if row is None:
                db.execute("INSERT INTO sso_identities VALUES (?, ?, ?, ?, ?)", (source, subject, user, now, now))
            else:
                db.execute("UPDATE sso_identities SET last_login = ? WHERE source = ? AND subject = ?",
                           (now, source, subject))

    def forget_user(self, user: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sso_identities WHERE user = ?", (user,))
            db.execute("DELETE FROM sso_sessions WHERE user = ?", (user,))

    # -- SSO sessions ------------------------------------------------------------------------------
    def put_session(self, session_id: str, user: str, source: str, subject: str, recheck_in: float,
                    lifetime: float, secrets: Mapping[str, str]) -> None:
        now = self._clock()
        with self._tx() as db:
            db.execute("DELETE FROM sso_sessions WHERE expires_at <= ?", (now,))
            db.execute("INSERT OR REPLACE INTO sso_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (digest(session_id), user, source, subject, now + recheck_in, now + lifetime,
                        json.dumps(dict(secrets)), now))

    def session(self, session_id: str) -> SsoSession | None:
        with self._lock:
            row = self._db.execute("SELECT user, source, subject, recheck_at, checked_at, secrets FROM sso_sessions "
                                   "WHERE session_digest = ?", (digest(session_id),)).fetchone()
        if row is None:
            return None
        return SsoSession(str(row[0]), str(row[1]), str(row[2]), float(row[3]), float(row[4]), json.loads(row[5]))

    def claim_recheck(self, session_id: str, due: float, hold: float) -> bool:
        """Take the recheck that was due at ``due`` (moving it ``hold`` s on): True for exactly one caller,
        so two requests never spend one rotating refresh token twice."""
        with self._tx() as db:
            cursor = db.execute("UPDATE sso_sessions SET recheck_at = ? WHERE session_digest = ? AND recheck_at = ?",
                                (self._clock() + hold, digest(session_id), due))
            return cursor.rowcount == 1

    def rechecked(self, session_id: str, recheck_in: float, secrets: Mapping[str, str]) -> None:
        with self._tx() as db:
            now = self._clock()
            db.execute("UPDATE sso_sessions SET recheck_at = ?, checked_at = ?, secrets = ? WHERE session_digest = ?",
                       (now + recheck_in, now, json.dumps(dict(secrets)), digest(session_id)))

    def drop_session(self, session_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sso_sessions WHERE session_digest = ?", (digest(session_id),))


def _equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a, b)
