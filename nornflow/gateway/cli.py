"""Team mode from a terminal: ``nornflow serve``, ``users``, ``token`` and ``audit``.

The commands work on the gateway's data directory (users, tokens, audit log) on the machine
the gateway runs on; a running gateway sees their effect at once (revocation included).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from nornflow.exceptions import NornFlowError

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` -> timedelta; a clear error otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise NornFlowError(f"--ttl {text!r}: write a number and a unit, e.g. 90d, 12h, 30m or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _settings(args: argparse.Namespace) -> Any:
    from nornflow.gateway.settings import load_settings

    return load_settings(args.config)


def _store(args: argparse.Namespace) -> Any:
    from nornflow.gateway.serve import open_state

    return open_state(_settings(args))


def _password(args: argparse.Namespace, prompt: str) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    env = os.environ.get("NORNFLOW_NEW_PASSWORD")
    if env:
        return env
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise NornFlowError("the two passwords differ; nothing was changed")
    return first


def _serve(args: argparse.Namespace) -> int:
    from nornflow.gateway.serve import serve

    serve(_settings(args))
    return 0


def _users(args: argparse.Namespace) -> int:
    store, audit = _store(args)
    if args.action == "list":
        for user in store.list_users():
            roles = "; ".join(f"{ws}: {','.join(sorted(r))}" for ws, r in sorted(user.roles.items()) if r)
            print(f"{user.name:<20} {'DISABLED' if user.disabled else 'active':<9} {roles or '(no roles)'}")
        return 0
    if not args.name:
        raise NornFlowError(f"`nornflow users {args.action}` needs a user name")
    detail: dict[str, Any] = {}
    if args.action == "add":
        if not args.workspace or not args.role:
            raise NornFlowError("`nornflow users add NAME --workspace WS --role ROLE [--role ROLE]` needs both")
        store.add_user(args.name, _password(args, f"password for {args.name}: "), {args.workspace: args.role})
        detail = {"workspace": args.workspace, "roles": sorted(args.role)}
    elif args.action == "grant":
        if not args.workspace or not args.role:
            raise NornFlowError("`nornflow users grant NAME --workspace WS --role ROLE` needs both")
        store.grant(args.name, args.workspace, args.role)
        detail = {"workspace": args.workspace, "roles": sorted(args.role)}
    elif args.action == "disable":
        store.disable(args.name)
        store.delete_user_sessions(args.name)
    elif args.action == "enable":
        store.enable(args.name)
    elif args.action == "passwd":
        store.set_password(args.name, _password(args, f"new password for {args.name}: "))
        store.delete_user_sessions(args.name)
    audit.append(workspace=args.workspace or "", user=getpass.getuser(), action=f"user.{args.action}",
                 outcome="ok", ip="cli", method="CLI", path="", status=0, detail={"target": args.name, **detail})
    print(f"user {args.name}: {args.action} done")
    return 0


def _token(args: argparse.Namespace) -> int:
    store, audit = _store(args)
    if args.action == "create":
        if not (args.user and args.workspace and args.role):
            raise NornFlowError("`nornflow token create --user U --workspace WS --role ROLE [--ttl 90d]` "
                                "needs all three")
        ttl = parse_duration(args.ttl) if args.ttl else timedelta(days=_settings(args).token_default_ttl_days)
        info, secret = store.create_token(args.user, args.workspace, args.role, ttl, description=args.description)
        audit.append(workspace=args.workspace, user=args.user, action="token.create", outcome="ok", ip="cli",
                     method="CLI", path="", status=0,
                     detail={"token_id": info.id, "roles": sorted(info.roles), "expires_at": str(info.expires_at)})
        print(f"token {info.id} for {info.user} in {info.workspace} ({', '.join(sorted(info.roles))}), "
              f"expires {info.expires_at}", file=sys.stderr)
        print("shown once; give it to the client as:", file=sys.stderr)
        print(f'PREFECT_API_AUTH_STRING="{info.user}:{secret}"')
        return 0
    if args.action == "list":
        for info in store.list_tokens(user=args.user, workspace=args.workspace):
            state = "revoked" if info.revoked_at else ("expired" if info.expires_at and
                                                       info.expires_at < datetime.now(UTC) else "active")
            print(f"{info.id}  {info.user:<16} {info.workspace:<12} {','.join(sorted(info.roles)):<22} {state:<8} "
                  f"expires {info.expires_at}  last used {info.last_used_at or 'never'}  {info.description}")
        return 0
    if args.action == "revoke":
        if not args.id:
            raise NornFlowError("`nornflow token revoke ID` needs the token id (see `nornflow token list`)")
        store.revoke_token(args.id)
        audit.append(workspace="", user=getpass.getuser(), action="token.revoke", outcome="ok", ip="cli",
                     method="CLI", path="", status=0, detail={"token_id": args.id})
        print(f"token {args.id} revoked")
        return 0
    kid = store.rotate_signing_key()
    audit.append(workspace="", user=getpass.getuser(), action="token.rotate_key", outcome="ok", ip="cli",
                 method="CLI", path="", status=0, detail={"kid": kid})
    print(f"new signing key {kid}: new tokens use it; tokens signed before stay valid until their key is retired")
    return 0


def _audit(args: argparse.Namespace) -> int:
    _, audit = _store(args)
    if args.action == "verify":
        result = audit.verify()
        if result.ok:
            print(f"audit log intact: {result.records} records, hash chain verified")
            return 0
        print(f"audit log TAMPERED: {result.problem}", file=sys.stderr)
        return 1
    since = datetime.now(UTC) - parse_duration(args.since) if args.since else None
    for record in audit.tail(user=args.user, since=since, workspace=args.workspace, action=args.action_filter,
                             limit=args.limit):
        where = record.get("workspace") or "-"
        print(f"{record['ts']}  #{record['seq']:<6} {record.get('user') or '-':<14} {where:<12} "
              f"{record['action']:<16} {record.get('status', '')!s:<4} {record.get('method', '')} "
              f"{record.get('path', '')}  {record.get('detail') or ''}")
    return 0


def register(sub: Any) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--config", help="gateway settings YAML (default: NORNFLOW_CONFIG or environment)")

    serve = sub.add_parser("serve", help="team mode: the gateway in front of one Prefect server per workspace")
    common(serve)
    serve.set_defaults(func=_serve)

    users = sub.add_parser("users", help="team mode: people and their roles per workspace")
    users.add_argument("action", choices=["add", "list", "grant", "disable", "enable", "passwd"])
    users.add_argument("name", nargs="?")
    users.add_argument("--workspace")
    users.add_argument("--role", action="append", help="viewer, runner, approver, developer, worker, owner (repeat)")
    users.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    common(users)
    users.set_defaults(func=_users)

    token = sub.add_parser("token", help="team mode: tokens for workers, CI, prefect deploy and scripts")
    token.add_argument("action", choices=["create", "list", "revoke", "rotate-key"])
    token.add_argument("id", nargs="?", help="token id (revoke)")
    token.add_argument("--user")
    token.add_argument("--workspace")
    token.add_argument("--role", action="append")
    token.add_argument("--ttl", help="lifetime, e.g. 90d, 12h (default: token_default_ttl_days)")
    token.add_argument("--description", default="")
    common(token)
    token.set_defaults(func=_token)

    audit = sub.add_parser("audit", help="team mode: who did what (tail), and whether the log is intact (verify)")
    audit.add_argument("action", choices=["tail", "verify"])
    audit.add_argument("--user")
    audit.add_argument("--workspace")
    audit.add_argument("--since", help="e.g. 1h, 7d")
    audit.add_argument("--action", dest="action_filter", help="only this audit action, e.g. approval, denied")
    audit.add_argument("--limit", type=int, default=50)
    common(audit)
    audit.set_defaults(func=_audit)
