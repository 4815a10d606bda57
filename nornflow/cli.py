"""``nornflow``: the lab, the flows and the plans from a terminal.

An expected error (any NornFlowError) prints one line, ``nornflow: <message>``, and exits 2;
anything else prints one line naming the exception and exits 1. ``--debug`` (before or after the
command) adds the traceback. Ctrl-C prints ``nornflow: interrupted`` and exits 130.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nornflow.settings import apply_prefect_defaults

DEBUG_HELP = "print the traceback of an error (and keep it in Prefect's console logs); accepted anywhere"


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
    from nornflow.engine import result_of
    from nornflow.flows import backup_configs

    state = backup_configs(inventory=args.inventory, backup_dir=args.dir, hosts=_filter(args),
                           retries=args.retries, return_state=True)
    result_of(state)  # raises what the flow raised, if it raised
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
    """The ``nornflow`` parser; commands that run flows or talk to Prefect set ``uses_prefect``."""
    parser = argparse.ArgumentParser(prog="nornflow", description=__doc__)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="simulated device lab (asyncssh; IOS, EOS, Junos, NX-OS)")
    lab.add_argument("action", choices=["up", "down", "status"])
    lab.add_argument("--dir", default=".nornflow/lab", help="lab state and inventory directory")
    lab.add_argument("--size", type=int, default=10, help="number of devices (up)")
    lab.add_argument("--platforms", default="cisco_ios,arista_eos",
                     help="comma-separated: cisco_ios, arista_eos, juniper_junos, cisco_nxos")
    lab.add_argument("-v", "--verbose", action="store_true")
    lab.set_defaults(func=_lab)

    backup = sub.add_parser("backup", help="run the backup_configs flow")
    backup.add_argument("inventory")
    backup.add_argument("--dir", default="backups", help="backup git repository")
    backup.add_argument("--retries", type=int, default=1)
    _add_filters(backup)
    backup.set_defaults(func=_backup, uses_prefect=True)

    show = sub.add_parser("show", help="run the show_commands flow")
    show.add_argument("inventory")
    show.add_argument("commands", nargs="+")
    show.add_argument("--parse", action="store_true", help="parse with ntc-templates")
    _add_filters(show)
    show.set_defaults(func=_show, uses_prefect=True)

    demo = sub.add_parser("demo", help="lab + backup + show, with a summary")
    demo.add_argument("--size", type=int, default=10)
    demo.add_argument("--dir", default=".nornflow/demo")
    demo.set_defaults(func=_demo, uses_prefect=True)

    from nornflow.change import cli as change_cli
    from nornflow.deploy import doctor
    from nornflow.gateway import cli as gateway_cli
    from nornflow.plan import cli as plan_cli
    from nornflow.secrets import local_cli

    plan_cli.register(sub)
    local_cli.register(sub)
    change_cli.register(sub)
    change_cli.register_resume(sub)
    doctor.register(sub)
    gateway_cli.register(sub)
    _accept_debug_everywhere(parser)
    return parser


def _accept_debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand (at any depth) ``--debug`` too, so it works after the command as well as before.

    ``default=SUPPRESS``: a subcommand that was not given ``--debug`` sets nothing, so it does not
    overwrite a ``--debug`` given before it.
    """
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for child in {id(p): p for p in action.choices.values()}.values():  # aliases share one parser
            if "--debug" not in child._option_string_actions:
                child.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
            _accept_debug_everywhere(child)


class _WithoutTraceback(logging.Formatter):
    """Formats a record with the wrapped formatter, minus its traceback.

    The record itself keeps the traceback, so the handlers that send logs to the Prefect
    API (they format their own copy) still have it.
    """

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


@contextlib.contextmanager
def console_without_tracebacks() -> Iterator[None]:
    """Prefect's console log lines without tracebacks while the block runs (the API logs keep them).

    Prefect's flow engine logs a flow's exception with its traceback ("Encountered exception
    during execution"); at a terminal that buries the one-line error :func:`main` prints.
    """
    from prefect.logging.configuration import PROCESS_LOGGING_CONFIG, setup_logging
    from prefect.logging.handlers import PrefectConsoleHandler

    if not PROCESS_LOGGING_CONFIG:  # what importing prefect's flow API would do next anyway
        setup_logging()
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    formatters = [h.formatter for h in handlers]
    for handler, formatter in zip(handlers, formatters, strict=True):
        handler.setFormatter(_WithoutTraceback(formatter))
    try:
        yield
    finally:
        for handler, formatter in zip(handlers, formatters, strict=True):
            handler.setFormatter(formatter)


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors become one line on stderr (2 expected, 1 unexpected), ``--debug`` adds the traceback.

    Ctrl-C prints ``nornflow: interrupted`` and exits 130 (128 + SIGINT, what shells report).
    """
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("nornflow: interrupted", file=sys.stderr)
        return 130


def _run(argv: list[str] | None) -> int:
    apply_prefect_defaults()
    args = build_parser().parse_args(argv)
    from nornflow.exceptions import NornFlowError

    quiet = getattr(args, "uses_prefect", False) and not args.debug
    try:
        with console_without_tracebacks() if quiet else contextlib.nullcontext():
            return int(args.func(args) or 0)
    except NornFlowError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"nornflow: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
            print(f"nornflow: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            print(f"nornflow: unexpected error: {type(exc).__name__}: {exc} "
                  "(run again with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
