"""Who is calling: a browser session cookie, or a token the way every Prefect client sends one.

Prefect's clients send ``PREFECT_API_AUTH_STRING`` as ``Authorization: Basic base64(<s>)`` on
HTTP and as the raw string in a websocket's first frame; ``PREFECT_API_KEY`` goes out as
``Bearer``. NornFlow tokens travel as ``PREFECT_API_AUTH_STRING="<user>:<token>"`` so every
path (worker, ``prefect deploy``, flow runs, websockets) carries them with no code change.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

from nornflow.gateway.policy.roles import Perm, perms_for
from nornflow.gateway.store import GatewayStore

SESSION_COOKIE = "nornflow_session"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller and what it may do in one workspace."""

    user: str
    kind: str  # "session" or "token"
    workspace: str
    roles: frozenset[str]
    perms: frozenset[Perm]
    token_id: str | None = None
    session_id: str | None = field(default=None, repr=False)
    csrf_token: str | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """The rate-limit key: one bucket per person or per token."""
        return f"token:{self.token_id}" if self.token_id else f"user:{self.user}"


class Unauthenticated(Exception):
    """A credential was presented and refused; ``reason`` is safe to show and to audit."""

    def __init__(self, reason: str, user: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.user = user


def session_id_from(cookie_header: str | None) -> str | None:
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # a malformed Cookie header is treated as no cookie
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else None


def split_auth_string(auth_string: str) -> tuple[str, str]:
    """``"<user>:<token>"`` -> (user, token); a bare token gives ("", token)."""
    user, sep, token = auth_string.partition(":")
    return (user, token) if sep else ("", auth_string)


def auth_string_from_header(value: str) -> str | None:
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
    if scheme.lower() == "bearer":
        return credentials.strip()
    raise Unauthenticated(f"unsupported Authorization scheme {scheme!r}: send a NornFlow token")


class Authenticator:
    """Turns a request's credentials into a :class:`Principal` for one workspace."""

    def __init__(self, store: GatewayStore) -> None:
        self.store = store

    def from_token(self, auth_string: str, workspace: str) -> Principal:
        claimed, token = split_auth_string(auth_string)
        info = self.store.verify_token(token)
        if info is None:
            raise Unauthenticated("the token is invalid, expired or revoked", claimed)
        if claimed and claimed != info.user:
            raise Unauthenticated(f"the token does not belong to user {claimed!r}", claimed)
        if info.workspace != workspace:
            raise Unauthenticated(f"the token is for workspace {info.workspace!r}, not {workspace!r}", info.user)
        roles = frozenset(info.roles)
        return Principal(info.user, "token", workspace, roles, perms_for(roles), token_id=info.id)

    def from_session(self, session_id: str, workspace: str) -> Principal | None:
        session = self.store.get_session(session_id)
        if session is None:
            return None
        user = self.store.get_user(session.user)
        if user is None or user.disabled:
            return None
        roles = frozenset(user.roles.get(workspace, frozenset()))
        return Principal(user.name, "session", workspace, roles, perms_for(roles),
                         session_id=session_id, csrf_token=session.csrf_token)

    def authenticate(self, headers: Mapping[str, str], workspace: str) -> Principal | None:
        """The principal, or None when no credential was sent; :class:`Unauthenticated` for a bad one."""
        header = headers.get("authorization")
        if header:
            auth_string = auth_string_from_header(header)
            if auth_string is not None:
                return self.from_token(auth_string, workspace)
        session_id = session_id_from(headers.get("cookie"))
        if session_id:
            principal = self.from_session(session_id, workspace)
            if principal is None:
                raise Unauthenticated("your session has ended: log in again")
            return principal
        return None
