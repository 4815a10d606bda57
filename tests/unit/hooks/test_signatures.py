"""Each sender's credential, against the vectors the senders publish or compute."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from nornflow.gateway.hooks.signatures import sign, verify

# GitHub's own example ("Validating webhook deliveries", testing the payload validation).
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_signature_matches_githubs_published_example() -> None:
    assert sign("github", GITHUB_SECRET, GITHUB_BODY) == {"X-Hub-Signature-256": GITHUB_SIGNATURE}
    assert verify("github", GITHUB_SECRET, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY, "gh").ok
    # header names are case-insensitive, the hex too
    upper = "sha256=" + GITHUB_SIGNATURE.removeprefix("sha256=").upper()
    assert verify("github", GITHUB_SECRET, {"x-hub-signature-256": upper}, GITHUB_BODY, "gh").ok


def test_nautobot_signature_is_hmac_sha512_hex_of_the_body() -> None:
    # nautobot.extras.utils.generate_signature: hmac.new(secret.encode("utf8"), body, hashlib.sha512).hexdigest()
    body = b'{"event": "updated", "model": "device"}'
    expected = hmac.new(b"nb-secret", body, hashlib.sha512).hexdigest()
    assert sign("nautobot", "nb-secret", body) == {"X-Hook-Signature": expected}
    assert verify("nautobot", "nb-secret", {"X-Hook-Signature": expected}, body, "nb").ok


@pytest.mark.parametrize("style", ["github", "gitlab", "nautobot", "bearer"])
def test_every_style_refuses_a_missing_and_a_wrong_credential(style: str) -> None:
    body = b'{"a": 1}'
    good = sign(style, "right-secret", body)  # type: ignore[arg-type]
    assert verify(style, "right-secret", good, body, "h").ok  # type: ignore[arg-type]
    missing = verify(style, "right-secret", {"content-type": "application/json"}, body, "h")  # type: ignore[arg-type]
    assert not missing.ok and missing.missing and missing.reason.startswith("unsigned request")
    wrong = verify(style, "right-secret", sign(style, "wrong-secret", body), body, "h")  # type: ignore[arg-type]
    assert not wrong.ok and not wrong.missing and wrong.reason.startswith("bad signature")
    assert "right-secret" not in wrong.reason + missing.reason and "wrong-secret" not in wrong.reason


@pytest.mark.parametrize("style", ["github", "nautobot"])
def test_a_signature_covers_the_body(style: str) -> None:
    headers = sign(style, "s", b'{"branch": "main"}')  # type: ignore[arg-type]
    assert not verify(style, "s", headers, b'{"branch": "evil"}', "h").ok  # type: ignore[arg-type]


def test_github_needs_the_sha256_scheme_and_bearer_the_bearer_scheme() -> None:
    digest = hmac.new(b"s", b"x", hashlib.sha256).hexdigest()
    assert not verify("github", "s", {"X-Hub-Signature-256": f"sha1={digest}"}, b"x", "h").ok
    assert not verify("github", "s", {"X-Hub-Signature-256": digest}, b"x", "h").ok
    assert not verify("bearer", "s", {"Authorization": "Basic s"}, b"x", "h").ok
    assert verify("bearer", "s", {"Authorization": "bearer s"}, b"x", "h").ok


def test_a_credential_header_sent_twice_is_refused() -> None:
    body = b"{}"
    good = sign("github", "s", body)["X-Hub-Signature-256"]
    twice = verify("github", "s", _Repeated([("X-Hub-Signature-256", good), ("x-hub-signature-256", "sha256=00")]),
                   body, "h")
    assert not twice.ok and "sent 2 times" in twice.reason


class _Repeated:
    """Headers as Starlette keeps them: a list, repeats included."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self.pairs
