"""``nornflow``: the lab, the flows and the plans from a terminal.

An expected error (any NornFlowError) prints one line, ``nornflow: <message>``, and exits 2;
anything else prints one line naming the exception and exits 1. ``--debug`` (before or after the
command) adds the traceback. Ctrl-C prints ``nornflow: interrupted`` and exits 130.

A command that runs a flow first checks what needs no server (:mod:`nornflow.cli.preflight`), then
finds its Prefect server (:mod:`nornflow.cli.localserver`: ``PREFECT_API_URL``, else one local server
shared by every command), and only then imports Prefect.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nornflow.cli.console import (
    FailureLines,
    console_without_tracebacks,
    plain_help,
)
from nornflow.settings import apply_prefect_defaults

DEBUG_HELP = "print the traceback of an error (and keep it in Prefect's console logs); accepted anywhere"

DESCRIPTION = """\
Run NornFlow's flows, plans and simulated lab from a terminal.

Commands that run a flow (backup, show, demo, plan run, doctor, replay, resume) use
the Prefect server that PREFECT_API_URL names; without one, the first such command
starts a local server in the background (http://127.0.0.1:4200 when that port is
free, with the Prefect UI) and later commands reuse it. "nornflow server status"
says where it is; "nornflow server stop" stops it.

Errors: an expected one prints one line, "nornflow: <message>", and exits 2; any
other prints one line naming the exception and exits 1. --debug, before or after
the command, adds the traceback. Ctrl-C prints "nornflow: interrupted", exit 130.
"""


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


def _check_run(args: argparse.Namespace) -> None:
    """Inventory, host filter and secret references, checked before any server is touched."""
    from nornflow.cli.preflight import check_run

    check_run(args.inventory, _filter(args))


def _backup(args: argparse.Namespace) -> int:
    from nornflow.engine.run import result_of
    from nornflow.flows.backup_configs import backup_configs

    with FailureLines() as shown:
        state = backup_configs(inventory=args.inventory, backup_dir=args.dir, hosts=_filter(args),
                               retries=args.retries, return_state=True)
    result = result_of(state)  # raises what the flow raised, if it raised
    for record in result.records:
        if record.failed and (record.host, record.error) not in shown.lines:
            print(f"[{record.host}] FAILED: {record.error or 'no reason given'}", file=sys.stderr)
    print(state.message)
    return 0 if state.is_completed() else 1


def _show(args: argparse.Namespace) -> int:
    from nornflow.flows.show_commands import show_commands

    state = show_commands(inventory=args.inventory, commands=args.commands, hosts=_filter(args),
                          parse=args.parse, return_state=True)
    from nornflow.engine.run import result_of

    result = result_of(state)
    for record in result.records:
        print(f"--- {record.host}: {record.status} {record.error or ''}")
        for command, entry in (record.data or {}).items():
            print(f"$ {command}")
            print(json.dumps(entry["parsed"], indent=2) if args.parse and entry.get("parsed")
                  else entry["output"])
    print(state.message)
    return 0 if state.is_completed() else 1


def _mark_lab(mark: bool) -> int:
    """Say on the server the commands use whether its devices are a lab (deploy_config's auto_approve)."""
    server = _use_server()
    from prefect.variables import Variable

    from nornflow.settings import LAB_VARIABLE

    where = server.api_url if server is not None else "the Prefect server"
    if mark:
        Variable.set(LAB_VARIABLE, True, overwrite=True)
        print(f"{where}: marked as a lab's server ({LAB_VARIABLE}=true): deploy_config's auto_approve works "
              "here. Mark only a server whose devices are a lab; nornflow server unmark-lab undoes it")
    else:
        Variable.unset(LAB_VARIABLE)
        print(f"{where}: not a lab's server: deploy_config waits for an approver (auto_approve is refused)")
    return 0


def _server(args: argparse.Namespace) -> int:
    from nornflow.cli import localserver

    if args.action in ("mark-lab", "unmark-lab"):
        return _mark_lab(args.action == "mark-lab")
    if args.action == "stop":
        stopped = localserver.stop()
        if stopped is None:
            print(f"no local Prefect server is running (state: {localserver.state_dir()})")
        else:
            print(f"stopped the local Prefect server at {stopped.ui_url} (pid {stopped.pid})")
        return 0
    server = _use_server() if args.action == "start" else localserver.status()
    if server is None:
        print(f"no local Prefect server is running (state: {localserver.state_dir()}); "
              "the next command that runs a flow starts one, or: nornflow server start")
        return 1
    if not server.managed:
        print(f"Prefect API: {server.api_url} (PREFECT_API_URL is set: nornflow starts no server of its own)")
        return 0
    answering = localserver.healthy(server)
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(server.started_at or 0))
    print(f"local Prefect server: {'running' if answering else 'starting (not answering yet)'}, "
          f"pid {server.pid}, since {since}")
    print(f"  UI:  {server.ui_url}")
    print(f"  API: {server.api_url}   (export PREFECT_API_URL={server.api_url} to use it from scripts)")
    print(f"  log: {server.log}")
    print("  stop it with: nornflow server stop")
    return 0 if answering else 1


