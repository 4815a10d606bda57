"""Single sign-on in the gateway: the OpenID login's two routes, LDAP behind the login form, the
recheck that takes a role away, and the provider's logout.

Routes (everything else under ``/sso/`` is 404):

- ``GET /sso/oidc/start?next=/w/core/``: public. Keeps a pending login (state, nonce, PKCE
  verifier) bound to this browser by a random cookie (``SameSite=Lax``: it must come back on the
  provider's cross-site redirect; ``Path=/sso/oidc/``; ten minutes), and sends the browser to the
  provider. Limited per address, so nobody fills the table.
- ``GET /sso/oidc/callback?code=...&state=...``: public, but worth nothing without a state this
  gateway issued *to this browser* and has not spent: the state is deleted as it is read, so a
  replayed callback (or code) finds nothing. Then the code is exchanged with the PKCE verifier and
  the ID token checked (:mod:`.oidc`). The answer sets the session cookie and moves on with a
  ``meta refresh`` from the gateway's own page: a redirect would carry the provider's cross-site
  navigation on, and the browser would not send the ``SameSite=Strict`` session cookie to it.

Who a signed-in person is, and what they may do: the name from the provider's claim (or the
directory's attribute) is bound to that account for good (:class:`.state.SsoState`), never to a
local user of the same name (break-glass accounts cannot be claimed by a directory entry), and
their roles are written from their groups (:mod:`.groups`) at each login and each recheck.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from urllib.parse import quote

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from nornflow.gateway.errors import GatewayError
from nornflow.gateway.policy.pages import OWN_ROUTES
from nornflow.gateway.proxy.front import Front
from nornflow.gateway.ratelimit import RateLimiter
from nornflow.gateway.settings import GatewaySettings
from nornflow.gateway.sso.errors import SsoError, SsoProviderError
from nornflow.gateway.sso.groups import Identity, roles_for
from nornflow.gateway.sso.ldap import LdapDirectory
from nornflow.gateway.sso.oidc import PENDING_TTL, OidcClient, Pending
from nornflow.gateway.sso.settings import resolve_secret
from nornflow.gateway.sso.state import SsoState
from nornflow.gateway.store import GatewayStore
from nornflow.gateway.store.records import User

log = logging.getLogger("nornflow.gateway.sso")
START = "/sso/oidc/start"
CALLBACK = "/sso/oidc/callback"
BINDING_COOKIE = "nornflow_sso_binding"
RECHECK_RETRY = 60.0  # seconds before a recheck the provider could not answer is tried again


@dataclass(frozen=True)
class PasswordLogin:
    """The login form's outcome: the user, or None and the reason to audit; the directory identity to remember."""

    user: User | None
    reason: str
    identity: Identity | None = None


