"""What every part of the gateway that answers a caller shares: the caller's address, the audit
record of what was done, the response headers, and the lockout for failed authentications.

The API proxy (:mod:`nornflow.gateway.app`, :mod:`.forward`), the login pages
(:mod:`nornflow.gateway.auth.login`) and the websocket relay (:mod:`.websocket`) are each handed one
:class:`Front`; none of them imports the app back.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nornflow.gateway.audit.log import AuditLog
from nornflow.gateway.proxy.http import client_ip, origin_of, security_headers, trusted_networks
from nornflow.gateway.ratelimit import LoginGuard, Throttle
from nornflow.gateway.settings import GatewaySettings


class Front:
    """The gateway's face to callers: headers, addresses, audit records, failed-authentication lockouts."""

    def __init__(self, settings: GatewaySettings, audit: AuditLog) -> None:
        self.audit = audit
        self.tls = settings.tls_enabled
        self.public_origin = origin_of(settings.public_base_url)
        self.allowed_origins = {origin_of(o) for o in settings.cors_origins}
        self.trusted = trusted_networks(settings.trusted_proxies)
        self.auth_guard = LoginGuard(settings.auth_max_failures, settings.auth_window_seconds,
                                     settings.auth_lockout_seconds)
        self.quiet = Throttle(10.0)  # one audit record per address and 10 s for refusals during a lockout

    def finish(self, response: Response, *, html: bool = False, origin: str = "") -> Response:
        """Add the security headers (and CORS for an allowed origin) to an answer."""
        for key, value in security_headers(tls=self.tls, html=html):
            response.headers.setdefault(key, value)
        if origin and origin in self.allowed_origins:
            response.headers["access-control-allow-origin"] = origin
            response.headers["access-control-allow-credentials"] = "true"
            response.headers["vary"] = "Origin"
        return response

    def peer_ip(self, peer: str, headers: Any) -> str:
        """The client's address: the peer, or the X-Forwarded-For client when the peer is a trusted proxy."""
        return client_ip(peer, headers, self.trusted)

    def ip_of(self, request: Request) -> str:
        return self.peer_ip(request.client.host if request.client else "", request.headers)

    def record(self, request: Request, workspace: str, user: str, action: str, status: int,
               detail: dict[str, Any] | None = None) -> None:
        self.audit.append(workspace=workspace, user=user, action=action,
                          outcome="ok" if status < 400 else "denied",
                          ip=self.ip_of(request), method=request.method,
                          path=request.url.path, status=status, detail=detail or {})

    def deny(self, request: Request, workspace: str, user: str, status: int, reason: str,
             action: str = "denied", origin: str = "") -> Response:
        self.record(request, workspace, user, action, status, {"reason": reason})
        return self.finish(JSONResponse({"detail": reason}, status), origin=origin)

    def auth_locked(self, ip: str) -> tuple[float, int | None]:
        """(seconds left of this address's lockout for failed authentications, records muted or None)."""
        wait = self.auth_guard.check("auth:" + ip)
        return wait, (self.quiet.allow("auth:" + ip) if wait > 0 else None)

    def auth_failed(self, ip: str) -> float:
        """Count a failed authentication from ``ip``; the lockout it started, or 0.0."""
        return self.auth_guard.failure("auth:" + ip)
