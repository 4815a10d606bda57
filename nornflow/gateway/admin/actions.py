"""What an owner may do on the admin page: the CLI's ``users``, ``token`` and ``audit tail``, action for action.

The rules are the CLI's ``--as OWNER`` rules (:class:`nornflow.gateway.cli.Operator`), since the page is an
owner acting in the workspaces they own: ``users add|grant`` and ``token create`` only in an owned
workspace; ``users disable|enable|passwd`` only for a user whose roles all lie in owned workspaces;
``token list|revoke`` only for tokens of owned workspaces; ``users list`` only the roles held there. The
signing keys concern every workspace, so they stay with the gateway host's administrator (as ``--as``
is refused there). Every action is audited with the CLI's action name and detail (``target_user``,
``roles``, ``token_id``...), ``via: "admin"`` instead of ``"cli"``, and the request's address and path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nornflow.gateway.errors import GatewayError
from nornflow.gateway.policy.roles import Perm, perms_for

#: Actions on this page, as the CLI names them (``nornflow users ACTION`` / ``nornflow token ACTION``).
USER_ACTIONS = ("add", "grant", "disable", "enable", "passwd")
TOKEN_ACTIONS = ("create", "revoke")


class AdminRefused(GatewayError, PermissionError):
    """An owner asked for something outside the workspaces they own; the message says what and where."""


@dataclass(frozen=True)
class Owner:
    """The person on the page and the workspaces they own (never empty: others never reach the page)."""

    name: str
    owns: frozenset[str]

    def may(self, workspace: str) -> bool:
        return workspace in self.owns

    def require(self, workspaces: Iterable[str], what: str) -> None:
        missing = sorted(ws for ws in set(workspaces) if not self.may(ws))
        if missing:
            raise AdminRefused(f"{what} needs the owner role in {', '.join(missing)}, which {self.name} does not "
                               f"hold (owner in {', '.join(sorted(self.owns))})")


def owner_of(user: Any, workspaces: Iterable[str]) -> Owner | None:
    """The :class:`Owner` for a store user, or None when they own none of the configured workspaces."""
    known = set(workspaces)
    owns = frozenset(ws for ws, roles in user.roles.items() if ws in known and Perm.ADMIN in perms_for(roles))
    return Owner(user.name, owns) if owns and not user.disabled else None


def token_state(info: Any, now: datetime | None = None) -> str:
    """revoked, expired or active: the word ``nornflow token list`` prints."""
    if info.revoked_at:
        return "revoked"
    if info.expires_at and info.expires_at < (now or datetime.now(UTC)):
        return "expired"
    return "active"


class Admin:
    """The page's operations over the gateway's store and audit log, for one :class:`Owner` at a time.

    ``record(owner, action, workspace, detail)`` writes the audit record (the routes add the request's
    address and path); the store's own errors (a weak password, an unknown user, a token beyond its
    user's roles) pass through with their messages.
    """

    def __init__(self, store: Any, audit: Any, workspaces: Iterable[str], token_ttl_days: int) -> None:
        self.store, self.audit = store, audit
        self.workspaces = tuple(workspaces)
        self.token_ttl = timedelta(days=token_ttl_days)

    # -- reading ----------------------------------------------------------------------------------
    def users(self, owner: Owner) -> list[tuple[Any, dict[str, list[str]]]]:
        """``users list``: each user with a role in an owned workspace, and those roles only."""
        shown = []
        for user in self.store.list_users():
            roles = {ws: sorted(r) for ws, r in user.roles.items() if r and owner.may(ws)}
            if roles:
                shown.append((user, dict(sorted(roles.items()))))
        return shown

    def tokens(self, owner: Owner, user: str | None = None) -> list[Any]:
        """``token list``: the tokens of owned workspaces, newest first."""
        found = [t for t in self.store.list_tokens(user=user or None) if owner.may(t.workspace)]
        return sorted(found, key=lambda t: t.created_at, reverse=True)

    def audit_records(self, owner: Owner, *, user: str | None = None, target: str | None = None,
                      workspace: str | None = None, action: str | None = None, since: datetime | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
        """``audit tail``, newest first, limited to what concerns the owner: records of owned workspaces,
        and gateway-wide ones (logins, logouts, the CLI's) by or about a user the owner manages."""
        if workspace and not owner.may(workspace):
            raise AdminRefused(f"the audit of workspace {workspace} needs the owner role there "
                               f"(owner in {', '.join(sorted(owner.owns))})")
        managed = {u.name for u, _ in self.users(owner)} | {owner.name}
        kept: list[dict[str, Any]] = []
        # Read more than shown: records of other workspaces are skipped here, not in AuditLog.tail.
        for record in reversed(self.audit.tail(user=user or None, target=target or None, workspace=workspace or None,
                                               action=action or None, since=since, limit=limit * 20)):
            where = record.get("workspace") or ""
            detail = record.get("detail") if isinstance(record.get("detail"), dict) else {}
            if where and not owner.may(where):
                continue
            if not where and record.get("user") not in managed and detail.get("target_user") not in managed:
                continue
            kept.append(record)
            if len(kept) >= limit:
                break
        return kept

    # -- acting -----------------------------------------------------------------------------------
    def user_action(self, owner: Owner, action: str, name: str, *, workspace: str = "",
                    roles: Iterable[str] = (), password: str = "") -> tuple[str, str, dict[str, Any]]:
        """``nornflow users ACTION NAME``: (audit action, workspace, detail) of what was done."""
        if action not in USER_ACTIONS:
            raise AdminRefused(f"unknown user action {action!r}: one of {', '.join(USER_ACTIONS)}")
        if not name:
            raise AdminRefused(f"users {action} needs a user name")
        detail: dict[str, Any] = {}
        roles = sorted(set(roles))
        if action in ("add", "grant"):
            if not workspace or not roles:
                raise AdminRefused(f"users {action} needs a workspace and at least one role")
            owner.require([workspace], f"users {action}")
            detail = {"roles": roles}
        else:
            target = self.store.get_user(name)
            held = [ws for ws, r in (target.roles.items() if target else []) if r]
            owner.require(held, f"users {action} {name} (holds roles there)")
        if action == "add":
            self.store.add_user(name, password, {workspace: roles})
        elif action == "grant":
            self.store.grant(name, workspace, roles)
        elif action == "disable":
            self.store.disable(name)
            self.store.delete_user_sessions(name)
        elif action == "enable":
            self.store.enable(name)
        elif action == "passwd":
            self.store.set_password(name, password)
            self.store.delete_user_sessions(name)
        return f"user.{action}", workspace, {"target_user": name, **detail}

    def create_token(self, owner: Owner, user: str, workspace: str, roles: Iterable[str], ttl: timedelta | None,
                     description: str = "") -> tuple[Any, str, dict[str, Any]]:
        """``nornflow token create``: (info, the secret shown once, audit detail)."""
        if not (user and workspace and roles):
            raise AdminRefused("token create needs a user, a workspace and at least one role")
        owner.require([workspace], "token create")
        info, secret = self.store.create_token(user, workspace, sorted(set(roles)), ttl or self.token_ttl,
                                               description=description)
        detail = {"target_user": info.user, "token_id": info.id, "roles": sorted(info.roles),
                  "expires_at": str(info.expires_at), "kid": info.kid}
        return info, secret, detail

    def revoke_token(self, owner: Owner, token_id: str) -> tuple[str, dict[str, Any]]:
        """``nornflow token revoke ID``: (workspace, audit detail)."""
        if not token_id:
            raise AdminRefused("token revoke needs the token id")
        found = [t for t in self.store.list_tokens() if t.id == token_id]
        if found:
            owner.require([found[0].workspace], "token revoke")
        self.store.revoke_token(token_id)  # UnknownTokenError for an id nobody has
        return found[0].workspace if found else "", {"token_id": token_id,
                                                     "target_user": found[0].user if found else None}

    def record(self, owner: Owner, action: str, workspace: str, detail: Mapping[str, Any], *, ip: str,
               path: str) -> None:
        self.audit.append(workspace=workspace, user=owner.name, action=action, outcome="ok", ip=ip, method="POST",
                          path=path, status=200, detail={**detail, "via": "admin"})


def sign_on(settings: Any) -> list[str]:
    """How people log in, in words: the providers configured and whether local passwords work."""
    sso = getattr(settings, "sso", None)
    if sso is None:
        return ["local users (passwords)"]
    found = []
    if getattr(sso, "oidc", None) is not None:
        found.append(f"OpenID Connect: {sso.oidc.issuer}")
    if getattr(sso, "ldap", None) is not None:
        found.append(f"LDAP: {sso.ldap.url}")
    found.append("local users (passwords)" if sso.local_login else "local passwords turned off")
    return found


def group_mappings(settings: Any, owns: Iterable[str] | None = None) -> list[tuple[str, str, str]]:
    """The group-to-role mapping in effect: (setting, group, what it grants) rows, read from the settings.

    Single sign-on (``sso.group_roles``: group -> workspace -> roles) when the settings have it, limited to
    the workspaces in ``owns`` when given; otherwise any setting holding such a mapping (a key naming
    ``group``, at any depth). Empty when none is configured.
    """
    sso = getattr(settings, "sso", None)
    if sso is not None and hasattr(sso, "group_roles"):
        wanted = None if owns is None else set(owns)
        rows = []
        for group, grants in sorted(sso.group_roles.items()):
            shown = {ws: roles for ws, roles in sorted(grants.items()) if wanted is None or ws in wanted}
            if shown:
                rows.append(("sso.group_roles", group,
                             "; ".join(f"{ws}: {', '.join(sorted(roles))}" for ws, roles in shown.items())))
        return rows
    return _walk_groups(settings)


def _walk_groups(settings: Any) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []

    def grants(value: Any) -> str:
        if isinstance(value, Mapping):
            return "; ".join(f"{k}: {grants(v)}" for k, v in value.items())
        if isinstance(value, list | tuple | set | frozenset):
            return ", ".join(grants(v) for v in value)
        return str(value)

    def walk(value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                path = f"{where}.{key}" if where else str(key)
                if "group" in str(key).lower() and isinstance(inner, Mapping):
                    rows.extend((path, str(group), grants(grant)) for group, grant in inner.items())
                elif "group" in str(key).lower() and isinstance(inner, list) and inner \
                        and all(isinstance(i, Mapping) for i in inner):
                    for item in inner:
                        group = next((str(item[k]) for k in ("group", "name", "dn") if k in item), "?")
                        rest = {k: v for k, v in item.items() if k not in ("group", "name", "dn")}
                        rows.append((path, group, grants(rest)))
                else:
                    walk(inner, path)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{where}[{index}]")

    dump = settings.model_dump(mode="json") if hasattr(settings, "model_dump") else dict(settings)
    walk({k: v for k, v in dump.items() if k != "workspaces"}, "")
    return rows
