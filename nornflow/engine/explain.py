"""Turn the exceptions a device session raises into one line an engineer can act on."""

from __future__ import annotations

from nornir.core.inventory import Host

from nornflow.secrets.redaction import redact_text

_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ScrapliAuthenticationFailed", "AuthenticationException", "auth"),
     "authentication failed: check the username and password (or the secret they reference)"),
    (("ConnectionRefusedError", "connection refused", "Errno 111"),
     "connection refused: the device is down or not listening on that port"),
    (("ScrapliTimeout", "timed out", "TimeoutError", "socket.timeout"),
     "timed out: the device did not answer in time (check reachability and timeout_ops)"),
    (("ScrapliConnectionNotOpened", "EOFError", "SSHException", "Errno 104"),
     "the SSH session could not be opened or was dropped"),
)


def describe_error(exc: BaseException, host: Host | None = None) -> str:
    """``<hint> (<ExceptionType>: <first line>)`` with secrets masked; the hint where one is known."""
    kind = type(exc).__name__
    detail = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    chain = f"{kind} {detail} {type(exc.__cause__).__name__ if exc.__cause__ else ''}"
    hint = next((text for keys, text in _HINTS if any(k.lower() in chain.lower() for k in keys)), None)
    where = f" at {host.hostname}:{host.port}" if host is not None and host.hostname else ""
    text = f"{kind}: {detail}" if detail else kind
    if hint:
        text = f"{hint}{where} ({text})"
    return redact_text(text[:500])


def is_auth_failure(exc: BaseException) -> bool:
    """True when the device refused the credentials (worth re-reading a rotated secret)."""
    return describe_error(exc).startswith("authentication failed")
