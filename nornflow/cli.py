"""``nornflow``: the lab, the flows and the plans from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nornflow.settings import apply_prefect_defaults


def _lab(args: argparse.Namespace) -> int:
    from nornflow.lab import daemon

    directory = Path(args.dir)
    state: dict[str, Any] | None
    if args.action == "up":
        state = daemon.up(directory, size=args.size, platforms=args.platforms.split(","))
        print(f"lab up: {len(state['devices'])} devices (pid {state['pid']})")
        print(f"inventory: {state['inventory']}")
    elif args.action == "down":
        print("lab down" if daemon.down(directory) else f"no lab is running from {directory}")
    else:
        state = daemon.read_state(directory)
        if not state:
            print(f"no lab in {directory}; start one with `nornflow lab up`")
            return 1
        print(f"lab {'running' if state['running'] else 'NOT running (stale state)'} pid {state['pid']}, "
              f"{len(state['devices'])} devices, inventory {state['inventory']}")
        if args.verbose:
            print(json.dumps(state["devices"], indent=2))
        return 0 if state["running"] else 1
    return 0


def _filter(args: argparse.Namespace) -> dict[str, list[str]] | None:
    spec = {k: getattr(args, k).split(",") for k in ("names", "groups", "sites", "roles", "platforms")
            if getattr(args, k, None)}
    return spec or None


def _backup(args: argparse.Namespace) -> int:
    from nornflow.flows import backup_configs

    state = backup_configs(inventory=args.inventory, backup_dir=args.dir, hosts=_filter(args),
                           retries=args.retries, return_state=True)
    print(state.message)
    return 0 if state.is_completed() else 1


def _show(args: argparse.Namespace) -> int:
    from nornflow.flows import show_commands

    state = show_commands(inventory=args.inventory, commands=args.commands, hosts=_filter(args),
                          parse=args.parse, return_state=True)
    from nornflow.engine import result_of

    result = result_of(state)
    for record in result.records:
        print(f"--- {record.host}: {record.status} {record.error or ''}")
        for command, entry in (record.data or {}).items():
            print(f"$ {command}")
            print(json.dumps(entry["parsed"], indent=2) if args.parse and entry.get("parsed")
                  else entry["output"])
    print(state.message)
    return 0 if state.is_completed() else 1


def _demo(args: argparse.Namespace) -> int:
    from nornflow.demo import run_demo

    return run_demo(size=args.size, directory=args.dir)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    for name in ("names", "groups", "sites", "roles", "platforms"):
        parser.add_argument(f"--{name}", help=f"comma-separated {name} to select (default: all hosts)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nornflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="simulated device lab (fakenos)")
    lab.add_argument("action", choices=["up", "down", "status"])
    lab.add_argument("--dir", default=".nornflow/lab", help="lab state and inventory directory")
    lab.add_argument("--size", type=int, default=10, help="number of devices (up)")
    lab.add_argument("--platforms", default="cisco_ios,arista_eos", help="comma-separated fakenos platforms")
    lab.add_argument("-v", "--verbose", action="store_true")
    lab.set_defaults(func=_lab)

    backup = sub.add_parser("backup", help="run the backup_configs flow")
    backup.add_argument("inventory")
    backup.add_argument("--dir", default="backups", help="backup git repository")
    backup.add_argument("--retries", type=int, default=1)
    _add_filters(backup)
    backup.set_defaults(func=_backup)

    show = sub.add_parser("show", help="run the show_commands flow")
    show.add_argument("inventory")
    show.add_argument("commands", nargs="+")
    show.add_argument("--parse", action="store_true", help="parse with ntc-templates")
    _add_filters(show)
    show.set_defaults(func=_show)

    demo = sub.add_parser("demo", help="lab + backup + show, with a summary")
    demo.add_argument("--size", type=int, default=10)
    demo.add_argument("--dir", default=".nornflow/demo")
    demo.set_defaults(func=_demo)

    try:
        from nornflow.plan import cli as plan_cli
    except ImportError:
        pass
    else:
        plan_cli.register(sub)
    __import__("nornflow.doctor", fromlist=["register"]).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    apply_prefect_defaults()
    args = build_parser().parse_args(argv)
    from nornflow.exceptions import NornFlowError

    try:
        return int(args.func(args) or 0)
    except NornFlowError as exc:
        print(f"nornflow: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
