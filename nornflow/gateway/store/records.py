"""What the store hands out: users, tokens, signing keys and sessions, never a secret of theirs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
