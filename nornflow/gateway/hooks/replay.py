"""What each hook has already accepted: a replayed delivery is refused, across restarts.

A delivery is known by the SHA-256 of its body (for the HMAC styles that is as good as the
signature, and a captured request cannot be re-sent with a new delivery id to get past it) and,
where the sender gives one, by its delivery id. Both are claimed before the event is sent and
released when sending fails, so the sender's retry of a failed delivery goes through while a
second copy of one that was delivered does not. SQLite in the gateway's data directory keeps
them over a restart and lets several gateway processes share them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from nornflow.gateway.store.db import connect, transaction

Clock = Callable[[], float]


class SeenStore:
    """Keys (``<workspace>/<hook>/<kind>:<value>``) seen within their window."""

    def __init__(self, path: Path, *, clock: Clock = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._db = connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, until REAL NOT NULL)")
        self._claims = 0

    def claim(self, keys: Sequence[str], window: float) -> str | None:
        """Claim every key for ``window`` seconds; the first one already held (nothing claimed), or None."""
        now = self._clock()
        with transaction(self._db, self._lock) as db:
            for key in keys:
                row = db.execute("SELECT until FROM seen WHERE key = ?", (key,)).fetchone()
                if row is not None and row[0] > now:
                    return key  # nothing written: the commit is empty
            db.executemany("INSERT OR REPLACE INTO seen (key, until) VALUES (?, ?)",
                           [(key, now + window) for key in keys])
            self._claims += 1
            if self._claims % 500 == 0:
                db.execute("DELETE FROM seen WHERE until <= ?", (now,))
        return None

    def release(self, keys: Sequence[str]) -> None:
        """Forget keys claimed for a delivery that was not delivered (so the sender's retry is accepted)."""
        with self._lock:
            self._db.executemany("DELETE FROM seen WHERE key = ?", [(key,) for key in keys])

    def close(self) -> None:
        with self._lock:
            self._db.close()
