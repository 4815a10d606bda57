"""``nornflow hostkeys scan INVENTORY``: the host keys devices present, as known_hosts lines to review."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``hostkeys`` and its commands to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "hostkeys", help="device host keys: scan them for review (known_hosts kept with the inventory)",
        description="Sessions verify each device's host key against known_hosts beside the inventory "
                    "(ssh.known_hosts names another file). `scan` asks every selected device for its key, "
                    "through its jump host, without logging in, and prints known_hosts lines to review.",
    )
    commands = parser.add_subparsers(dest="hostkeys_command", required=True, metavar="{scan}")
    cmd = commands.add_parser("scan", help="print the keys the devices present, marked new / same / CHANGED")
    cmd.add_argument("inventory", help="inventory directory (or hosts file)")
    cmd.add_argument("--hosts", default="", help="comma-separated host names (default: every host)")
    cmd.add_argument("--output", type=Path, help="write the lines to this file instead of printing them "
                                                "(review it, then append what you trust to known_hosts)")
    cmd.add_argument("--timeout", type=float, default=10.0, help="seconds per device (default 10)")
    cmd.set_defaults(func=cmd_scan)
    return parser


def cmd_scan(args: argparse.Namespace) -> int:
    from nornflow.inventory.load import HostFilter, load_nornir
    from nornflow.secrets import Resolver, resolve_inventory
    from nornflow.ssh.scan import report, scan
    from nornflow.ssh.settings import ssh_settings

    nr = load_nornir(args.inventory)
    names = HostFilter.coerce({"names": args.hosts} if args.hosts else None).select(nr)
    unresolved = resolve_inventory(nr.inventory, Resolver())  # jump host credentials may be references
    hosts = [nr.inventory.hosts[n] for n in names if n not in unresolved]
    results = scan(hosts, timeout=args.timeout)
    first = nr.inventory.hosts[names[0]]
    known = str(ssh_settings(first).known_hosts)
    text = report(results, known)
    text += "".join(f"# FAILED {n}: {reason}\n" for n, reason in unresolved.items() if n in names)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {len(results)} host(s) to {args.output}; review it, then add what you trust to {known}")
    else:
        sys.stdout.write(text)
    attention = any(r.status in ("failed", "changed") for r in results) or bool(unresolved)
    return 1 if attention else 0
