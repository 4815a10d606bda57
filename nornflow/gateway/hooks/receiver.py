"""``POST /w/<workspace>/hooks/<name>``: a signed delivery from GitHub, GitLab, Nautobot... becomes a
Prefect event in that workspace, and nowhere else.

In order, each step answering for itself (every refusal is audited, with the hook and the reason):

1. the hook must exist in that workspace (404; an unknown hook counts as a failed authentication
   of the caller's address, as a guessed token does, and the same lockout then answers 429);
2. the body must fit the hook's ``max_body_bytes`` (413);
3. the sender's credential must match the hook's secret: none is 401 ("unsigned"), a wrong one
   403 (:mod:`.signatures`); each counts against the address, and a locked-out address gets 429
   instead (a valid signature from it still goes through, as a valid token does on the API);
4. the hook's own rate (``rate_per_minute``, ``burst``; 429 with Retry-After), counted after the
   signature so that nobody without the secret can use up the sender's rate;
5. the body must be JSON (415/400), not stale where the style signs a timestamp, and neither its
   digest nor its delivery id seen within ``replay_window_seconds`` (409; :mod:`.replay`);
6. the template must render an event the Prefect server will accept (422; :mod:`.mapping`);
7. the event is posted to the workspace's own server (its ``/events``, the one request the route
   policy allows a hook: ``policy.decide.decide_hook``; with the gateway's internal credential) and
   the answer is 202 with the event's id; 502 when the server does not take it (then the delivery
   is not remembered, so the sender's retry goes through).

Authenticated by the hook's signature, never by a user's token or session: the route is outside
the workspace's ``/api`` and its role checks, and the only thing a delivery can do is post the one
event its template makes, to its own workspace.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nornflow.gateway.hooks.config import HookSettings
from nornflow.gateway.hooks.mapping import HookMappingError, parse_json, render, to_event
from nornflow.gateway.hooks.replay import SeenStore
from nornflow.gateway.hooks.signatures import HIDDEN_HEADERS, verify
from nornflow.gateway.policy.decide import decide_hook
from nornflow.gateway.ratelimit import RateLimiter

log = logging.getLogger("nornflow.gateway.hooks")
#: The part of a workspace path after /w/<workspace> that is a hook (any name: unknown ones get a 404).
HOOK_PATH = re.compile(r"^/hooks/([^/]*)/?$")
_JSON_TYPES = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)


class Front(Protocol):
    """What the gateway's face to callers gives a hook (``nornflow.gateway``'s ``Front``)."""

    def ip_of(self, request: Request) -> str: ...
    def record(self, request: Request, workspace: str, user: str, action: str, status: int,
               detail: dict[str, Any] | None = None) -> None: ...
    def finish(self, response: Response, *, html: bool = False, origin: str = "") -> Response: ...
    def auth_locked(self, ip: str) -> tuple[float, int | None]: ...
    def auth_failed(self, ip: str) -> float: ...


class Target(Protocol):
    """A workspace's Prefect server, as the gateway reaches it."""

    @property
    def api_url(self) -> str: ...
    @property
    def authorization(self) -> str: ...


def hook_name(rest: str) -> str | None:
    """The hook named by the path after ``/w/<workspace>``, or None when it is not a hook path."""
    match = HOOK_PATH.match(rest)
    return match.group(1) if match else None


def _read_secret(reference: str) -> str:
    """The reference's value, read now: a new resolver each time, because a resolver keeps what it loaded
    (a Prefect ``Secret`` block holds its value) for as long as it lives, and the gateway lives long."""
    from nornflow.secrets.resolver import Resolver

    return Resolver().resolve(reference)


#: How long a hook keeps its secret before reading it again (a rotation lands within it, or at once: see below).
SECRET_TTL = 300.0
#: A signature that does not match makes the hook re-read its secret (a rotation lands at once), at most this often.
REFRESH_SECONDS = 30.0


class _Refused(Exception):
    def __init__(self, status: int, reason: str, *, action: str = "denied", retry_after: int | None = None,
                 audit: bool = True) -> None:
        super().__init__(reason)
        self.status, self.reason, self.action, self.retry_after = status, reason, action, retry_after
        self.audit = audit