class SsoRoutes:
    """The parts of single sign-on the gateway's login routes call; built only when ``settings.sso`` enables one."""

    def __init__(self, settings: GatewaySettings, store: GatewayStore, front: Front, workspaces: Iterable[str], *,
                 resolve: Callable[[str], str] | None = None, clock: Callable[[], float] = time.time,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        sso = settings.sso
        self.sso = sso
        self.store = store
        self.front = front
        self.workspaces = frozenset(workspaces)
        self.public_url = settings.public_base_url
        self.state = SsoState(settings.store_path, clock=clock)
        self.lifetime = timedelta(hours=settings.session_max_hours)
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        self.recheck_every = sso.recheck_minutes * 60.0
        self._clock = clock
        self.starts = RateLimiter(0.5, 20)  # per address: 20 logins at once, then one every 2 s
        self._rechecks: dict[str, asyncio.Lock] = {}
        self.oidc = None if sso.oidc is None else OidcClient(
            sso.oidc, self.public_url + CALLBACK,
            resolve_secret(sso.oidc.client_secret, resolve, "sso.oidc.client_secret"), clock=clock, transport=transport)
        self.ldap = None if sso.ldap is None else LdapDirectory(
            sso.ldap, resolve_secret(sso.ldap.bind_password, resolve, "sso.ldap.bind_password") or "")

    async def aclose(self) -> None:
        if self.oidc is not None:
            await self.oidc.aclose()
        self.state.close()

    # -- what the login page offers ----------------------------------------------------------------
    @property
    def oidc_label(self) -> str | None:
        return self.sso.oidc.display_name if self.sso.oidc is not None else None

    @property
    def password_form(self) -> bool:
        """The user name and password form is shown for local users (when allowed) or the directory."""
        return self.sso.local_login or self.ldap is not None

    # -- signing a person in -----------------------------------------------------------------------
    def sign_in(self, identity: Identity, request: Request) -> User:
        """The gateway user for ``identity``, their roles written from their groups now; SsoError when refused."""
        roles = roles_for(identity.groups, self.sso.group_roles, self.workspaces)
        self.state.bind_identity(identity.source, identity.subject, identity.username)
        try:
            user, before = self.store.sync_external_user(identity.username, roles)
        except GatewayError as exc:  # a local user holds the name
            raise SsoError(str(exc)) from None
        if user.disabled:
            raise SsoError(f"{user.name} is disabled in this gateway: ask an owner")
        if before != user.roles:
            self.front.record(request, "", user.name, "sso.roles", 200, {
                "via": identity.source, "before": _plain(before), "after": _plain(user.roles),
                "groups": sorted(identity.groups)})
        return user

    async def password_login(self, username: str, password: str, request: Request) -> PasswordLogin:
        """The login form's check: a local user by password (when allowed), anyone else at the directory."""
        kind = self.store.user_kind(username)
        if kind == "local" or (kind is None and self.ldap is None):
            if not self.sso.local_login:
                return PasswordLogin(None, "local logins are turned off (sso.local_login: false)")
            user = self.store.authenticate(username, password)
            return PasswordLogin(user, "" if user else "wrong user name or password")
        if self.ldap is None:
            return PasswordLogin(None, "this user signs in with single sign-on")
        try:
            identity = await asyncio.to_thread(self.ldap.authenticate, username, password)
            user = self.sign_in(identity, request)
        except SsoProviderError as exc:
            log.warning("LDAP login failed: %s", exc)
            return PasswordLogin(None, f"the directory could not be used: {exc}")
        except SsoError as exc:
            return PasswordLogin(None, str(exc))
        return PasswordLogin(user, "", identity)

    def remember(self, session_id: str, identity: Identity) -> None:
        """Keep what the session's recheck needs (called once the session exists)."""
        self._remember(session_id, identity)

    def _remember(self, session_id: str, identity: Identity) -> None:
        self.state.put_session(session_id, identity.username, identity.source, identity.subject, self.recheck_every,
                               self.lifetime.total_seconds(), identity.secrets)

    # -- the OpenID routes -------------------------------------------------------------------------
    async def handle(self, request: Request, next_of: Callable[[str | None], str],
                     landing: Callable[[User, str], str], failed: Callable[[Request, str, int], Response],
                     session_cookie: Callable[[Response, str], None]) -> Response:
        path = request.url.path
        route = OWN_ROUTES.get(path)  # exact: the policy's table of the gateway's own routes
        if self.oidc is None or route is None or route.credential not in ("none", "state") \
                or request.method != route.method:
            return self.front.finish(JSONResponse({"detail": f"no such page: {path}"}, 404))
        if path == START:
            return await self._start(request, next_of(request.query_params.get("next")), failed)
        return await self._callback(request, landing, failed, session_cookie)

    async def _start(self, request: Request, next_url: str,
                     failed: Callable[[Request, str, int], Response]) -> Response:
        assert self.oidc is not None
        ip = self.front.ip_of(request)
        wait = self.starts.hit("sso-start:" + ip)
        if wait > 0:
            response = failed(request, f"Too many logins started from your address: try again in {math.ceil(wait)} s.",
                              429)
            response.headers["retry-after"] = str(math.ceil(wait))
            return response
        try:
            url, pending = await self.oidc.begin(next_url)
        except SsoError as exc:
            log.warning("OpenID login could not start: %s", exc)
            return failed(request, f"Single sign-on is not available right now: {exc}", 502)
        binding = request.cookies.get(BINDING_COOKIE) or secrets.token_urlsafe(32)
        if len(binding) > 64:
            binding = secrets.token_urlsafe(32)
        self.state.put_pending(pending.state, binding, pending.to_json(), PENDING_TTL)
        response = RedirectResponse(url, 303)
        response.set_cookie(BINDING_COOKIE, binding, max_age=int(PENDING_TTL), path="/sso/oidc/", httponly=True,
                            samesite="lax", secure=self.front.tls)
        response.headers["cache-control"] = "no-store"
        return self.front.finish(response)

    async def _callback(self, request: Request, landing: Callable[[User, str], str],
                        failed: Callable[[Request, str, int], Response],
                        session_cookie: Callable[[Response, str], None]) -> Response:
        assert self.oidc is not None
        params = request.query_params
        try:
            pending = Pending.from_json(self.state.take_pending(params.get("state", ""),
                                                                request.cookies.get(BINDING_COOKIE)))
            if params.get("error"):
                error = "".join(c for c in params.get("error", "") if c.isprintable())[:80]
                raise SsoError(f"the identity provider did not sign you in ({error})")
            iss = params.get("iss")
            if (iss is None and (await self.oidc.discovery()).iss_in_response) or \
                    (iss is not None and iss != self.oidc.settings.issuer):
                raise SsoError("the callback does not name this gateway's provider as its issuer (a mix-up): refused")
            identity = await self.oidc.complete(params.get("code", ""), pending)
            user = self.sign_in(identity, request)
        except SsoProviderError as exc:
            log.warning("OpenID login failed: %s", exc)
            self.front.record(request, "", "", "login.failed", 502, {"via": "oidc", "reason": str(exc)})
            return failed(request, f"Single sign-on failed: {exc}", 502)
        except SsoError as exc:
            self.front.record(request, "", "", "login.failed", 400, {"via": "oidc", "reason": str(exc)})
            return failed(request, f"Single sign-on failed: {exc}", 400)
        session_id = self.store.create_session(user.name, idle=self.idle, absolute=self.lifetime)
        self._remember(session_id, identity)
        self.front.record(request, "", user.name, "login.ok", 200, {"via": "oidc", "groups": sorted(identity.groups)})
        target = landing(user, pending.next_url)
        page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Signed in · NornFlow</title>"
                f"<meta http-equiv=refresh content=\"0;url={escape(target)}\"></head><body>"
                f"<p>Signed in as {escape(user.name)}. <a href=\"{escape(target)}\">Continue</a></p></body></html>")
        response = HTMLResponse(page, 200)
        response.headers["cache-control"] = "no-store"
        session_cookie(response, session_id)
        response.delete_cookie(BINDING_COOKIE, path="/sso/oidc/", httponly=True, samesite="lax", secure=self.front.tls)
        return self.front.finish(response, html=True)

    # -- the recheck -------------------------------------------------------------------------------
    async def recheck(self, request: Request, session_id: str) -> None:
        """Read a single-sign-on session's groups again when it is due; end the session when the provider or
        the directory no longer vouches for the person. A local session (or one not due) costs one lookup."""
        found = self.state.session(session_id)
        if found is None and not self.sso.local_login:
            session = self.store.get_session(session_id)  # a local user's session opened before the switch
            if session is not None and self.store.user_kind(session.user) == "local":
                self._end(request, session_id, session.user, "local logins are turned off (sso.local_login: false)")
            return
        if found is None or self._clock() < found.recheck_at:
            return
        lock = self._rechecks.setdefault(session_id[:16], asyncio.Lock())
        async with lock:
            if not self.state.claim_recheck(session_id, found.recheck_at, RECHECK_RETRY):
                return  # another request (or gateway process) is doing it
            try:
                if found.source == "oidc" and self.oidc is not None:
                    identity = await self.oidc.refresh(found.secrets, found.subject)
                elif found.source == "ldap" and self.ldap is not None:
                    identity = await asyncio.to_thread(self.ldap.recheck, found.subject)
                else:
                    raise SsoError(f"{found.source} sign-on is no longer configured")
                if identity.username != found.user:
                    raise SsoError(f"the account now calls itself {identity.username!r}")
                self.sign_in(identity, request)
                self.state.rechecked(session_id, self.recheck_every, identity.secrets)
            except SsoProviderError as exc:
                overdue = self._clock() - found.checked_at - self.recheck_every
                if overdue < self.recheck_every:
                    log.warning("session recheck for %s postponed: %s", found.user, exc)
                    return
                self._end(request, session_id, found.user, f"the session could not be rechecked: {exc}")
            except SsoError as exc:
                self._end(request, session_id, found.user, f"the session's recheck refused it: {exc}")
            finally:
                if len(self._rechecks) > 10_000:
                    self._rechecks.clear()

    def _end(self, request: Request, session_id: str, user: str, reason: str) -> None:
        self.store.delete_session(session_id)
        self.state.drop_session(session_id)
        self.front.record(request, "", user, "logout", 401, {"reason": reason})

    async def logout_target(self, session_id: str | None) -> str | None:
        """Where the browser goes after a local logout: the provider's end-session page for an OIDC session."""
        found = self.state.session(session_id) if session_id else None
        if session_id:
            self.state.drop_session(session_id)
        if found is None or found.source != "oidc" or self.oidc is None:
            return None
        return await self.oidc.logout_url(found.secrets.get("id_token") or None, self.public_url + "/login?bye=1")


def _plain(roles: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    return {ws: sorted(names) for ws, names in sorted(roles.items()) if names}


def login_link(next_url: str) -> str:
    return f"{START}?next={quote(next_url, safe='/')}"
