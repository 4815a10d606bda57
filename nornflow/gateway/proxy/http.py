"""Request hygiene shared by every gateway route: paths, bodies, origins and response headers.

These are the parser tricks a naive gate misses (see the research notes): an encoded ``/``
that the server decodes after the gate looked, or a dot segment. Each is refused before any
decision is made; bodies are read as Prefect reads them in :mod:`.request`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Encoded characters that would let a path mean one thing to the gate and another upstream.
_SMUGGLED = (b"%2f", b"%5c", b"%2e", b"%00", b"%25")

#: Request headers never forwarded upstream (hop-by-hop, and the caller's own credentials).
DROP_REQUEST = frozenset({
    "host", "connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te", "trailer",
    "transfer-encoding", "upgrade", "authorization", "cookie", "content-length", "x-forwarded-for",
    "x-forwarded-host", "x-forwarded-proto", "x-nornflow-user", "origin", "referer",
})
#: Response headers not passed back (hop-by-hop, and Prefect's ``access-control-allow-origin: *``).
DROP_RESPONSE_PREFIXES = ("access-control-",)
DROP_RESPONSE = frozenset({"connection", "keep-alive", "transfer-encoding", "server", "set-cookie", "date"})


class BadRequest(Exception):
    """A request refused before authorization, with the status and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_path(raw_path: bytes) -> None:
    """Refuse encoded separators and dot segments: the gate and Prefect must see the same path."""
    lowered = raw_path.lower()
    if any(token in lowered for token in _SMUGGLED):
        raise BadRequest(400, "encoded '/', '\\', '.', '%' or NUL in a path is refused: send the path unencoded")
    segments = raw_path.split(b"/")[1:]
    if any(segment in (b".", b"..") for segment in segments) or b"//" in raw_path:
        raise BadRequest(400, "'.', '..' and empty segments in a path are refused")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def trusted_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The ``trusted_proxies`` setting (IPs or CIDRs) as networks; a bad entry names itself."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or a CIDR (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(peer: str, headers: Mapping[str, str], networks: tuple[Network, ...]) -> str:
    """The address a request came from: the peer, or, only when the peer is a trusted proxy,
    the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy.

    Anyone can write ``X-Forwarded-For``; only the entries appended by proxies we trust are facts,
    and each proxy appends on the right, so the first untrusted one from the right is the client.
    With no trusted proxies (the default) the header is ignored: rate limits and the audit key on the peer.
    """
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a garbled entry: keep the proxy's own address rather than trust text
    return hops[0] if hops else peer


def internal_location(location: str, internal_base: str) -> str:
    """A redirect the workspace's server sent (``POST /flows`` -> ``/flows/``) made relative, so the
    caller never learns, nor follows, the internal 127.0.0.1 address behind the gateway."""
    parts, base = urlsplit(location), urlsplit(internal_base)
    if parts.netloc and parts.netloc.lower() == base.netloc.lower():
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return location


def security_headers(*, tls: bool, html: bool) -> list[tuple[str, str]]:
    headers = [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ]
    if html:
        # What Prefect's UI (both versions) needs and nothing more: its own scripts, inline styles
        # from its component library, data: images (plan graphs, charts), calls to its own origin.
        headers.append(("content-security-policy",
                        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
                        "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
                        "object-src 'none'"))
    else:
        headers.append(("content-security-policy", "default-src 'none'; frame-ancestors 'none'"))
    if tls:
        headers.append(("strict-transport-security", "max-age=31536000; includeSubDomains"))
    return headers
