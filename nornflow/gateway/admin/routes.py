"""``/admin``: the owner's page, its forms, and the checks every request to it passes.

Who: a logged-in browser session (a token is refused: the page is for people, the CLI for scripts)
of a user holding ``owner`` in at least one configured workspace; everyone else gets the gateway's
refusal page (403), audited as ``denied``. Every POST must carry the session's CSRF token in the
``csrf`` field (compared in constant time) and come from the gateway's own origin (``Origin``, or
``Referer`` when a browser sends no Origin; neither is refused), on top of the SameSite=Strict cookie.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from nornflow.exceptions import NornFlowError
from nornflow.gateway.admin.actions import Admin, AdminRefused, Owner, group_mappings, owner_of, sign_on
from nornflow.gateway.admin.pages import admin_page, token_created_page
from nornflow.gateway.auth.caller import session_id_from
from nornflow.gateway.auth.pages import refusal_page
from nornflow.gateway.errors import GatewayError
from nornflow.gateway.policy.pages import own_route
from nornflow.gateway.proxy.front import Front
from nornflow.gateway.proxy.http import origin_of

MAX_FORM = 16 * 1024
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
_FILTERS = ("user", "target", "workspace", "action", "since")


def is_admin_path(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


class AdminRoutes:
    """The admin page, handed the gateway's front (audit, headers, addresses), settings, store and audit log."""

    def __init__(self, front: Front, settings: Any, store: Any, audit: Any, workspaces: Iterable[str],
                 roles: Sequence[str]) -> None:
        self.front, self.settings, self.store = front, settings, store
        self.workspaces = tuple(workspaces)
        self.roles = tuple(roles)
        self.admin = Admin(store, audit, self.workspaces, settings.token_default_ttl_days)

    # -- answers ------------------------------------------------------------------------------------
    def _html(self, text: str, status: int = 200) -> Response:
        response = HTMLResponse(text, status)
        response.headers["cache-control"] = "no-store"
        return self.front.finish(response, html=True)

    def _refuse(self, request: Request, user: str, status: int, title: str, reason: str,
                workspace: str = "") -> Response:
        self.front.record(request, workspace, user, "denied", status, {"reason": reason})
        return self._html(refusal_page(title, reason, user), status)

    # -- the way in ---------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        path = request.url.path.rstrip("/") or "/"
        route = own_route(path)
        if route is None or route.credential != "session":
            return self._html(refusal_page("Not found", f"There is no admin page at {path}."), 404)
        method = route.method
        if request.headers.get("authorization"):
            return self._refuse(request, "", 403, "Not for tokens",
                                "The admin page is for a logged-in owner; scripts manage users and tokens with "
                                "the nornflow CLI on the gateway host.")
        session_id = session_id_from(request.headers.get("cookie"))
        session = self.store.get_session(session_id) if session_id else None
        if session is None:
            if request.method == "GET":
                return self.front.finish(RedirectResponse("/login?next=/admin", 303))
            return self._refuse(request, "", 401, "Log in first", "Log in as an owner to use the admin page.")
        user = self.store.get_user(session.user)
        owner = owner_of(user, self.workspaces) if user is not None else None
        if owner is None:
            return self._refuse(request, session.user, 403, "Owners only",
                                "The admin page is for owners: you hold the owner role in no workspace. "
                                "Ask one of your workspace's owners.")
        if request.method != method:
            return self._refuse(request, owner.name, 405, "Not allowed", f"{path} takes {method} only.")
        if method == "GET":
            return self._overview(request, owner, session.csrf_token)
        problem = self._origin_problem(request)
        if problem:
            return self._refuse(request, owner.name, 403, "Refused", problem)
        body = await request.body()
        if len(body) > MAX_FORM:
            return self._refuse(request, owner.name, 413, "Too large", f"A form is at most {MAX_FORM} bytes.")
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        fields = {k: v for k, v in form if k != "role"}
        roles = [v for k, v in form if k == "role"]
        sent = fields.get("csrf", "")
        if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            return self._refuse(request, owner.name, 403, "Refused",
                                "The form's CSRF token is missing or wrong: reload the admin page and try again.")
        return self._act(request, owner, session.csrf_token, path, fields, roles)

    def _origin_problem(self, request: Request) -> str | None:
        own = {self.front.public_origin, origin_of(str(request.base_url))}
        origin = origin_of(request.headers.get("origin", ""))
        seen = origin or origin_of(request.headers.get("referer", ""))
        if not seen:
            return "A form sent without Origin or Referer is refused (cross-site request protection)."
        if seen not in own:
            return f"A form from {seen} is refused: the admin page takes forms from its own origin only."
        return None

    # -- the page -----------------------------------------------------------------------------------
    def _overview(self, request: Request, owner: Owner, csrf: str, *, notice: str = "", error: str = "",
                  status: int = 200) -> Response:
        params = request.query_params if request.method == "GET" else {}
        wanted = {k: str(params.get(k, "")).strip() for k in _FILTERS}
        done, target = str(params.get("done", "")), str(params.get("who", ""))
        if done and re.fullmatch(r"(user|token)\.[a-z]+", done):
            notice = notice or f"Done: {done}" + (f" ({target})" if _NAME.fullmatch(target) else "") + "."
        try:
            from nornflow.gateway.cli import parse_since

            since = parse_since(wanted["since"]) if wanted["since"] else None
            records = self.admin.audit_records(owner, user=wanted["user"], target=wanted["target"],
                                               workspace=wanted["workspace"], action=wanted["action"], since=since)
        except (NornFlowError, ValueError) as exc:
            records, error, status = [], error or str(exc), 400
        page = admin_page(owner=owner.name, owns=owner.owns, csrf=csrf, users=self.admin.users(owner),
                          tokens=self.admin.tokens(owner), roles=self.roles,
                          groups=group_mappings(self.settings, owner.owns), sign_on=sign_on(self.settings),
                          audit=records, audit_filter=wanted, notice=notice, error=error)
        return self._html(page, status)

    def _act(self, request: Request, owner: Owner, csrf: str, path: str, fields: dict[str, str],
             roles: list[str]) -> Response:
        ip = self.front.ip_of(request)
        try:
            if path == "/admin/tokens/create":
                from nornflow.gateway.cli import parse_duration

                ttl = parse_duration(fields["ttl"], "lifetime") if fields.get("ttl", "").strip() else None
                info, secret, detail = self.admin.create_token(owner, fields.get("user", "").strip(),
                                                               fields.get("workspace", ""), roles, ttl,
                                                               fields.get("description", ""))
                self.admin.record(owner, "token.create", info.workspace, detail, ip=ip, path=path)
                return self._html(token_created_page(owner=owner.name, owns=owner.owns, info=info, secret=secret))
            if path == "/admin/tokens/revoke":
                workspace, detail = self.admin.revoke_token(owner, fields.get("id", "").strip())
                self.admin.record(owner, "token.revoke", workspace, detail, ip=ip, path=path)
                return self._done("token.revoke", str(detail.get("target_user") or ""), "tokens")
            action = path.rsplit("/", 1)[1]
            name = fields.get("name", "").strip()
            audit_action, workspace, detail = self.admin.user_action(
                owner, action, name, workspace=fields.get("workspace", ""), roles=roles,
                password=fields.get("password", ""))
            self.admin.record(owner, audit_action, workspace, detail, ip=ip, path=path)
            return self._done(audit_action, name, "users")
        except AdminRefused as exc:
            return self._refuse(request, owner.name, 403, "Not in your workspaces", str(exc),
                                workspace=fields.get("workspace", "") if fields.get("workspace") in self.workspaces
                                else "")
        except (GatewayError, NornFlowError, ValueError, KeyError) as exc:
            # The store's own refusals (weak password, unknown user, a token beyond its user's roles...).
            message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            return self._overview(request, owner, csrf, error=f"Nothing was changed: {message}", status=400)

    def _done(self, action: str, target: str, section: str) -> Response:
        query = urlencode({"done": action, **({"who": target} if target else {})})
        return self.front.finish(RedirectResponse(f"/admin?{query}#{section}", 303))
