"""The NornFlow gateway: every request to a workspace's Prefect server passes here first.

This module puts the pieces together and routes each request to them. For each API call: refuse
parser tricks (:mod:`.proxy.http`), authenticate (:mod:`.auth.caller`), rate-limit, decide on the
exact route and body and on the server's state (:mod:`.policy.decide`), forward with the server's
internal credential and audit (:mod:`.proxy.forward`). The Prefect UI is served unchanged behind a
login session (:mod:`.auth.login`); websockets go through :mod:`.proxy.websocket`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from nornflow.gateway.admin.routes import AdminRoutes, is_admin_path
from nornflow.gateway.audit.events import AuditShipper
from nornflow.gateway.audit.log import AuditLog
from nornflow.gateway.auth.caller import (
    Authenticator,
    Principal,
    Unauthenticated,
    auth_string_from_header,
    session_id_from,
    split_auth_string,
)
from nornflow.gateway.auth.login import LoginRoutes
from nornflow.gateway.auth.pages import refusal_page
from nornflow.gateway.hooks import HookReceiver, SeenStore, hook_name
from nornflow.gateway.metrics import FleetMetrics, GatewayMetrics, MetricsRoute
from nornflow.gateway.policy.block_schemas import installed_schemas
from nornflow.gateway.policy.decide import Decider, Refusal
from nornflow.gateway.policy.roles import Perm, Role, perms_for
from nornflow.gateway.proxy.forward import Forwarder
from nornflow.gateway.proxy.front import Front
from nornflow.gateway.proxy.http import BadRequest, check_path, origin_of
from nornflow.gateway.proxy.upstream import Upstream
from nornflow.gateway.proxy.websocket import WebsocketRelay
from nornflow.gateway.ratelimit import RateLimiter
from nornflow.gateway.settings import GatewaySettings
from nornflow.gateway.sso.routes import SsoRoutes
from nornflow.gateway.store import GatewayStore

log = logging.getLogger("nornflow.gateway")
Scope = MutableMapping[str, Any]
ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_WORKSPACE_PATH = re.compile(r"^/w/([a-z0-9][a-z0-9-]{0,39})(/.*)?$")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Gateway:
    """The ASGI application. One instance serves every workspace in ``upstreams``."""

    def __init__(self, settings: GatewaySettings, store: GatewayStore, audit: AuditLog,
                 upstreams: dict[str, Upstream]) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.upstreams = upstreams
        self.auth = Authenticator(store)
        self.front = Front(settings, audit)
        self.api_limiter = RateLimiter(settings.api_rate_per_second, settings.api_burst)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0), follow_redirects=False,
                                        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        # Single sign-on (OIDC, LDAP) and local logins turned off: both are the login routes' business.
        self.sso = SsoRoutes(settings, store, self.front, upstreams) \
            if settings.sso.enabled or not settings.sso.local_login else None
        self.login = LoginRoutes(self.front, settings, store, upstreams, self.sso)
        self.websockets = WebsocketRelay(self.front, settings, self.auth, upstreams)
        self.shipper = AuditShipper(audit, store, upstreams, self.client)
        self.decider = Decider(self.client, store, upstreams, settings.max_body_bytes)
        self.forwarder = Forwarder(self.client, self.front, store)
        # /metrics: counters fed by the requests (__call__), the audit records and the forwarder's failures.
        self.metrics = GatewayMetrics(upstreams)
        audit.on_append.append(self.metrics.observe_record)
        self.forwarder.on_upstream_error = self.metrics.upstream_error
        self.fleet = FleetMetrics.for_upstreams(upstreams, refresh_seconds=settings.fleet_metrics_seconds)
        self.metrics_route = MetricsRoute(self.metrics, self.fleet, verify=store.verify_token, perms_for=perms_for,
                                          front=self.front)
        self.admin = AdminRoutes(self.front, settings, store, audit, upstreams, [role.value for role in Role])
        self.hooks = HookReceiver({ws.name: ws.hooks for ws in settings.workspaces}, self.front, upstreams,
                                  self.client, SeenStore(settings.data_dir / "hooks-seen.db"))

    # -- ASGI ---------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self.websockets.handle(scope, receive, send)
        else:
            started = time.perf_counter()
            request = Request(scope, receive)
            response = await self.dispatch(request)
            try:
                await response(scope, receive, send)
            finally:
                self.metrics.observe_request(request.url.path, request.method, response.status_code,
                                             time.perf_counter() - started)

    async def _lifespan(self, receive: ASGIReceive, send: ASGISend) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await asyncio.to_thread(installed_schemas)  # ~2.5 s once: not on the first block write's request
                self.shipper.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shipper.stop()
                await self.fleet.aclose()
                if self.sso is not None:
                    await self.sso.aclose()
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def dispatch(self, request: Request) -> Response:
        try:
            check_path(request.scope.get("raw_path") or request.url.path.encode())
            path = request.url.path
            if self.sso is not None and (session_id := session_id_from(request.headers.get("cookie"))):
                await self.sso.recheck(request, session_id)  # a due single-sign-on session reads its groups again
            if path in ("/", "/login", "/logout") or path.startswith("/sso/"):
                return await self.login.handle(request)
            if path == "/metrics":
                return await self.metrics_route.handle(request)
            if is_admin_path(path):
                return await self.admin.handle(request)
            if path == "/healthz":
                return self.finish(JSONResponse({"status": "ok"}))  # nothing about workspaces to an anonymous caller
            match = _WORKSPACE_PATH.match(path)
            hook = hook_name(match.group(2) or "") if match else None
            if match and hook is not None:  # signed by the sender, not a user: the same 404 for any unknown hook
                return await self.hooks.handle(request, match.group(1), hook)
            if not match or match.group(1) not in self.upstreams:
                if path.startswith("/w/") and not self._known_caller(request):
                    # An anonymous caller learns nothing about which workspaces exist: the answer a known one gives.
                    return self.finish(JSONResponse({"detail": "log in, or send a NornFlow token "
                                                               "(PREFECT_API_AUTH_STRING=<user>:<token>)"}, 401))
                return self.finish(JSONResponse({"detail": f"no such page or workspace: {path}"}, 404))
            workspace, rest = match.group(1), match.group(2) or "/"
            if rest == "/api" or rest.startswith("/api/"):
                return await self.api(request, workspace, rest[4:] or "/")
            return await self.ui(request, workspace, rest)
        except BadRequest as exc:
            self.record(request, "", "", "denied", exc.status, {"reason": exc.message})
            return self.finish(JSONResponse({"detail": exc.message}, exc.status))

    def _known_caller(self, request: Request) -> bool:
        """True when the request carries a valid session or token (of any workspace)."""
        session_id = session_id_from(request.headers.get("cookie"))
        if session_id and self.store.get_session(session_id) is not None:
            return True
        header = request.headers.get("authorization")
        try:
            auth_string = auth_string_from_header(header) if header else None
        except Unauthenticated:
            return False
        return auth_string is not None and self.store.verify_token(split_auth_string(auth_string)[1]) is not None

    # -- helpers (the caller-facing ones live in Front, shared with the login pages and websockets) -------
    def finish(self, response: Response, *, html: bool = False, origin: str = "") -> Response:
        return self.front.finish(response, html=html, origin=origin)

    def record(self, request: Request, workspace: str, user: str, action: str, status: int,
               detail: dict[str, Any] | None = None) -> None:
        self.front.record(request, workspace, user, action, status, detail)

    def deny(self, request: Request, workspace: str, user: str, status: int, reason: str,
             action: str = "denied", origin: str = "") -> Response:
        return self.front.deny(request, workspace, user, status, reason, action, origin)

    def _origin_problem(self, request: Request, principal: Principal | None) -> str | None:
        origin = origin_of(request.headers.get("origin", ""))
        if origin and origin != self.front.public_origin and origin != origin_of(str(request.base_url)) \
                and origin not in self.front.allowed_origins:
            return f"origin {origin} is not allowed: add it to the gateway's cors_origins"
        if principal is not None and principal.kind == "session" and request.method not in _SAFE_METHODS:
            seen = origin or origin_of(request.headers.get("referer", ""))
            if not seen:
                return "a browser write without Origin or Referer is refused (cross-site request protection)"
        return None

    # -- the API ------------------------------------------------------------------------------------
    async def api(self, request: Request, workspace: str, api_path: str) -> Response:
        origin = origin_of(request.headers.get("origin", ""))
        if request.method == "OPTIONS":
            return self._preflight(request, workspace, origin)
        upstream = self.upstreams[workspace]
        if api_path in ("/health", "/ready") and request.method == "GET":
            return await self.forwarder.forward(request, upstream, None, b"")
        ip = self.front.ip_of(request)
        try:
            principal = self.auth.authenticate(request.headers, workspace)
            refusal: tuple[str, str] | None = None
        except Unauthenticated as exc:
            principal, refusal = None, (exc.user, exc.reason)
        if principal is None:
            # Only a failed authentication counts, and only it is held back by a lockout: a valid token is
            # never refused because someone else guessed wrong from the same address (a NAT, a proxy).
            locked, muted = self.front.auth_locked(ip)
            if locked > 0:
                seconds = math.ceil(locked)
                reason = f"too many failed authentications from {ip}: retry in {seconds} s"
                if muted is not None:  # one record per address and window: guesses cannot fill the audit log
                    self.record(request, workspace, "", "ratelimited", 429, {"reason": reason, "muted": muted})
                response = self.finish(JSONResponse({"detail": reason}, 429), origin=origin)
                response.headers["retry-after"] = str(seconds)
                return response
            self.front.auth_failed(ip)
            user, reason = refusal or ("", "log in, or send a NornFlow token (PREFECT_API_AUTH_STRING=<user>:<token>)")
            return self.deny(request, workspace, user, 401, reason, origin=origin)
        problem = self._origin_problem(request, principal)
        if problem:
            return self.deny(request, workspace, principal.user, 403, problem, origin=origin)
        wait = self.api_limiter.hit(principal.key)
        if wait > 0:
            response = self.deny(request, workspace, principal.user, 429,
                                 f"too many requests from {principal.user}: retry in {math.ceil(wait)} s",
                                 action="ratelimited", origin=origin)
            response.headers["retry-after"] = str(math.ceil(wait))
            return response
        if not principal.roles:
            return self.deny(request, workspace, principal.user, 403,
                             f"{principal.user} has no role in workspace {workspace!r}", origin=origin)
        if request.method == "GET" and api_path.rstrip("/") == "/admin/settings" and Perm.ADMIN not in principal.perms:
            # Both UIs wait for this on every page (v1: its sidebar and dashboard); the server's own
            # settings stay with owners, everyone else gets an empty set, which the UI handles.
            return self.finish(JSONResponse({}), origin=origin)
        return await self._decide(request, upstream, workspace, api_path, principal, origin)

    async def _decide(self, request: Request, upstream: Upstream, workspace: str, api_path: str,
                      principal: Principal, origin: str) -> Response:
        decided = await self.decider.decide(request, upstream, api_path, principal)
        if isinstance(decided, Refusal):
            return self.deny(request, workspace, principal.user, decided.status, decided.reason, origin=origin)
        deployment = decided.match.params.get("id") if decided.match.route.template.startswith("/deployments/") \
            else None
        where = {"route": decided.match.display, **({"deployment": deployment} if deployment else {})}
        for override in decided.overrides:
            self.record(request, workspace, principal.user, "change.override", 200, {**override, **where})
        return await self.forwarder.forward(request, upstream, principal, decided.body, verdict=decided.verdict,
                                            match=decided.match, approval=decided.approval, origin=origin)

    def _preflight(self, request: Request, workspace: str, origin: str) -> Response:
        if origin not in self.front.allowed_origins:
            return self.deny(request, workspace, "", 403,
                             f"origin {origin or '(none)'} is not allowed: add it to the gateway's cors_origins")
        response = Response(status_code=204, headers={
            "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
            "access-control-allow-headers": request.headers.get("access-control-request-headers", "content-type"),
            "access-control-max-age": "600",
        })
        return self.finish(response, origin=origin)

    # -- the UI -------------------------------------------------------------------------------------
    async def ui(self, request: Request, workspace: str, rest: str) -> Response:
        try:
            principal = self.auth.authenticate(request.headers, workspace)
        except Unauthenticated:
            principal = None
        if principal is None or principal.kind != "session":
            return self.login.redirect_to_login(request)
        if not principal.roles:
            self.record(request, workspace, principal.user, "denied", 403, {"reason": "no role in workspace"})
            return self.finish(HTMLResponse(refusal_page(
                "No access", f"You have no role in workspace {workspace!r}. Ask one of its owners.", principal.user),
                403), html=True)
        if Perm.READ not in principal.perms:  # only the metrics role: a scrape's, it shows nothing of the workspace
            self.record(request, workspace, principal.user, "denied", 403,
                        {"reason": "no role that reads the workspace"})
            return self.finish(HTMLResponse(refusal_page(
                "No access", f"Your role in workspace {workspace!r} ({', '.join(sorted(principal.roles))}) does not "
                "show it. Ask one of its owners.", principal.user), 403), html=True)
        upstream = self.upstreams[workspace]
        if rest.endswith("/ui-settings"):
            reply = await self.client.get(upstream.base_url + request.url.path,
                                          headers={"authorization": upstream.authorization})
            settings = reply.json()
            settings["auth"] = None  # the gateway's session replaces the UI's own password prompt
            settings["csrf_enabled"] = False
            return self.finish(JSONResponse(settings))
        if request.method not in _SAFE_METHODS:
            return self.finish(JSONResponse({"detail": "the UI's files are read-only"}, 405))
        return await self.forwarder.forward(request, upstream, principal, b"", html=True)

