"""The NornFlow gateway: every request to a workspace's Prefect server passes here first.

For each API call: refuse parser tricks (:mod:`.http`), authenticate (:mod:`.auth`), rate-limit,
authorize the exact route and body (:mod:`.policy`), enforce what needs the server's state
(a paused run, four-eyes), put the approver's real identity into an approval, forward with the
server's internal credential, audit. The Prefect UI is served unchanged behind a login session.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from nornflow.gateway.audit import AuditLog
from nornflow.gateway.auth import (
    Authenticator,
    Principal,
    Unauthenticated,
    auth_string_from_header,
    session_id_from,
    split_auth_string,
)
from nornflow.gateway.blocks import DOCUMENT_READS, installed_schemas, mask_documents
from nornflow.gateway.events import AuditShipper
from nornflow.gateway.front import Front
from nornflow.gateway.guards import STARTS_RUNS, Guards
from nornflow.gateway.http import (
    DROP_REQUEST,
    DROP_RESPONSE,
    DROP_RESPONSE_PREFIXES,
    BadRequest,
    check_path,
    internal_location,
    origin_of,
)
from nornflow.gateway.login import LoginRoutes
from nornflow.gateway.pages import refusal_page
from nornflow.gateway.policy import RouteMatch, Verdict, authorize, match_route
from nornflow.gateway.ratelimit import RateLimiter
from nornflow.gateway.request import Body, Fetch, parse_body, quote_path
from nornflow.gateway.roles import Perm
from nornflow.gateway.settings import GatewaySettings
from nornflow.gateway.store import GatewayStore
from nornflow.gateway.upstream import Upstream, api_prefix
from nornflow.gateway.websocket import WebsocketRelay, claims_audit

log = logging.getLogger("nornflow.gateway")
Scope = MutableMapping[str, Any]
ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_WORKSPACE_PATH = re.compile(r"^/w/([a-z0-9][a-z0-9-]{0,39})(/.*)?$")
_BUFFERED = 256 * 1024  # answers smaller than this are read in one go instead of streamed
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The flow whose retry resumes a change under its earlier approval (nornflow.flows.deploy_config).
CHANGE_FLOW = "deploy_config"
_TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


@dataclass(frozen=True)
class Refusal:
    """A request the gateway answers itself: the status and the reason shown and audited."""

    status: int
    reason: str


@dataclass(frozen=True)
class Decision:
    """A request to forward as decided: its route, the canonical body, and what to audit of it."""

    verdict: Verdict
    match: RouteMatch
    body: bytes
    approval: dict[str, Any] | None = None
    overrides: list[dict[str, Any]] = field(default_factory=list)


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
        self.login = LoginRoutes(self.front, settings, store, upstreams)
        self.websockets = WebsocketRelay(self.front, settings, self.auth, upstreams)
        self.shipper = AuditShipper(audit, store, upstreams, self.client)

    # -- ASGI ---------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self.websockets.handle(scope, receive, send)
        else:
            request = Request(scope, receive)
            response = await self.dispatch(request)
            await response(scope, receive, send)

    async def _lifespan(self, receive: ASGIReceive, send: ASGISend) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await asyncio.to_thread(installed_schemas)  # ~2.5 s once: not on the first block write's request
                self.shipper.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shipper.stop()
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def dispatch(self, request: Request) -> Response:
        try:
            check_path(request.scope.get("raw_path") or request.url.path.encode())
            path = request.url.path
            if path in ("/", "/login", "/logout"):
                return await self.login.handle(request)
            if path == "/healthz":
                return self.finish(JSONResponse({"status": "ok"}))  # nothing about workspaces to an anonymous caller
            match = _WORKSPACE_PATH.match(path)
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
            return await self.forward(request, upstream, None, b"")
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
        decided = await self.decide(request, upstream, api_path, principal)
        if isinstance(decided, Refusal):
            return self.deny(request, workspace, principal.user, decided.status, decided.reason, origin=origin)
        deployment = decided.match.params.get("id") if decided.match.route.template.startswith("/deployments/") \
            else None
        where = {"route": decided.match.display, **({"deployment": deployment} if deployment else {})}
        for override in decided.overrides:
            self.record(request, workspace, principal.user, "change.override", 200, {**override, **where})
        return await self.forward(request, upstream, principal, decided.body, verdict=decided.verdict,
                                  match=decided.match, approval=decided.approval, origin=origin)

    async def decide(self, request: Request, upstream: Upstream, api_path: str,
                     principal: Principal) -> Refusal | Decision:
        """Read the request as Prefect will (:mod:`.request`), decide on that reading, and give the canonical
        request to forward, or the refusal. Reads the workspace's server where a rule needs its state."""
        workspace = upstream.name
        body = parse_body(await self._read_body(request), request.headers.get("content-type", ""))
        match = match_route(request.method, api_path)
        if match is not None and match.display == "POST /events" and claims_audit(body.value):
            return Refusal(403, "nornflow.audit.* events are written by the gateway only")
        verdict = authorize(request.method, api_path, parse_qsl(request.url.query, keep_blank_values=True),
                            body.value, principal.perms, match=match)
        if not verdict.allowed or match is None:
            return Refusal(verdict.status, verdict.reason)
        if verdict.check_not_paused and await self._is_paused(upstream, verdict.check_not_paused):
            if Perm.APPROVE not in principal.perms:
                return Refusal(403, "this flow run is paused for an approval (or its state could not be read): "
                                    "only an approver can resume it, with the approval form in the UI")
            refusal = self._four_eyes(workspace, match, principal)  # moving a paused run on answers its approval
            if refusal:
                return Refusal(403, refusal)
        if verdict.check_change_retry and await self._is_change_retry(upstream, verdict.check_change_retry):
            return Refusal(403, f"retrying a {CHANGE_FLOW} run resumes its change under the earlier approval: "
                                "only an approver may retry it (or start a new run, which is planned and approved "
                                "afresh)")
        if verdict.check_empty_job_template and await self._has_job_template(upstream,
                                                                           verdict.check_empty_job_template):
            return Refusal(403, "a worker may set a work pool's job template only while the pool has none: "
                                "ask a developer to change it")
        if verdict.action == "approval":
            refusal = self._four_eyes(workspace, match, principal)
            if refusal:
                return Refusal(403, refusal)
        outcome = await Guards(self._fetcher(upstream), workspace, upstream.lab, principal).check(match, body.value)
        if outcome.refusal:
            return Refusal(outcome.status, outcome.refusal)
        return Decision(verdict, match, Body(outcome.payload, body.present).canonical(), outcome.approval,
                        outcome.overrides)

    def _fetcher(self, upstream: Upstream) -> Fetch:
        async def fetch(path: str, body: Any = None, /) -> tuple[int, Any]:
            url, headers = upstream.api_url + quote_path(path), {"authorization": upstream.authorization}
            try:
                reply = await (self.client.get(url, headers=headers) if body is None else
                               self.client.post(url, headers=headers, json=body))
            except httpx.HTTPError:
                return 502, None
            try:
                return reply.status_code, reply.json()
            except ValueError:
                return reply.status_code, None
        return fetch

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

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise BadRequest(413, f"the body is larger than the gateway's limit of {limit} bytes (max_body_bytes)")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(413, f"the body is larger than the gateway's limit of {limit} bytes (max_body_bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _is_paused(self, upstream: Upstream, flow_run_id: str) -> bool:
        """True when the run is paused, or when its state cannot be read (fail closed)."""
        response = await self.client.get(f"{upstream.api_url}/flow_runs/{flow_run_id}",
                                         headers={"authorization": upstream.authorization})
        if response.status_code == 404:
            return False  # an unknown run: Prefect answers 404 to the request itself
        if response.status_code != 200:
            return True
        state = response.json().get("state") or {}
        return bool(state.get("type") == "PAUSED")

    async def _is_change_retry(self, upstream: Upstream, flow_run_id: str) -> bool:
        """True when the run is a finished deploy_config run (its retry resumes the change from its
        ledger under the earlier approval), or when that cannot be read (fail closed)."""
        headers = {"authorization": upstream.authorization}
        run = await self.client.get(f"{upstream.api_url}/flow_runs/{flow_run_id}", headers=headers)
        if run.status_code == 404:
            return False
        if run.status_code != 200:
            return True
        if (run.json().get("state") or {}).get("type") not in _TERMINAL:
            return False  # the engine's own retries (RUNNING -> AwaitingRetry) and reschedules
        flow = await self.client.get(f"{upstream.api_url}/flows/{run.json().get('flow_id')}", headers=headers)
        return flow.status_code != 200 or flow.json().get("name") == CHANGE_FLOW

    async def _starter_of(self, upstream: Upstream, principal: Principal, run: dict[str, Any]) -> str:
        """Who a new run counts as started by, for four-eyes.

        A run a flow run creates (``run_deployment``, a subflow) is sent with the worker's credential
        that every flow run holds; it counts as started by whoever started its parent run, so a
        person cannot start a parent that starts a change and then approve that change.
        """
        parent = run.get("parent_task_run_id")
        if not parent or Perm.WORK not in principal.perms:
            return principal.user
        task_run = await self.client.get(f"{upstream.api_url}/task_runs/{parent}",
                                         headers={"authorization": upstream.authorization})
        parent_run = task_run.json().get("flow_run_id") if task_run.status_code == 200 else None
        starter = self.store.run_starter(upstream.name, str(parent_run)) if parent_run else None
        return starter or principal.user

    async def _has_job_template(self, upstream: Upstream, pool: str) -> bool:
        """True when the pool already has a job template, or when that cannot be read (fail closed)."""
        response = await self.client.get(f"{upstream.api_url}/work_pools/{pool}",
                                         headers={"authorization": upstream.authorization})
        if response.status_code == 404:
            return False
        return response.status_code != 200 or bool(response.json().get("base_job_template"))

    def _four_eyes(self, workspace: str, match: RouteMatch, principal: Principal) -> str | None:
        run_id = match.params.get("id") if match.route.template.startswith("/flow_runs/") else None
        if not run_id or not self.upstreams[workspace].four_eyes:
            return None
        starter = self.store.run_starter(workspace, run_id)
        if starter and starter == principal.user:
            return (f"four-eyes: {principal.user} started this change and cannot approve it; "
                    "another approver of the workspace must answer")
        return None

    async def forward(self, request: Request, upstream: Upstream, principal: Principal | None, body: bytes, *,
                      verdict: Verdict | None = None, match: RouteMatch | None = None,
                      approval: dict[str, Any] | None = None, origin: str = "", html: bool = False) -> Response:
        """Send the request on; an API request goes as decided: the canonical path, the canonical JSON body."""
        headers = [(k, v) for k, v in request.headers.items() if k not in DROP_REQUEST]
        if match is not None:
            raw_path = api_prefix(upstream.name) + quote_path(match.path)
            headers = [(k, v) for k, v in headers if k not in ("content-type", "content-encoding")]
            if body:
                headers.append(("content-type", "application/json"))
        else:
            raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        headers.append(("authorization", upstream.authorization))
        if "accept-encoding" not in request.headers:
            headers.append(("accept-encoding", "identity"))  # httpx would ask for gzip on the caller's behalf
        if request.client:
            headers.append(("x-forwarded-for", self.front.ip_of(request)))
        outgoing = self.client.build_request(request.method, upstream.base_url + raw_path,
                                             params=request.url.query or None, headers=headers, content=body or None)
        try:
            reply = await self.client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            log.warning("workspace %s: upstream error %s", upstream.name, exc)
            return self.finish(JSONResponse({"detail": f"workspace {upstream.name!r} is not answering; "
                                                       "try again shortly"}, 502), origin=origin)
        keep = [(k, internal_location(v, upstream.base_url) if k.lower() == "location" else v)
                for k, v in reply.headers.multi_items()
                if k.lower() not in DROP_RESPONSE and not k.lower().startswith(DROP_RESPONSE_PREFIXES)]
        if (match is not None and match.display in DOCUMENT_READS and reply.status_code == 200
                and (verdict is None or verdict.action != "secret.read")):
            await reply.aread()
            await reply.aclose()
            try:
                masked = json.dumps(mask_documents(reply.json())).encode()
            except ValueError:
                return self.finish(JSONResponse({"detail": "the workspace answered a block read the gateway cannot "
                                                           "check for secrets"}, 502), origin=origin)
            keep = [(k, v) for k, v in keep if k.lower() not in ("content-length", "content-encoding")]
            response: Response = Response(masked, 200, headers=dict(keep))
        elif verdict is not None and principal is not None and verdict.action:
            await reply.aread()
            await reply.aclose()
            starters: dict[str, str] = {}
            if match is not None and match.display in STARTS_RUNS and reply.status_code < 300:
                starters = await self._starters(upstream, principal, body, reply)
            self._after(request, upstream.name, principal, verdict, match, reply, approval, starters)
            keep = [(k, v) for k, v in keep if k.lower() not in ("content-length", "content-encoding")]
            response = Response(reply.content, reply.status_code, headers=dict(keep))
        elif reply.headers.get("content-length", "").isdigit() and int(reply.headers["content-length"]) < _BUFFERED:
            # Most API answers are small: one read is cheaper than the streaming machinery.
            body = b"".join([chunk async for chunk in reply.aiter_raw()])
            await reply.aclose()
            response = Response(body, reply.status_code)
            response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in keep]
        else:
            response = StreamingResponse(reply.aiter_raw(), reply.status_code, background=BackgroundTask(reply.aclose))
            response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in keep]
        return self.finish(response, html=html, origin=origin)

    async def _starters(self, upstream: Upstream, principal: Principal, body: bytes,
                        reply: httpx.Response) -> dict[str, str]:
        """{created run id: who counts as its starter} for a request that created runs."""
        created = reply.json()
        runs = [run for run in (created if isinstance(created, list) else [created])
                if isinstance(run, dict) and run.get("id")]
        try:
            sent = json.loads(body) if body else {}
        except ValueError:
            sent = {}
        asked = sent if isinstance(sent, list) else [sent]
        starters: dict[str, str] = {}
        for index, run in enumerate(runs):
            request_run = asked[index] if index < len(asked) and isinstance(asked[index], dict) else {}
            parent = run.get("parent_task_run_id") or request_run.get("parent_task_run_id")
            starters[str(uuid.UUID(str(run["id"])))] = await self._starter_of(
                upstream, principal, {"parent_task_run_id": parent})
        return starters

    def _after(self, request: Request, workspace: str, principal: Principal, verdict: Verdict,
               match: RouteMatch | None, reply: httpx.Response, approval: dict[str, Any] | None,
               starters: dict[str, str]) -> None:
        """Audit what was done, and remember who started a run (for four-eyes)."""
        detail: dict[str, Any] = {"route": verdict.route, "via": principal.kind}
        if principal.token_id:
            detail["token_id"] = principal.token_id
        for run_id, starter in starters.items():
            self.store.record_run_starter(workspace, run_id, starter)
            detail.setdefault("flow_runs", []).append(run_id)
            if starter != principal.user:
                detail.setdefault("started_for", {})[run_id] = starter
        if verdict.action == "approval" and approval is not None:
            detail.update(approval)
        if verdict.action == "secret.read" and match is not None:
            detail["block"] = match.path
        self.record(request, workspace, principal.user, verdict.action or "write", reply.status_code, detail)

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
        return await self.forward(request, upstream, principal, b"", html=True)