class HookReceiver:
    """Every workspace's hooks; the gateway hands it its front, its upstreams and its HTTP client."""

    def __init__(self, hooks: Mapping[str, Sequence[HookSettings]], front: Front, upstreams: Mapping[str, Target],
                 client: httpx.AsyncClient, seen: SeenStore, *, read_secret: Callable[[str], str] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.hooks = {(ws, hook.name): hook for ws, declared in hooks.items() for hook in declared}
        self.front = front
        self.upstreams = upstreams
        self.client = client
        self.seen = seen
        self.read_secret = read_secret or _read_secret
        self.cached: dict[str, tuple[float, str]] = {}  # reference -> (monotonic time read, value); never logged
        self.refreshed: dict[str, float] = {}  # reference -> monotonic time of its last forced re-read
        self.clock = clock or (lambda: datetime.now(UTC))
        self.limiters = {key: RateLimiter(hook.rate_per_minute / 60.0, hook.burst) for key, hook in self.hooks.items()}

    async def handle(self, request: Request, workspace: str, name: str) -> Response:
        hook = self.hooks.get((workspace, name)) if workspace in self.upstreams else None
        name = name[:100]  # what a caller typed, into the audit log: bounded
        detail: dict[str, Any] = {"hook": name}
        try:
            if hook is None:
                self._failed_auth(request, f"no webhook {name!r} in workspace {workspace!r} (hooks are declared "
                                           "under the workspace's `hooks` in the gateway's settings)", 404)
            if request.method != "POST":
                raise _Refused(405, f"webhooks take POST; got {request.method}")
            body = await self._read_body(request, hook)
            await self._authenticate(request, hook, body)
            self._rate(workspace, hook)
            delivery = self._delivery(request, hook)
            if delivery:
                detail["delivery"] = delivery
            return await self._accept(request, workspace, hook, body, delivery, detail)
        except _Refused as refused:
            if refused.audit:
                self.front.record(request, workspace, f"hook:{name}", refused.action, refused.status,
                                  {**detail, "reason": refused.reason})
            response = self.front.finish(JSONResponse({"detail": refused.reason}, refused.status))
            if refused.retry_after is not None:
                response.headers["retry-after"] = str(refused.retry_after)
            return response

    # -- the steps -----------------------------------------------------------------------------------
    def _failed_auth(self, request: Request, reason: str, status: int) -> NoReturn:
        """Refuse a caller that did not prove itself, and count it against its address. An address locked out
        after too many (the gateway's auth_max_failures) gets 429 instead, one audit record per window, as on
        the API; a valid signature is never refused for what someone else at that address guessed."""
        ip = self.front.ip_of(request)
        locked, muted = self.front.auth_locked(ip)
        if locked > 0:
            seconds = math.ceil(locked)
            raise _Refused(429, f"too many failed authentications from {ip}: retry in {seconds} s",
                           action="ratelimited", retry_after=seconds, audit=muted is not None)
        self.front.auth_failed(ip)
        raise _Refused(status, reason)

    async def _read_body(self, request: Request, hook: HookSettings) -> bytes:
        limit = hook.max_body_bytes
        message = f"the body is larger than hook {hook.name!r} accepts ({limit} bytes, its max_body_bytes)"
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Refused(413, message)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Refused(413, message)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _secret(self, hook: HookSettings, *, fresh: bool = False) -> str:
        reference = hook.secret.get_secret_value()
        held = self.cached.get(reference)
        if held is not None and not fresh and time.monotonic() - held[0] < SECRET_TTL:
            return held[1]
        try:
            value = await asyncio.to_thread(self.read_secret, reference)
        except Exception as exc:  # a SecretError names the reference and the backend, never a value
            log.warning("hook %s: its secret cannot be read: %s", hook.name, exc)
            raise _Refused(503, f"hook {hook.name!r}: its secret cannot be read right now ({type(exc).__name__}); "
                                "the gateway's operator must check the secret reference", action="hook.error") \
                from None
        self.cached[reference] = (time.monotonic(), value)
        return value

    async def _authenticate(self, request: Request, hook: HookSettings, body: bytes) -> None:
        verdict = verify(hook.style, await self._secret(hook), request.headers, body, hook.name)
        reference = hook.secret.get_secret_value()
        if not verdict.ok and not verdict.missing and \
                time.monotonic() - self.refreshed.get(reference, -REFRESH_SECONDS) >= REFRESH_SECONDS:
            # The secret may have been rotated since it was cached: read it again, at most every REFRESH_SECONDS
            # (a stream of bad signatures must not become a stream of reads from the secrets backend).
            self.refreshed[reference] = time.monotonic()
            verdict = verify(hook.style, await self._secret(hook, fresh=True), request.headers, body, hook.name)
        if not verdict.ok:
            self._failed_auth(request, verdict.reason, 401 if verdict.missing else 403)

    def _rate(self, workspace: str, hook: HookSettings) -> None:
        wait = self.limiters[(workspace, hook.name)].hit(f"{workspace}/{hook.name}")
        if wait > 0:
            seconds = math.ceil(wait)
            raise _Refused(429, f"hook {hook.name!r} is over its rate ({hook.rate_per_minute:g} a minute, burst "
                                f"{hook.burst}): retry in {seconds} s", action="ratelimited", retry_after=seconds)

    @staticmethod
    def _delivery(request: Request, hook: HookSettings) -> str:
        header = hook.delivery
        return (request.headers.get(header, "") if header else "").strip()[:200]

    def _fresh(self, hook: HookSettings, body: Any) -> None:
        """The signed timestamp of a style that has one (Nautobot's body ``timestamp``) must be recent."""
        if hook.style != "nautobot":
            return
        stamp = body.get("timestamp") if isinstance(body, dict) else None
        try:
            sent = datetime.fromisoformat(str(stamp))
        except ValueError:
            raise _Refused(400, f"hook {hook.name!r}: a Nautobot delivery carries the time it was sent in the body's "
                                "`timestamp`; this one has none (keep `timestamp` in a custom body template)") from None
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=UTC)
        age = (self.clock() - sent).total_seconds()
        if abs(age) > hook.max_age_seconds:
            raise _Refused(409, f"stale delivery: sent {age:.0f} s ago, hook {hook.name!r} accepts "
                                f"{hook.max_age_seconds} s (max_age_seconds); a replayed request, or the clocks differ")

    async def _accept(self, request: Request, workspace: str, hook: HookSettings, body: bytes, delivery: str,
                      detail: dict[str, Any]) -> Response:
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise _Refused(415, f"hook {hook.name!r} takes an unencoded body (got Content-Encoding: {encoding})")
        content_type = request.headers.get("content-type", "")
        if not _JSON_TYPES.match(content_type):
            raise _Refused(415, f"hook {hook.name!r} takes JSON: send Content-Type: application/json "
                                f"(got {content_type or 'none'}; GitHub: set the webhook's content type to JSON)")
        try:
            parsed = parse_json(body)
        except HookMappingError as exc:
            raise _Refused(400, str(exc)) from None
        self._fresh(hook, parsed)
        digest = hashlib.sha256(body).hexdigest()
        keys = [f"{workspace}/{hook.name}/body:{digest}"] + ([f"{workspace}/{hook.name}/id:{delivery}"]
                                                             if delivery else [])
        held = await asyncio.to_thread(self.seen.claim, keys, hook.replay_window_seconds)
        if held is not None:
            what = "delivery id" if "/id:" in held else "body"
            raise _Refused(409, f"replayed delivery: hook {hook.name!r} accepted this {what} already "
                                f"(within {hook.replay_window_seconds} s); it is not sent again")
        try:
            event = self._event(request, workspace, hook, parsed, digest)
            await self._deliver(workspace, event)
        except BaseException:
            await asyncio.to_thread(self.seen.release, keys)
            raise
        detail.update(event=event["event"], resource=event["resource"]["prefect.resource.id"], event_id=event["id"])
        self.front.record(request, workspace, f"hook:{hook.name}", "hook.received", 202, detail)
        return self.front.finish(JSONResponse({"id": event["id"], "event": event["event"]}, 202))

    def _event(self, request: Request, workspace: str, hook: HookSettings, parsed: Any,
               digest: str) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in HIDDEN_HEADERS}
        context = {"body": parsed, "headers": headers, "method": request.method,
                   "hook": {"name": hook.name, "style": hook.style, "workspace": workspace}}
        try:
            rendered = render(hook.template, hook.name, context)
            return to_event(rendered, workspace=workspace, hook=hook.name, digest=digest, received=self.clock())
        except HookMappingError as exc:
            raise _Refused(422, str(exc)) from None

    async def _deliver(self, workspace: str, event: dict[str, Any]) -> None:
        refusal = decide_hook("POST", "/events", [event])  # the route policy: this request, nothing else
        if refusal:
            raise _Refused(403, refusal)
        upstream = self.upstreams[workspace]  # the path's own workspace: a hook reaches no other
        try:
            reply = await self.client.post(f"{upstream.api_url}/events", json=[event],
                                           headers={"authorization": upstream.authorization})
        except httpx.HTTPError as exc:
            log.warning("workspace %s: hook event not delivered: %s", workspace, exc)
            raise _Refused(502, f"workspace {workspace!r} is not answering; the delivery was not kept, send it "
                                "again", action="hook.error") from None
        if reply.status_code >= 300:
            raise _Refused(502, f"workspace {workspace!r} refused the event ({reply.status_code}: "
                                f"{reply.text[:200]}); the delivery was not kept", action="hook.error")

