"""``nornflow audit tail`` and ``nornflow audit verify`` (registered with the other team-mode commands in
:mod:`nornflow.gateway.cli`): print the records, or check the chain, the anchor and, with
``--against-events``, the newest record shipped to each workspace."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from datetime import datetime
from pathlib import Path

import httpx

from nornflow.exceptions import NornFlowError
from nornflow.gateway.audit.log import AuditLog
from nornflow.gateway.audit.verify import check_against_event
from nornflow.gateway.settings import GatewaySettings


def audit_command(args: argparse.Namespace, settings: GatewaySettings, audit: AuditLog,
                  since: datetime | None) -> int:
    """``nornflow audit tail|verify``: ``args`` as parsed, ``since`` the parsed ``--since`` (tail)."""
    if args.action == "verify":
        return _verify(args, settings, audit)
    for record in audit.tail(user=args.user, since=since, workspace=args.workspace, action=args.action_filter,
                             limit=args.limit, target=args.target):
        where = record.get("workspace") or "-"
        print(f"{record['ts']}  #{record['seq']:<6} {record.get('user') or '-':<14} {where:<12} "
              f"{record['action']:<16} {record.get('status', '')!s:<4} {record.get('method', '')} "
              f"{record.get('path', '')}  {record.get('detail') or ''}")
    return 0


def _verify(args: argparse.Namespace, settings: GatewaySettings, audit: AuditLog) -> int:
    result = audit.verify()
    if not result.ok:
        print(f"audit log TAMPERED: {result.problem}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"audit log intact: {result.records} records, keyed hash chain verified, ends at seq {result.head[0]} "
          f"as the anchor says")
    if not args.against_events:
        return 0
    hashes = _hashes(audit.path)
    checked, problems = 0, []
    for workspace, found in _newest_events(args, settings).items():
        if isinstance(found, str):
            print(f"workspace {workspace}: not checked ({found})", file=sys.stderr)
            continue
        checked += 1
        if found is None:
            print(f"workspace {workspace}: no audit events yet")
            continue
        problem = check_against_event(result, hashes, found[0], found[1], workspace)
        if problem:
            problems.append(problem)
        else:
            print(f"workspace {workspace}: newest audit event seq {found[0]} matches the log")
    for problem in problems:
        print(f"audit log TAMPERED: {problem}", file=sys.stderr)
    if problems:
        return 1
    if not checked:
        raise NornFlowError("--against-events: no workspace's events could be read; give a token per workspace "
                            "with --events-auth WS=USER:TOKEN (viewer is enough) or PREFECT_API_AUTH_STRING")
    return 0


def _hashes(path: Path) -> dict[int, str]:
    hashes: dict[int, str] = {}
    with path.open("rb") as lines:
        for raw in lines:
            try:
                record = json.loads(raw)
                hashes[int(record["seq"])] = str(record["hash"])
            except (ValueError, KeyError, TypeError):
                continue
    return hashes


def _newest_events(args: argparse.Namespace, settings: GatewaySettings) -> dict[str, tuple[int, str] | str | None]:
    """Per workspace: the newest ``nornflow.audit.*`` event's (seq, hash), None when there is none,
    or why it could not be read. Started servers are read through the gateway with a token; fronted
    ones directly with their auth_string."""
    given = dict(item.split("=", 1) for item in args.events_auth or [] if "=" in item)
    fallback = os.environ.get("PREFECT_API_AUTH_STRING")
    body = {"filter": {"event": {"prefix": ["nornflow.audit."]}, "order": "DESC"}, "limit": 1}
    found: dict[str, tuple[int, str] | str | None] = {}
    for ws in settings.workspaces:
        if args.workspace and ws.name != args.workspace:
            continue
        if ws.url and ws.auth_string and ws.name not in given:
            url, auth = ws.url.rstrip("/"), ws.auth_string.get_secret_value()
        else:
            url, auth = f"{settings.public_base_url}/w/{ws.name}/api", given.get(ws.name) or fallback or ""
        if not auth:
            found[ws.name] = "no credential: --events-auth WS=USER:TOKEN"
            continue
        headers = {"authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
        try:
            reply = httpx.post(f"{url}/events/filter", json=body, headers=headers, timeout=30,
                               verify=str(settings.tls_cert) if settings.tls_cert else True)
        except httpx.HTTPError as exc:
            found[ws.name] = f"{url} unreachable: {type(exc).__name__}"
            continue
        if reply.status_code != 200:
            found[ws.name] = f"{url}/events/filter answered {reply.status_code}"
            continue
        events = reply.json().get("events") or []
        payload = events[0].get("payload") or {} if events else {}
        found[ws.name] = (int(payload["seq"]), str(payload["hash"])) if events else None
    return found