def _use_server() -> Any:
    """Point this process at the Prefect server it should use, starting the local one if need be."""
    from nornflow.cli import localserver

    def announce(server: localserver.Server) -> None:
        print(f"Starting a local Prefect server at {server.ui_url} for this and later commands "
              f"(log: {server.log}; nornflow server stop stops it)...", file=sys.stderr, flush=True)

    return localserver.ensure(on_start=announce)


def _demo(args: argparse.Namespace) -> int:
    from nornflow.lab.demo import run_demo

    server = getattr(args, "server", None)
    return run_demo(size=args.size, directory=args.dir, ui_url=server.ui_url if server else None,
                    local_server=bool(server and server.managed))


def _add_filters(parser: argparse.ArgumentParser) -> None:
    for name in ("names", "groups", "sites", "roles", "platforms"):
        parser.add_argument(f"--{name}", help=f"comma-separated {name} to select (default: all hosts)")


#: Commands defined in this module: parsing one of them needs none of the other modules' parsers.
CORE_COMMANDS = frozenset({"lab", "backup", "show", "demo", "server"})


def _command_of(argv: list[str] | None) -> str | None:
    """The command word of ``argv`` (options before it take no value), None when there is none."""
    return next((a for a in (argv or []) if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``nornflow`` parser; commands that run flows or talk to Prefect set ``uses_prefect``.

    With ``argv`` naming one of :data:`CORE_COMMANDS`, the other commands' modules (plans,
    change windows, doctor, gateway: a quarter of a second of imports) are not loaded.
    """
    parser = argparse.ArgumentParser(prog="nornflow", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

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
    backup.set_defaults(func=_backup, uses_prefect=True, preflight=_check_run)

    show = sub.add_parser("show", help="run the show_commands flow")
    show.add_argument("inventory")
    show.add_argument("commands", nargs="+")
    show.add_argument("--parse", action="store_true", help="parse with ntc-templates")
    _add_filters(show)
    show.set_defaults(func=_show, uses_prefect=True, preflight=_check_run)

    demo = sub.add_parser("demo", help="lab + backup + show, with a summary")
    demo.add_argument("--size", type=int, default=10)
    demo.add_argument("--dir", default=".nornflow/demo")
    demo.set_defaults(func=_demo, uses_prefect=True)

    server = sub.add_parser(
        "server", help="the local Prefect server the commands share: status, start, stop",
        description="Without PREFECT_API_URL, the first command that runs a flow starts a local Prefect server "
                    "(API and UI on 127.0.0.1, port 4200 when free) and later commands reuse it. Its files are "
                    "in $PREFECT_HOME/nornflow-server (NORNFLOW_SERVER_DIR overrides); its database is "
                    "Prefect's default, $PREFECT_HOME/prefect.db. NORNFLOW_LOCAL_SERVER=off gives every command "
                    "Prefect's own temporary server instead (slow: 5-15 s per command); a command a pytest test "
                    "runs gets that too, unless NORNFLOW_LOCAL_SERVER=on.",
    )
    server.add_argument("action", choices=["status", "start", "stop", "mark-lab", "unmark-lab"],
                        help="status: where it is (exit 1 when none runs); start: start it now; stop: stop it; "
                             "mark-lab / unmark-lab: say whether its devices are a lab, where deploy_config's "
                             "auto_approve works (the server's nornflow_lab variable; a team gateway sets it "
                             "from its workspace settings instead)")
    server.set_defaults(func=_server)

    if _command_of(argv) not in CORE_COMMANDS:
        _register_others(sub)
    _accept_debug_everywhere(parser)
    for each in _all_parsers(parser):
        plain_help(each)
    return parser


def _register_others(sub: Any) -> None:
    from nornflow.change import cli as change_cli
    from nornflow.deploy import doctor
    from nornflow.gateway import cli as gateway_cli
    from nornflow.plan import cli as plan_cli
    from nornflow.secrets import local_cli
    from nornflow.ssh import cli as ssh_cli
    from nornflow.triggers import watch

    plan_parser = plan_cli.register(sub)
    _subcommand(plan_parser, "run").set_defaults(preflight=_check_plan)
    local_cli.register(sub)
    ssh_cli.register(sub)
    change_cli.register(sub)
    change_cli.register_resume(sub)
    doctor.register(sub)
    gateway_cli.register(sub)
    watch.register(sub)


def _check_plan(args: argparse.Namespace) -> None:
    from nornflow.cli.preflight import check_plan

    check_plan(args.file, args.inventory, selections=not args.rerun)


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            chosen: argparse.ArgumentParser = action.choices[name]
            return chosen
    raise KeyError(f"{parser.prog} has no subcommand {name!r}")


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in {id(p): p for p in action.choices.values()}.values():
                yield from _all_parsers(child)


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


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors become one line on stderr (2 expected, 1 unexpected), ``--debug`` adds the traceback.

    Ctrl-C prints ``nornflow: interrupted`` and exits 130 (128 + SIGINT, what shells report).
    Run as the ``nornflow`` command (``argv`` None), a command that imported Prefect ends the
    process itself once the exit hooks have run (:func:`_exit_now`).
    """
    try:
        code = _run(argv)
    except KeyboardInterrupt:
        print("nornflow: interrupted", file=sys.stderr)
        code = 130
    if argv is None and "prefect" in sys.modules:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """Exit as the interpreter would, minus its teardown of every module (up to a second with Prefect's).

    The same steps in the same order: the threading exit hooks (Prefect's log and event workers
    drain there, and NornFlow's last progress and device events before them), non-daemon
    threads joined, the ``atexit`` functions (``logging.shutdown``, weakref finalizers), the
    standard streams flushed. What is left, freeing each module's objects, the OS does faster.
    """
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None:  # not CPython's threading: let the interpreter exit normally
        return
    shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _run(argv: list[str] | None) -> int:
    apply_prefect_defaults()
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    from nornflow.exceptions import NornFlowError

    quiet = getattr(args, "uses_prefect", False) and not args.debug
    try:
        # What needs no server is checked first: a typo is one line, in a fraction of a second.
        preflight = getattr(args, "preflight", None)
        if preflight is not None:
            preflight(args)
        if _needs_server(args):
            args.server = _use_server()  # before Prefect is imported: it reads PREFECT_API_URL once
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


def _needs_server(args: argparse.Namespace) -> bool:
    """Whether this command should find (or start) the local server before it runs.

    Commands that run flows or read the API do; ``doctor --offline`` does not. Neither does a
    call from a process that has imported Prefect already (its settings are fixed, whatever this
    would choose), nor, unless ``NORNFLOW_LOCAL_SERVER=on``, a command a pytest test runs: a
    background server would outlive the test. ``NORNFLOW_LOCAL_SERVER=off`` never starts one.
    Without it, Prefect starts its own temporary server, as it did before the local one.
    """
    if not getattr(args, "uses_prefect", False) or getattr(args, "offline", False):
        return False
    mode = os.environ.get("NORNFLOW_LOCAL_SERVER", "auto").lower()
    if mode in ("off", "0", "false", "no") or "prefect.context" in sys.modules:
        return False
    return mode in ("on", "1", "true", "yes") or "PYTEST_CURRENT_TEST" not in os.environ


if __name__ == "__main__":
    sys.exit(main())
