"""How each style of sender proves a delivery is its own, checked in constant time.

- **github**: ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw body under the
  hook's secret (GitHub's "Validating webhook deliveries").
- **gitlab**: ``X-Gitlab-Token: <secret>``, the secret itself (GitLab's "secret token").
- **nautobot**: ``X-Hook-Signature: <hex>``, the HMAC-SHA512 of the raw body
  (``nautobot.extras.utils.generate_signature``, sent by ``process_webhook``).
- **bearer**: ``Authorization: Bearer <secret>``.

Every comparison goes through :func:`hmac.compare_digest` on digests of equal length, so neither
the time taken nor an early exit says how much of a guess was right. Messages name the header
expected, never what was sent or the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from nornflow.gateway.hooks.config import Style


class Headers(Protocol):
    """A dict of headers, or Starlette's ``Headers`` (whose ``items()`` keeps repeated headers)."""

    def items(self) -> Iterable[tuple[str, str]]: ...


#: The header each style's credential travels in (what the template never sees).
CREDENTIAL_HEADERS: dict[str, str] = {
    "github": "x-hub-signature-256", "gitlab": "x-gitlab-token", "nautobot": "x-hook-signature",
    "bearer": "authorization",
}
#: Headers dropped from what a template sees and from audit records: credentials of any style.
HIDDEN_HEADERS = frozenset({*CREDENTIAL_HEADERS.values(), "x-hub-signature", "cookie", "proxy-authorization"})
_HOW = {
    "github": "X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body> (GitHub's webhook secret)",
    "gitlab": "X-Gitlab-Token: <the hook's secret token> (GitLab's webhook secret token)",
    "nautobot": "X-Hook-Signature: <HMAC-SHA512 of the body> (the Nautobot webhook's secret)",
    "bearer": "Authorization: Bearer <the hook's secret>",
}


@dataclass(frozen=True)
class Verdict:
    """``ok``; else ``missing`` (unsigned) or a bad credential, with the reason to show."""

    ok: bool
    missing: bool = False
    reason: str = ""


def _same(given: bytes, expected: bytes) -> bool:
    # Digests of both sides: equal lengths, so compare_digest's time says nothing about the length either.
    return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest())


def sign(style: Style, secret: str, body: bytes) -> dict[str, str]:
    """The headers a sender of ``style`` attaches to ``body`` (for tests and for documentation)."""
    if style == "github":
        return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    if style == "nautobot":
        return {"X-Hook-Signature": hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()}
    if style == "gitlab":
        return {"X-Gitlab-Token": secret}
    return {"Authorization": f"Bearer {secret}"}


def verify(style: Style, secret: str, headers: Headers, body: bytes, hook: str) -> Verdict:
    """Check the credential of a delivery to ``hook``; header names are compared case-insensitively, and a
    credential header sent twice is refused (``headers``: anything whose ``items()`` lists every header)."""
    name = CREDENTIAL_HEADERS[style]
    values = [v for k, v in headers.items() if k.lower() == name]
    if len(values) > 1:  # which one would a proxy, or Prefect's side, have read? Neither: refused
        return Verdict(False, reason=f"ambiguous request: {name} is sent {len(values)} times; send it once")
    given = values[0] if values else None
    if given is None or not given.strip():
        return Verdict(False, missing=True, reason=(
            f"unsigned request: hook {hook!r} expects {_HOW[style]}; configure the sender with the hook's secret"))
    given = given.strip()
    if style == "github":
        scheme, _, value = given.partition("=")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        ok = scheme.lower() == "sha256" and _same(value.lower().encode(), expected.encode())
    elif style == "nautobot":
        expected = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
        ok = _same(given.lower().encode(), expected.encode())
    elif style == "gitlab":
        ok = _same(given.encode(), secret.encode())
    else:
        scheme, _, value = given.partition(" ")
        ok = scheme.lower() == "bearer" and _same(value.strip().encode(), secret.encode())
    if ok:
        return Verdict(True)
    return Verdict(False, reason=(
        f"bad signature: the credential in {name} does not match hook {hook!r}'s secret (expected {_HOW[style]}); "
        "check that the sender and the gateway use the same secret and that nothing rewrote the body"))
