"""Team mode from a terminal: ``nornflow serve``, ``users``, ``token`` and ``audit`` (its work in
:mod:`nornflow.gateway.audit.commands`).

The commands work on the gateway's data directory (users, tokens, audit log) on the machine
the gateway runs on; a running gateway sees their effect at once (revocation included).
Whoever can run them there administers every workspace; each record names that operator
(the OS account, or with ``--as NAME`` a gateway owner who proves it with their password
and may then act only in the workspaces they own) as ``user`` and what was acted on in
``detail.target_user``.

Scripts and CI have no terminal to be asked a password on: ``users add|passwd --password-stdin``
reads it from stdin's first line (``NORNFLOW_NEW_PASSWORD`` also works), and ``--as`` takes
``NORNFLOW_AS_PASSWORD``; without a terminal a prompt is refused with a message that says so. What
``token create`` prints for scripts is :data:`TOKEN_CREATE_OUTPUT` (also in ``nornflow token --help``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from nornflow.exceptions import NornFlowError

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
AS_PASSWORD_ENV = "NORNFLOW_AS_PASSWORD"  # noqa: S105 - the variable's name, not a password
TOKEN_ID_VAR = "NORNFLOW_TOKEN_ID"  # noqa: S105 - the variable's name, not a token
TOKEN_CREATE_OUTPUT = f"""\
`token create` writes the human notice to stderr and, for scripts, two KEY=value lines
to stdout, which a shell can eval and a .env or systemd EnvironmentFile holds as they are:

  {TOKEN_ID_VAR}=<token id>
  PREFECT_API_AUTH_STRING="<user>:<secret>"

the id (for `nornflow token revoke ID` and the audit log) and the client's credential (the
secret is shown this once; only its digest is kept). With --json, stdout is one JSON object
instead: id, user, workspace, roles, expires_at (ISO 8601 or null), kid, token (the secret)
and auth_string ("<user>:<secret>"). For example:

  eval "$(nornflow token create --user svc --workspace core --role worker)"
  nornflow token create --user svc --workspace core --role worker --json | jq -r .auth_string
