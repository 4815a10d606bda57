"""Websockets through the gateway: events in and out, logs out, task subscriptions, worker channels.

Prefect's handshake: the client asks for the ``prefect`` subprotocol, the server accepts, the
client's first frame is ``{"type": "auth", "token": <auth string>}`` and the server answers
``auth_success`` or closes with 1008. The gateway plays the server to the client (checking
the NornFlow token, or the browser's session cookie, and the route's permission) and the client to
Prefect (with the internal auth string), then relays frames both ways.

Limits are answered before the handshake where the gateway can know them then: a bad credential on
the upgrade from an address locked out for failed authentications (a valid one is never held back by
others' failures: a NAT, a proxy), and a principal over its connect rate when the upgrade request
carries its credential (Prefect's ``events/in`` client sends an ``Authorization`` header; so does
anything with ``PREFECT_CLIENT_CUSTOM_HEADERS``, and a browser sends its session cookie) get an HTTP
429 with Retry-After instead of a websocket (the ASGI ``websocket.http.response`` extension, which
uvicorn's websockets implementation offers). A client whose credential comes only in the auth frame
is known after the handshake: over its rate, or failing from a locked-out address, it is closed with
1013 (try again later) and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nornflow.gateway.audit.events import forges_audit
from nornflow.gateway.auth.caller import Authenticator, Principal, Unauthenticated
from nornflow.gateway.policy.routes import websocket_permission
from nornflow.gateway.proxy.front import Front
from nornflow.gateway.proxy.http import BadRequest, check_path, origin_of
from nornflow.gateway.proxy.upstream import Upstream
from nornflow.gateway.ratelimit import RateLimiter
from nornflow.gateway.settings import GatewaySettings

_WS_PATH = re.compile(r"^/w/([a-z0-9][a-z0-9-]{0,39})/api(/.*)$")
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
AUTH_FRAME_TIMEOUT = 10.0  # seconds a client has, after the handshake, to send its auth frame


class WebsocketRelay:
    def __init__(self, front: Front, settings: GatewaySettings, auth: Authenticator,
                 upstreams: Mapping[str, Upstream]) -> None:
        self.front = front
        self.auth = auth
        self.upstreams = upstreams
        per_minute = settings.websocket_connects_per_minute
        self.limiter = RateLimiter(per_minute / 60.0, max(1, per_minute))

    async def handle(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                     send: Callable[[Any], Awaitable[None]]) -> None:
        websocket = WebSocket(scope, receive, send)
        ip = self.front.peer_ip(websocket.client.host if websocket.client else "", websocket.headers)

        def audit(workspace: str, user: str, action: str, status: int, reason: str) -> None:
            self.front.audit.append(workspace=workspace, user=user, action=action,
                                 outcome="ok" if status < 400 else "denied", ip=ip, method="WS",
                                 path=websocket.url.path, status=status, detail={"reason": reason} if reason else {})

        try:
            check_path(scope.get("raw_path") or websocket.url.path.encode())
        except BadRequest as exc:
            audit("", "", "denied", 400, exc.message)
            await websocket.close(POLICY_VIOLATION, reason=exc.message[:120])
            return
        match = _WS_PATH.match(websocket.url.path)
        permission = websocket_permission(match.group(2)) if match else None
        if not match or match.group(1) not in self.upstreams or permission is None:
            audit(match.group(1) if match else "", "", "denied", 403, "no such websocket")
            await websocket.close(POLICY_VIOLATION, reason="no such websocket")
            return
        workspace, path = match.group(1), match.group(2)
        origin = origin_of(websocket.headers.get("origin", ""))
        if origin and origin not in (self.front.public_origin, *self.front.allowed_origins):
            reason = f"origin {origin} is not allowed: add it to the gateway's cors_origins"
            audit(workspace, "", "denied", 403, reason)
            await self._refuse(websocket, 403, reason)
            return
        offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
        if "prefect" not in offered:
            audit(workspace, "", "denied", 403, "the 'prefect' subprotocol is required")
            await websocket.close(POLICY_VIOLATION, reason="'prefect' subprotocol required")
            return
        early: Principal | None = None
        try:  # a credential on the upgrade request itself: limits can be answered before the handshake
            early = self.auth.authenticate(websocket.headers, workspace)
        except Unauthenticated:
            early = None  # the auth frame decides; a bad header alone is not a failure of the frame
        # A lockout holds back failed authentications only: a valid token is never refused because someone
        # else guessed wrong from the same address (a NAT, a proxy). Without a credential on the upgrade,
        # the auth frame is read and only a failed one is answered with the lockout.
        locked, muted = self.front.auth_locked(ip) if early is None else (0.0, None)
        if locked > 0 and websocket.headers.get("authorization"):  # a bad credential on the upgrade itself
            reason = f"too many failed authentications from {ip}: retry in {math.ceil(locked)} s"
            if muted is not None:
                audit(workspace, "", "ratelimited", 429, reason)
            await self._refuse(websocket, 429, reason, retry_after=locked)
            return
        if early is not None:
            wait = self.limiter.hit(early.key)
            if wait > 0:
                reason = f"too many websocket connections for {early.user}: retry in {math.ceil(wait)} s"
                audit(workspace, early.user, "ratelimited", 429, reason)
                await self._refuse(websocket, 429, reason, retry_after=wait)
                return
        await websocket.accept(subprotocol="prefect")
        try:
            principal = await self._authenticate(websocket, workspace)
        except Unauthenticated as exc:
            if locked > 0:
                reason = f"too many failed authentications from {ip}: retry in {math.ceil(locked)} s"
                if muted is not None:
                    audit(workspace, exc.user, "ratelimited", 429, reason)
                await websocket.close(TRY_AGAIN_LATER, reason=reason[:120])
                return
            self.front.auth_failed(ip)
            audit(workspace, exc.user, "denied", 401, exc.reason)
            await websocket.close(POLICY_VIOLATION, reason=exc.reason[:120])
            return
        wait = self.limiter.hit(principal.key) if early is None or early.key != principal.key else 0.0
        if wait > 0:
            audit(workspace, principal.user, "ratelimited", 429, f"websocket connects: retry in {math.ceil(wait)} s")
            await websocket.close(TRY_AGAIN_LATER, reason=f"too many connections: retry in {math.ceil(wait)} s")
            return
        if permission not in principal.perms:
            reason = f"{principal.user} may not open {path} in workspace {workspace!r} (needs {permission.value})"
            audit(workspace, principal.user, "denied", 403, reason)
            await websocket.close(POLICY_VIOLATION, reason=reason[:120])
            return
        await self._relay(websocket, workspace, scope)

    async def _refuse(self, websocket: WebSocket, status: int, reason: str, *, retry_after: float = 0.0) -> None:
        """An HTTP answer with a JSON reason instead of the handshake (429 with Retry-After, 403), or,
        where the server cannot send one, a close (1013 try again later, 1008 policy violation)."""
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            response = self.front.finish(JSONResponse({"detail": reason}, status))
            if retry_after > 0:
                response.headers["retry-after"] = str(math.ceil(retry_after))
            await websocket.send_denial_response(response)
        else:
            await websocket.close(TRY_AGAIN_LATER if status == 429 else POLICY_VIOLATION, reason=reason[:120])

    async def _authenticate(self, websocket: WebSocket, workspace: str) -> Principal:
        try:
            first = await asyncio.wait_for(websocket.receive_text(), timeout=AUTH_FRAME_TIMEOUT)
            message = json.loads(first)
        except (TimeoutError, ValueError, WebSocketDisconnect, KeyError) as exc:
            raise Unauthenticated(f"expected an auth frame first ({exc.__class__.__name__})") from None
        if not isinstance(message, dict) or message.get("type") != "auth":
            raise Unauthenticated("expected an auth frame first")
        token = message.get("token")
        if isinstance(token, str) and token:
            return self.auth.from_token(token, workspace)
        principal = self.auth.authenticate({"cookie": websocket.headers.get("cookie", "")}, workspace)
        if principal is None:
            raise Unauthenticated("no credential in the auth frame: set PREFECT_API_AUTH_STRING=<user>:<token>")
        return principal

    async def _relay(self, websocket: WebSocket, workspace: str, scope: MutableMapping[str, Any]) -> None:
        upstream = self.upstreams[workspace]
        raw_path = (scope.get("raw_path") or websocket.url.path.encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        url = upstream.ws_base + raw_path + (f"?{query}" if query else "")
        try:
            server = await connect(url, subprotocols=["prefect"],  # type: ignore[list-item]
                                   additional_headers={"Authorization": upstream.authorization},
                                   open_timeout=10, max_size=None)
        except (OSError, TimeoutError, ConnectionClosed) as exc:
            await websocket.close(TRY_AGAIN_LATER, reason=f"workspace not answering ({exc.__class__.__name__})")
            return
        async with server:
            await server.send(json.dumps({"type": "auth", "token": upstream.auth_string}))
            answer = json.loads(await server.recv())
            if answer.get("type") != "auth_success":
                await websocket.close(TRY_AGAIN_LATER, reason="the workspace refused the gateway")
                return
            await websocket.send_text(json.dumps({"type": "auth_success"}))
            await _pump(websocket, server, guard_events=path_of(scope) == "/events/in")


def path_of(scope: MutableMapping[str, Any]) -> str:
    match = _WS_PATH.match(scope.get("path", ""))
    return match.group(2) if match else ""


async def _pump(client: WebSocket, server: ClientConnection, *, guard_events: bool = False) -> None:
    async def client_to_server() -> None:
        while True:
            message = await client.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text") if message.get("text") is not None else message.get("bytes")
            if data is None:
                continue
            if guard_events and forges_audit(data):
                await client.close(POLICY_VIOLATION, reason="nornflow.audit.* events come from the gateway only")
                return
            await server.send(data)

    async def server_to_client() -> None:
        async for data in server:
            if isinstance(data, str):
                await client.send_text(data)
            else:
                await client.send_bytes(data)

    tasks = [asyncio.create_task(client_to_server()), asyncio.create_task(server_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, WebSocketDisconnect, RuntimeError):
                await task
        with contextlib.suppress(RuntimeError, ConnectionClosed, WebSocketDisconnect):
            await client.close()
