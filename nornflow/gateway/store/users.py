"""Users: names, passwords (argon2id) and roles per workspace."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from contextlib import suppress

from argon2.exceptions import InvalidHashError, VerificationError

from nornflow.gateway.errors import InvalidNameError, UnknownUserError, UserExistsError, WeakPasswordError
from nornflow.gateway.store.db import Database, check_roles, dt, ts, utcnow
from nornflow.gateway.store.records import User
from nornflow.gateway.workspace_settings import validate_workspace_name

#: The password hash of a user single sign-on created: no argon2 hash, so no password ever matches it.
EXTERNAL = "!sso"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")


def _check_user_name(name: str) -> str:
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
        raise InvalidNameError(f"user name {name!r} is invalid: use 1-64 lowercase letters, digits or . _ @ -, "
                               "starting with a letter or digit (no ':' - it separates user and token)")
    return name


def _check_password(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters "
                                "long: use a longer passphrase")


class Users(Database):
    """The ``users`` and ``user_roles`` tables."""

    def add_user(self, name: str, password: str, roles: Mapping[str, Iterable[str]] | None = None) -> User:
        _check_user_name(name)
        _check_password(password)
        grants = {validate_workspace_name(ws): check_roles(r, allow_empty=True) for ws, r in (roles or {}).items()}
        hashed = self._hasher.hash(password)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise UserExistsError(f"user {name!r} already exists: choose another name or use set_password")
            db.execute("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)",
                       (name, hashed, ts(self._now())))
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

    def user_kind(self, name: str) -> str | None:
        """``"local"`` (a password of its own), ``"external"`` (created by single sign-on) or None (no such user)."""
        rows = self._rows("SELECT password_hash FROM users WHERE name = ?", name) if isinstance(name, str) else []
        return None if not rows else "external" if rows[0][0] == EXTERNAL else "local"

    def sync_external_user(self, name: str,
                           roles: Mapping[str, Iterable[str]]) -> tuple[User, dict[str, frozenset[str]]]:
        """Create or update a single-sign-on user with exactly ``roles`` (what their groups grant now, in every
        workspace); (the user, the roles held before). A local user of that name is never taken over."""
        _check_user_name(name)
        grants = {validate_workspace_name(ws): check_roles(r, allow_empty=True) for ws, r in roles.items()}
        with self._tx() as db:
            row = db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != EXTERNAL:
                raise UserExistsError(f"{name!r} is a local user of this gateway: single sign-on cannot log in as "
                                      "it (an owner can rename or remove the local user)")
            if row is None:
                db.execute("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)",
                           (name, EXTERNAL, ts(self._now())))
            before: dict[str, set[str]] = {}
            for workspace, role in db.execute("SELECT workspace, role FROM user_roles WHERE user = ?", (name,)):
                before.setdefault(str(workspace), set()).add(str(role))
            db.execute("DELETE FROM user_roles WHERE user = ?", (name,))
            db.executemany("INSERT INTO user_roles VALUES (?, ?, ?)",
                           [(name, ws, role) for ws, names in grants.items() for role in names])
        self._invalidate()  # a token beyond the roles left stops verifying at once
        return self._user(name), {ws: frozenset(r) for ws, r in before.items()}

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
        return [User(n, {ws: frozenset(r) for ws, r in roles.get(n, {}).items()}, bool(d), dt(c) or utcnow())
                for n, d, c in rows]

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
