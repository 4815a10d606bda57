"""The gateway's exceptions: one family under NornFlowError, each also the matching builtin.

Callers catch the builtin they already expect (``KeyError`` for an unknown user,
``PermissionError`` for a refusal) or ``GatewayError`` for anything team mode raises.
Messages name what was wrong and what to do, and never carry a password or a token.
"""

from __future__ import annotations

from nornflow.exceptions import NornFlowError


class GatewayError(NornFlowError):
    """Root of every error the team-mode gateway raises on purpose."""


class _PlainKeyError(KeyError):
    """A KeyError whose str() is the message itself (KeyError would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class GatewaySettingsError(GatewayError, ValueError):
    """The gateway's settings are invalid; the message names each setting and the problem."""


class UnknownWorkspaceError(GatewayError, _PlainKeyError):
    """A workspace name that is not configured; the message lists the configured ones."""


class AuthError(GatewayError, PermissionError):
    """A request lacks valid credentials or the rights for what it asks."""


class UnknownUserError(GatewayError, _PlainKeyError):
    """The named user does not exist."""


class UserExistsError(GatewayError, ValueError):
    """A user with that name already exists."""


class InvalidNameError(GatewayError, ValueError):
    """A user or workspace name has characters or a length the gateway does not accept."""


class WeakPasswordError(GatewayError, ValueError):
    """A password is shorter than the minimum length."""


class RoleError(GatewayError, ValueError):
    """A role name that does not exist, or an empty set of roles where one is needed."""


class TokenScopeError(GatewayError, PermissionError):
    """A token would carry roles its user does not hold in that workspace."""


class UnknownTokenError(GatewayError, _PlainKeyError):
    """No token has that id."""


class UnknownSigningKeyError(GatewayError, _PlainKeyError):
    """No token-signing key has that kid."""


class AuditLogError(GatewayError, OSError):
    """The audit log could not be opened, read or appended to."""
