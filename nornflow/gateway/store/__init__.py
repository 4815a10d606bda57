"""The gateway's state in one SQLite file: users, token-signing keys, tokens, sessions, run starters.

Secrets are stored so that a copy of the file does not hand out logins: passwords as
argon2id hashes (memory-hard, rehashed when the parameters change), API tokens and
session ids as SHA-256 digests only (they are 128+ random bits, so a fast hash is
enough; the plain value is returned once and never stored). Tokens also carry an HMAC
under a signing key named by ``kid``: a forged or mistyped token is refused before any
database lookup, and retiring a key ends every token signed with it at once, while
rotating to a new key keeps older tokens working. The signing keys themselves sit in
this file, so it is created 0600 inside a 0700 directory.

One class per table or two (:mod:`.users`, :mod:`.tokens`, :mod:`.sessions`) over one connection
(:mod:`.db`), put together here as :class:`GatewayStore`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher

from nornflow.gateway.store.db import utcnow
from nornflow.gateway.store.sessions import RunStarters, Sessions
from nornflow.gateway.store.tokens import Tokens
from nornflow.gateway.store.users import Users


class GatewayStore(Users, Tokens, Sessions, RunStarters):
    """Users, keys, tokens, sessions and run starters over one SQLite file; safe to share across threads."""

    def __init__(self, path: Path | str, *, now: Callable[[], datetime] = utcnow,
                 hasher: PasswordHasher | None = None, cache_ttl: float = 5.0) -> None:
        super().__init__(path, now=now, hasher=hasher, cache_ttl=cache_ttl)
        with self._tx() as db:
            self._newest_key(db)  # the first start creates the signing key
