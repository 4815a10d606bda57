"""What an audit record never holds: keys named like secrets, and values shaped like a NornFlow token.

An audit trail is read by many more people than the secrets it mentions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(
    r"pass|token|secret|auth|cookie|api[-_]?key|credential|private[-_]?key|session[-_]?id|csrf", re.IGNORECASE)
# The shape of a NornFlow API token (see store.tokens.TOKEN_RE); the id part is kept so a reader can tell tokens apart.
_TOKEN_VALUE = re.compile(r"nft_([0-9a-f]{16})_[0-9a-f]{8}_[0-9a-f]{32}_[0-9a-f]{64}")
_SECRET_QUERY = re.compile(
    r"([?&][^=&#]*(?:pass|token|secret|auth|key|session|csrf)[^=&#]*=)[^&#]*", re.IGNORECASE)
# Named like secrets but safe: identifiers of a token and of a signing key, never their values.
_SAFE_KEYS = frozenset({"token_id", "kid"})


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items() if str(k) in _SAFE_KEYS or not _SECRET_KEY.search(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return _TOKEN_VALUE.sub(rf"nft_\1_{REDACTED}", value)
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return value
    return _clean(str(value))  # datetimes, UUIDs, NaN: as text, so the record round-trips through JSON


def redact_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy of ``detail`` without keys named like secrets, at any depth.

    Keys matching password/token/secret/auth/authorization/cookie/api key/credential/
    session id/csrf are dropped (except ``token_id`` and ``kid``, which name without granting);
    strings shaped like a NornFlow token are masked.
    """
    cleaned = _clean(detail or {})
    return cleaned if isinstance(cleaned, dict) else {}


def redact_path(path: str | None) -> str | None:
    """Mask secret-looking query values and tokens in a request path."""
    if path is None:
        return None
    return _TOKEN_VALUE.sub(rf"nft_\1_{REDACTED}", _SECRET_QUERY.sub(rf"\1{REDACTED}", path))
