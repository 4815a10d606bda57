"""API tokens and the keys they are signed with.

A token carries an HMAC under a signing key named by ``kid``: a forged or mistyped token is refused
before any database lookup, and retiring a key ends every token signed with it at once, while rotating
to a new key keeps older tokens working. Only a token's SHA-256 digest is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from nornflow.gateway.errors import AuthError, TokenScopeError, UnknownSigningKeyError, UnknownTokenError
from nornflow.gateway.store.db import Cached, Database, check_roles, dt, sha256, ts, utcnow
from nornflow.gateway.store.records import SigningKey, TokenInfo
from nornflow.gateway.workspace_settings import validate_workspace_name

LAST_USED_EVERY = timedelta(minutes=1)
# nft_<id>_<kid>_<random>_<mac>: lowercase hex parts, so printable, no ':' (PREFECT_API_AUTH_STRING
# is "<user>:<token>") and no '_' inside a part.
TOKEN_RE = re.compile(r"nft_([0-9a-f]{16})_([0-9a-f]{8})_([0-9a-f]{32})_([0-9a-f]{64})")


class Tokens(Database):
    """The ``signing_keys`` and ``tokens`` tables."""

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
                       (ts(self._now()), kid))
        self._invalidate()

    def signing_keys(self) -> list[SigningKey]:
        rows = self._rows("SELECT kid, created_at, retired_at FROM signing_keys ORDER BY rowid")
        return [SigningKey(kid, dt(created) or utcnow(), dt(retired)) for kid, created, retired in rows]

    def signing_kid(self) -> str:
        """The key new tokens are signed with: the newest one not retired."""
        with self._tx() as db:
            return self._newest_key(db)[0]

    def live_tokens_by_key(self) -> dict[str, int]:
        """kid -> how many tokens signed with it are neither revoked nor expired (retiring it ends them)."""
        rows = self._rows("SELECT kid, count(*) FROM tokens WHERE revoked_at IS NULL "
                          "AND (expires_at IS NULL OR expires_at > ?) GROUP BY kid", ts(self._now()))
        return {str(kid): int(count) for kid, count in rows}

    def _insert_key(self, db: sqlite3.Connection) -> str:
        while True:
            kid = secrets.token_hex(4)
            cursor = db.execute("INSERT OR IGNORE INTO signing_keys (kid, secret, created_at) VALUES (?, ?, ?)",
                                (kid, secrets.token_bytes(32), ts(self._now())))
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
                       (token_id, user, workspace, ",".join(sorted(wanted)), kid, sha256(token), ts(now),
                        ts(expires) if expires else None, description))
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
                       (ts(self._now()), token_id))
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
        digest, now, clock = sha256(token), self._now(), time.monotonic()
        with self._lock:
            cached = self._tokens.get(token_id)
            if cached is None or clock - cached.at > self._cache_ttl or not hmac.compare_digest(cached.digest, digest):
                if len(self._tokens) > 10_000:
                    self._tokens.clear()
                cached = self._tokens[token_id] = Cached(digest, self._load_token(token_id, kid, digest), clock)
        info = cached.info
        if info is None or info.revoked_at is not None or (info.expires_at is not None and now >= info.expires_at):
            return None
        if info.last_used_at is None or now - info.last_used_at >= LAST_USED_EVERY:
            with self._tx() as db:
                db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (ts(now), token_id))
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


_INFO_COLUMNS = "id, user, workspace, roles, created_at, expires_at, revoked_at, last_used_at, description, kid"


def _token_info(row: Any) -> TokenInfo:
    tid, user, workspace, roles, created, expires, revoked, used, description, kid = row
    return TokenInfo(tid, user, workspace, frozenset(r for r in roles.split(",") if r), dt(created) or utcnow(),
                     dt(expires), dt(revoked), dt(used), description, kid)
