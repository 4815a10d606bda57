"""Why a single sign-on was refused: safe to show to the person and to write to the audit log.

No message carries a token, a code, a password or a client secret; they name the check that
failed (``the ID token's audience is not this gateway``) and what to do.
"""

from __future__ import annotations

from nornflow.gateway.errors import GatewayError


class SsoError(GatewayError, PermissionError):
    """A login through the identity provider or the directory was refused."""


class SsoProviderError(SsoError, ConnectionError):
    """The identity provider or the directory could not be reached, or answered something unusable."""