"""


def parse_duration(text: str, option: str = "--ttl") -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` -> timedelta; a clear error otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise NornFlowError(f"{option} {text!r}: write a number and a unit, e.g. 90d, 12h, 30m or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: a duration back from now (``1h``, ``7d``) or an ISO date/time (naive = UTC)."""
    if _DURATION.match(text.strip().lower()):
        return (now or datetime.now(UTC)) - parse_duration(text, "--since")
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise NornFlowError(f"--since {text!r}: give a duration (1h, 7d) or an ISO date/time "
                            "(2026-11-26, 2026-11-26T08:00, 2026-11-26T08:00+01:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _settings(args: argparse.Namespace) -> Any:
    from nornflow.gateway.settings import load_settings

    return load_settings(args.config, env=getattr(args, "env", None))


def _store(args: argparse.Namespace) -> Any:
    from nornflow.gateway.serve import open_state

    return open_state(_settings(args))


def has_terminal() -> bool:
    """Whether a password prompt can reach a person: getpass asks on the controlling terminal
    (``/dev/tty``), whatever stdin is, and without one falls back to reading stdin with echo on."""
    if os.name == "nt":
        return sys.stdin.isatty()
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _ask(prompt: str, no_terminal: str) -> str:
    """A hidden prompt on the terminal; a clear error (``no_terminal``) where there is none."""
    if not has_terminal():
        raise NornFlowError(no_terminal)
    try:
        return getpass.getpass(prompt)
    except EOFError:
        raise NornFlowError("no password was typed (end of input); nothing was changed") from None


def _password(args: argparse.Namespace, prompt: str) -> str:
    """The new password: ``--password-stdin`` (its first line), NORNFLOW_NEW_PASSWORD, or asked twice."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise NornFlowError("--password-stdin: stdin held no password (give it as the first line, e.g. "
                                "printf '%s\\n' \"$PASSWORD\" | nornflow users ... --password-stdin); "
                                "nothing was changed")
        return password
    env = os.environ.get("NORNFLOW_NEW_PASSWORD")
    if env:
        return env
    no_terminal = (f"no terminal to ask for the password of {args.name}: pipe it in and add --password-stdin, "
                   f"e.g. printf '%s\\n' \"$PASSWORD\" | nornflow users {args.action} {args.name} ... "
                   "--password-stdin (or set NORNFLOW_NEW_PASSWORD); nothing was changed")
    first = _ask(prompt, no_terminal)
    if _ask("again: ", no_terminal) != first:
        raise NornFlowError("the two passwords differ; nothing was changed")
    return first


class Operator:
    """Who runs a command: the OS account (every workspace), or ``--as`` an owner (their workspaces only)."""

    def __init__(self, args: argparse.Namespace, store: Any) -> None:
        self.os_user = getpass.getuser()
        self.name = self.os_user
        self.owns: frozenset[str] | None = None  # None: the host's administrator, no limit
        if getattr(args, "as_user", None):
            password = os.environ.get(AS_PASSWORD_ENV) or _ask(
                f"password of {args.as_user}: ",
                f"--as {args.as_user}: no terminal to ask for {args.as_user}'s password: set {AS_PASSWORD_ENV} "
                "(stdin is left for --password-stdin); nothing was done")
            user = store.authenticate(args.as_user, password)
            if user is None:
                raise NornFlowError(f"--as {args.as_user}: wrong password, unknown or disabled user; nothing was done")
            self.name = user.name
            self.owns = frozenset(ws for ws, roles in user.roles.items() if "owner" in roles)
            if not self.owns:
                raise NornFlowError(f"--as {user.name}: holds the owner role in no workspace, so may not manage "
                                    "users or tokens")

    def may(self, workspace: str) -> bool:
        return self.owns is None or workspace in self.owns

    def require(self, workspaces: Iterable[str], what: str) -> None:
        missing = sorted(ws for ws in set(workspaces) if not self.may(ws))
        if missing:
            raise NornFlowError(f"--as {self.name}: {what} needs the owner role in {', '.join(missing)}, "
                                f"which {self.name} does not hold (owner in {', '.join(sorted(self.owns or ()))})")

    def require_host(self, what: str) -> None:
        if self.owns is not None:
            raise NornFlowError(f"{what} concerns every workspace: run it without --as, as the gateway host's "
                                "administrator")

    def record(self, audit: Any, action: str, workspace: str = "", **detail: Any) -> None:
        extra = {"via": "cli", **({"os_user": self.os_user} if self.owns is not None else {})}
        audit.append(workspace=workspace, user=self.name, action=action, outcome="ok", ip="cli", method="CLI",
                     path="", status=0, detail={**detail, **extra})


def _serve(args: argparse.Namespace) -> int:
    from nornflow.gateway.serve import serve

    serve(_settings(args))
    return 0


def _users(args: argparse.Namespace) -> int:
    store, audit = _store(args)
    operator = Operator(args, store)
    if args.action == "list":
        for user in store.list_users():
            shown = {ws: r for ws, r in user.roles.items() if r and operator.may(ws)}
            if operator.owns is not None and not shown:
                continue  # a user of workspaces this owner does not own
            roles = "; ".join(f"{ws}: {','.join(sorted(r))}" for ws, r in sorted(shown.items()))
            print(f"{user.name:<20} {'DISABLED' if user.disabled else 'active':<9} {roles or '(no roles)'}")
        return 0
    if not args.name:
        raise NornFlowError(f"`nornflow users {args.action}` needs a user name")
    detail: dict[str, Any] = {}
    if args.action in ("add", "grant"):
        if not args.workspace or not args.role:
            raise NornFlowError(f"`nornflow users {args.action} NAME --workspace WS --role ROLE [--role ROLE]` "
                                "needs both")
        operator.require([args.workspace], f"users {args.action}")
        detail = {"roles": sorted(args.role)}
    else:
        target = store.get_user(args.name)
        held = [ws for ws, roles in (target.roles.items() if target else []) if roles]
        operator.require(held, f"users {args.action} {args.name} (holds roles there)")
    if args.action == "add":
        store.add_user(args.name, _password(args, f"password for {args.name}: "), {args.workspace: args.role})
    elif args.action == "grant":
        store.grant(args.name, args.workspace, args.role)
    elif args.action == "disable":
        store.disable(args.name)
        store.delete_user_sessions(args.name)
    elif args.action == "enable":
        store.enable(args.name)
    elif args.action == "passwd":
        store.set_password(args.name, _password(args, f"new password for {args.name}: "))
        store.delete_user_sessions(args.name)
    operator.record(audit, f"user.{args.action}", args.workspace or "", target_user=args.name, **detail)
    print(f"user {args.name}: {args.action} done")
    return 0


def _token(args: argparse.Namespace) -> int:
    store, audit = _store(args)
    operator = Operator(args, store)
    if args.action == "create":
        if not (args.user and args.workspace and args.role):
            raise NornFlowError("`nornflow token create --user U --workspace WS --role ROLE [--ttl 90d]` "
                                "needs all three")
        operator.require([args.workspace], "token create")
        ttl = parse_duration(args.ttl) if args.ttl else timedelta(days=_settings(args).token_default_ttl_days)
        info, secret = store.create_token(args.user, args.workspace, args.role, ttl, description=args.description)
        operator.record(audit, "token.create", args.workspace, target_user=info.user, token_id=info.id,
                        roles=sorted(info.roles), expires_at=str(info.expires_at), kid=info.kid)
        print(f"token {info.id} for {info.user} in {info.workspace} ({', '.join(sorted(info.roles))}), "
              f"expires {info.expires_at}", file=sys.stderr)
        if args.json:
            print(json.dumps({"id": info.id, "user": info.user, "workspace": info.workspace,
                              "roles": sorted(info.roles), "expires_at": info.expires_at.isoformat()
                              if info.expires_at else None, "kid": info.kid, "token": secret,
                              "auth_string": f"{info.user}:{secret}"}))
        else:
            print("the secret is shown once (stdout): give the client PREFECT_API_AUTH_STRING; revoke with "
                  "`nornflow token revoke ID`", file=sys.stderr)
            # User names, token ids and secrets hold no character a shell or a .env reader treats specially.
            print(f"{TOKEN_ID_VAR}={info.id}")
            print(f'PREFECT_API_AUTH_STRING="{info.user}:{secret}"')
        return 0
    if args.action == "list":
        for info in store.list_tokens(user=args.user, workspace=args.workspace):
            if not operator.may(info.workspace):
                continue
            state = "revoked" if info.revoked_at else ("expired" if info.expires_at and
                                                       info.expires_at < datetime.now(UTC) else "active")
            print(f"{info.id}  {info.user:<16} {info.workspace:<12} {','.join(sorted(info.roles)):<22} {state:<8} "
                  f"expires {info.expires_at}  last used {info.last_used_at or 'never'}  key {info.kid}  "
                  f"{info.description}")
        return 0
    if args.action == "revoke":
        if not args.id:
            raise NornFlowError("`nornflow token revoke ID` needs the token id (see `nornflow token list`)")
        found = [t for t in store.list_tokens() if t.id == args.id]
        if found:
            operator.require([found[0].workspace], "token revoke")
        store.revoke_token(args.id)
        operator.record(audit, "token.revoke", found[0].workspace if found else "", token_id=args.id,
                        target_user=found[0].user if found else None)
        print(f"token {args.id} revoked")
        return 0
    return _signing_keys(args, store, audit, operator)


def _signing_keys(args: argparse.Namespace, store: Any, audit: Any, operator: Operator) -> int:
    """rotate-key, keys, retire-key: the token-signing keys are gateway-wide, so --as is refused."""
    operator.require_host(f"`nornflow token {args.action}`")
    if args.action == "keys":
        signing, live = store.signing_kid(), store.live_tokens_by_key()
        print(f"{'kid':<9} {'created':<26} {'state':<8} live tokens")
        for key in store.signing_keys():
            state = "retired" if key.retired_at else ("signing" if key.kid == signing else "active")
            print(f"{key.kid:<9} {key.created_at.isoformat(timespec='seconds'):<26} {state:<8} {live.get(key.kid, 0)}")
        operator.record(audit, "token.keys")
        return 0
    if args.action == "rotate-key":
        kid = store.rotate_signing_key()
        operator.record(audit, "token.rotate_key", kid=kid)
        print(f"new signing key {kid}: new tokens use it; tokens signed before stay valid until their key is "
              "retired (`nornflow token keys`, then `nornflow token retire-key KID`)")
        return 0
    if not args.id:
        raise NornFlowError("`nornflow token retire-key KID` needs the key id (see `nornflow token keys`)")
    known = {key.kid: key for key in store.signing_keys()}
    if args.id not in known:
        raise NornFlowError(f"no signing key {args.id!r}: see `nornflow token keys`")
    if args.id == store.signing_kid():
        raise NornFlowError(f"key {args.id} signs new tokens: run `nornflow token rotate-key` first, re-issue the "
                            "tokens it signed, then retire it")
    ended = store.live_tokens_by_key().get(args.id, 0)
    store.retire_signing_key(args.id)
    operator.record(audit, "token.retire_key", kid=args.id, tokens_ended=ended)
    print(f"signing key {args.id} retired: {ended} token(s) signed with it no longer work")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from nornflow.gateway.audit.commands import audit_command
    from nornflow.gateway.serve import open_state

    settings = _settings(args)
    _, audit = open_state(settings)
    since = parse_since(args.since) if args.action != "verify" and args.since else None
    return audit_command(args, settings, audit, since)


def register(sub: Any) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--config", help="gateway settings YAML (default: NORNFLOW_CONFIG, or gateway.yaml "
                                             "in NORNFLOW_CONFIG_DIR / deployments if present)")
        parser.add_argument("--env", help="environment whose gateway.<env>.yaml is layered over gateway.yaml "
                                          "(default: NORNFLOW_ENV)")

    def acting(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--as", dest="as_user", metavar="USER",
                            help=f"act as this gateway user (password from {AS_PASSWORD_ENV} or a prompt); only "
                                 "in workspaces where USER holds owner, and recorded as USER")

    serve = sub.add_parser("serve", help="team mode: the gateway in front of one Prefect server per workspace")
    common(serve)
    serve.set_defaults(func=_serve)

    users = sub.add_parser("users", help="team mode: people and their roles per workspace")
    users.add_argument("action", choices=["add", "list", "grant", "disable", "enable", "passwd"])
    users.add_argument("name", nargs="?")
    users.add_argument("--workspace")
    users.add_argument("--role", action="append",
                       help="viewer, runner, approver, developer, worker, owner, metrics (repeat)")
    users.add_argument("--password-stdin", action="store_true",
                       help="add, passwd: read the password from stdin's first line (for scripts and CI, where "
                            "there is no terminal to ask on): printf '%%s\\n' \"$PW\" | nornflow users add ... "
                            "--password-stdin")
    common(users)
    acting(users)
    users.set_defaults(func=_users)

    token = sub.add_parser("token", help="team mode: tokens for workers, CI, prefect deploy and scripts",
                           epilog=TOKEN_CREATE_OUTPUT,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    token.add_argument("action", choices=["create", "list", "revoke", "rotate-key", "keys", "retire-key"])
    token.add_argument("id", nargs="?", help="token id (revoke) or key id (retire-key)")
    token.add_argument("--user")
    token.add_argument("--workspace")
    token.add_argument("--role", action="append")
    token.add_argument("--ttl", help="lifetime, e.g. 90d, 12h (default: token_default_ttl_days)")
    token.add_argument("--description", default="")
    token.add_argument("--json", action="store_true", help="create: print the token as one JSON object on stdout")
    common(token)
    acting(token)
    token.set_defaults(func=_token)

    audit = sub.add_parser("audit", help="team mode: who did what (tail), and whether the log is intact (verify)")
    audit.add_argument("action", choices=["tail", "verify"])
    audit.add_argument("--user", help="records of what this user (or OS account) did")
    audit.add_argument("--target", help="records of what was done to this user")
    audit.add_argument("--workspace")
    audit.add_argument("--since", help="a duration back (1h, 7d) or an ISO date/time (2026-11-26T08:00, UTC if "
                                       "no offset)")
    audit.add_argument("--action", dest="action_filter", help="only this audit action, e.g. approval, denied")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--against-events", action="store_true",
                       help="verify: also compare with the newest nornflow.audit.* event of each workspace")
    audit.add_argument("--events-auth", action="append", metavar="WS=USER:TOKEN",
                       help="verify --against-events: a token that reads WS's events (default PREFECT_API_AUTH_STRING)")
    common(audit)
    audit.set_defaults(func=_audit)
