"""Log in, log out, the workspace list: a session the browser holds as an HttpOnly cookie.

The Prefect UI's own login keeps ``base64(user:password)`` in localStorage, readable by any
script on the page. Here the password is checked once, and the browser only holds a random
session id it cannot read (HttpOnly, SameSite=Strict, Secure under TLS), ended by logout,
by idle time or by its maximum age.

Single sign-on (:mod:`nornflow.gateway.sso`) plugs in here when configured: its routes under ``/sso/``,
the login form checking the directory (LDAP) for anyone who is not a local user, local logins refused
when ``sso.local_login`` is false, and logout going on to the identity provider's end-session page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from nornflow.gateway.auth.caller import SESSION_COOKIE, session_id_from
from nornflow.gateway.auth.pages import login_page, workspaces_page
from nornflow.gateway.proxy.front import Front
from nornflow.gateway.proxy.upstream import Upstream
from nornflow.gateway.ratelimit import LoginGuard
from nornflow.gateway.settings import GatewaySettings
from nornflow.gateway.sso.groups import Identity
from nornflow.gateway.sso.routes import SsoRoutes, login_link
from nornflow.gateway.store import GatewayStore
from nornflow.gateway.store.records import User

USER_COOLDOWN = 60  # seconds a user name stays locked after too many failures from any addresses


def safe_next(value: str | None) -> str:
    """Only a path on this gateway: never another site (an open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class LoginRoutes:
    def __init__(self, front: Front, settings: GatewaySettings, store: GatewayStore,
                 upstreams: Mapping[str, Upstream], sso: SsoRoutes | None = None) -> None:
        self.front = front
        self.sso = sso
        self.store = store
        self.upstreams = upstreams
        s = settings
        self.guard = LoginGuard(s.login_max_failures, s.login_window_seconds, s.login_lockout_seconds)
        # Per user name: twice the per-address allowance (a person mistyping from two places), and a
        # short cooldown, so guessing one password from many addresses is slow, while an attacker
        # holding a user out must keep failing and only ever buys USER_COOLDOWN seconds at a time.
        self.user_guard = LoginGuard(2 * s.login_max_failures, s.login_window_seconds,
                                     min(USER_COOLDOWN, s.login_lockout_seconds))
        self.idle = timedelta(minutes=s.session_idle_minutes)
        self.absolute = timedelta(hours=s.session_max_hours)

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/sso/"):
            if self.sso is None:
                return self.front.finish(Response('{"detail":"single sign-on is not configured"}', 404,
                                                  media_type="application/json"))
            return await self.sso.handle(request, safe_next, self._landing, self._sso_failed, self._set_session)
        if path == "/logout":
            return await self.logout(request)
        if path == "/login":
            if request.method == "POST":
                return await self.login(request)
            params = request.query_params
            notice = "You are logged out." if params.get("bye") else ""
            error = "Your session has ended: log in again." if params.get("expired") else ""
            return self._login_page(safe_next(params.get("next")), notice=notice, error=error)
        return self.home(request)

    def _login_page(self, next_url: str, *, error: str = "", notice: str = "", status: int = 200) -> Response:
        sso = (self.sso.oidc_label, login_link(next_url)) if self.sso and self.sso.oidc_label else None
        return self._html(login_page(next_url=next_url, error=error, notice=notice, sso=sso,
                                     password_form=self.sso.password_form if self.sso else True), status)

    def _sso_failed(self, request: Request, message: str, status: int) -> Response:
        return self._login_page("/", error=message, status=status)

    def _landing(self, user: User, next_url: str) -> str:
        """Where a fresh login goes: ``next``, or the one workspace a person has a role in."""
        if next_url == "/":
            mine = [ws for ws, roles in user.roles.items() if roles and ws in self.upstreams]
            return f"/w/{mine[0]}/" if len(mine) == 1 else "/"
        return next_url

    def _set_session(self, response: Response, session_id: str) -> None:
        response.set_cookie(SESSION_COOKIE, session_id, max_age=int(self.absolute.total_seconds()), path="/",
                            httponly=True, samesite="strict", secure=self.front.tls)

    def _html(self, text: str, status: int = 200) -> Response:
        response = HTMLResponse(text, status)
        response.headers["cache-control"] = "no-store"
        return self.front.finish(response, html=True)

    def redirect_to_login(self, request: Request) -> Response:
        had_session = session_id_from(request.headers.get("cookie")) is not None
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        wants_html = "text/html" in request.headers.get("accept", "")
        if not wants_html:
            return self.front.finish(Response('{"detail":"log in first"}', 401, media_type="application/json"))
        suffix = "&expired=1" if had_session else ""
        return self.front.finish(RedirectResponse(f"/login?next={quote(target, safe='/')}{suffix}", 303))

    def home(self, request: Request) -> Response:
        session_id = session_id_from(request.headers.get("cookie"))
        session = self.store.get_session(session_id) if session_id else None
        user = self.store.get_user(session.user) if session else None
        if user is None or user.disabled:
            return self.front.finish(RedirectResponse("/login", 303))
        mine = {ws: sorted(roles) for ws, roles in user.roles.items() if roles and ws in self.upstreams}
        return self._html(workspaces_page(user.name, mine))

    async def login(self, request: Request) -> Response:
        ip = self.front.ip_of(request)
        body = (await request.body())[:8192].decode("utf-8", "replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        username, password = form.get("username", "").strip(), form.get("password", "")
        next_url = safe_next(form.get("next"))
        user_key = "user:" + username.lower()[:200]
        # Both lockouts are checked before any password is hashed: a locked address costs no argon2.
        locked_ip, locked_user = self.guard.check(ip), self.user_guard.check(user_key)
        if locked_ip > 0 or locked_user > 0:
            locked = max(locked_ip, locked_user)
            whom = "your address" if locked_ip > 0 else "this user name"
            self.front.record(request, "", username, "ratelimited", 429,
                           {"reason": "login lockout (" + ("address" if locked_ip > 0 else "user") + ")"})
            response = self._login_page(next_url, error=(
                f"Too many failed logins from {whom}. Try again in {math.ceil(locked)} s, "
                "or ask an owner to reset your password."), status=429)
            response.headers["retry-after"] = str(math.ceil(locked))
            return response
        user, reason, identity = await self._check_password(username, password, request)
        if user is None:
            lockout = self.guard.failure(ip)
            user_lockout = self.user_guard.failure(user_key) if username else 0.0
            self.front.record(request, "", username, "login.failed", 401,
                           {"reason": reason, "locked_for": math.ceil(lockout),
                            "user_locked_for": math.ceil(user_lockout)})
            shown = "Local logins are turned off: use single sign-on." if reason.startswith("local logins") else \
                "The directory is not answering: try again shortly." if reason.startswith("the directory could") \
                else "Wrong user name or password."
            return self._login_page(next_url, error=shown, status=401)
        # No reset on success: the address's and the user name's failures only age out of their window,
        # so logging into one's own account between guesses (or a colleague behind the same NAT
        # logging in) never buys another round of guesses.
        session_id = self.store.create_session(user.name, idle=self.idle, absolute=self.absolute)
        if identity is not None and self.sso is not None:
            self.sso.remember(session_id, identity)
        self.front.record(request, "", user.name, "login.ok", 303, {"via": identity.source} if identity else {})
        response = RedirectResponse(self._landing(user, next_url), 303)
        self._set_session(response, session_id)
        response.headers["cache-control"] = "no-store"
        return self.front.finish(response)

    async def _check_password(self, username: str, password: str,
                              request: Request) -> tuple[User | None, str, Identity | None]:
        """(user or None, the reason to audit, the directory's identity for a directory login)."""
        if not username or not password:
            return None, "wrong user name or password", None
        if self.sso is not None:
            outcome = await self.sso.password_login(username, password, request)
            return outcome.user, outcome.reason, outcome.identity
        user = self.store.authenticate(username, password)
        return user, "" if user else "wrong user name or password", None

    async def logout(self, request: Request) -> Response:
        session_id = session_id_from(request.headers.get("cookie"))
        session = self.store.get_session(session_id) if session_id else None
        # A single-sign-on session goes on to the provider's end-session page (its own login ends too).
        provider = await self.sso.logout_target(session_id) if self.sso is not None and session is not None \
            else None
        if session_id:
            self.store.delete_session(session_id)
        if session is not None:
            self.front.record(request, "", session.user, "logout", 303, {"provider": True} if provider else {})
        response = RedirectResponse(provider or "/login?bye=1", 303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=self.front.tls)
        response.headers["clear-site-data"] = '"cache", "storage"'
        return self.front.finish(response)
