"""Browser sessions, and who started each flow run (for four-eyes)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from nornflow.gateway.errors import AuthError
from nornflow.gateway.store.db import Database, dt, sha256, ts, utcnow
from nornflow.gateway.store.records import Session

SESSION_WRITE_EVERY = timedelta(seconds=30)


class Sessions(Database):
    """The ``sessions`` table."""

    def create_session(self, user: str, idle: timedelta, absolute: timedelta) -> str:
        """Start a browser login; the returned id (256 random bits) is shown once, only its SHA-256 is kept."""
        if idle <= timedelta(0) or absolute <= timedelta(0):
            raise ValueError("session idle and absolute lifetimes must be positive")
        session_id, now = secrets.token_urlsafe(32), self._now()
        with self._tx() as db:
            if self._require_user(db, user):
                raise AuthError(f"user {user!r} is disabled")
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (sha256(session_id), user, ts(now), ts(now), idle.total_seconds(),
                        ts(now + min(idle, absolute)), ts(now + absolute), secrets.token_urlsafe(32)))
        return session_id

    def get_session(self, session_id: str) -> Session | None:
        """The live session, sliding its idle expiry (written at most every 30 s); None when it has ended."""
        if not isinstance(session_id, str) or not 0 < len(session_id) <= 256:
            return None
        digest, now = sha256(session_id), ts(self._now())
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
        return Session(user, dt(created) or utcnow(), dt(idle_expires) or utcnow(), csrf, dt(absolute))

    def delete_session(self, session_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE digest = ?", (sha256(session_id),))

    def delete_user_sessions(self, user: str) -> int:
        with self._tx() as db:
            return db.execute("DELETE FROM sessions WHERE user = ?", (user,)).rowcount

    def purge_expired_sessions(self) -> int:
        """Drop ended sessions (get_session drops them lazily; call this now and then to keep the file small)."""
        now = ts(self._now())
        with self._tx() as db:
            return db.execute("DELETE FROM sessions WHERE idle_expires_at <= ? OR absolute_expires_at <= ?",
                              (now, now)).rowcount



class RunStarters(Database):
    """The ``run_starters`` table: who started a flow run, so that they cannot approve it."""

    def record_run_starter(self, workspace: str, flow_run_id: str, user: str) -> None:
        """Remember who started a flow run; the first record wins, so a later call cannot rewrite it."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO run_starters VALUES (?, ?, ?, ?)",
                       (workspace, str(flow_run_id), user, ts(self._now())))

    def run_starter(self, workspace: str, flow_run_id: str) -> str | None:
        rows = self._rows("SELECT user FROM run_starters WHERE workspace = ? AND flow_run_id = ?",
                          workspace, str(flow_run_id))
        return str(rows[0][0]) if rows else None
