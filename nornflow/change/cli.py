"""``nornflow windows show --site fra`` and ``nornflow replay RUN_ID``: add both with ``register(subparsers)``.

``windows show`` never imports Prefect; it prints whether the site (group, host) is inside
a window now and its next windows, in the window's time zone and in UTC. It reads the
calendar the flows read (:func:`~nornflow.change.calendar.calendar_path`: ``--calendar``,
else ``$NORNFLOW_CHANGE_CALENDAR``, else none), from any directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nornflow.change.calendar import ENV_CALENDAR, Target, calendar_path, load_calendar
from nornflow.change.exceptions import CalendarError

#: The calendar a checkout of this repository carries (an example, never applied unless named).
REPO_CALENDAR = Path("deployments") / "change-calendar.yaml"
NO_CALENDAR = (f"no change calendar configured: every change is allowed; set {ENV_CALENDAR} or pass --calendar")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``windows show`` to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "windows", help="change windows and freezes: where and when devices may change",
        description="Change windows: the calendar's decision now and the next windows of a site, group or host.",
    )
    commands = parser.add_subparsers(dest="windows_command", metavar="{show}", required=True)
    show = commands.add_parser("show", help="print the next change windows of a site, group or host")
    show.add_argument("--calendar", "-c",
                      help=f"calendar YAML (default: ${ENV_CALENDAR}; none: every change is allowed)")
    show.add_argument("--env", help="environment overlay (change-calendar.<env>.yaml); default $NORNFLOW_ENV")
    show.add_argument("--site", help="a site (data.site)")
    show.add_argument("--group", help="a Nornir group")
    show.add_argument("--role", help="a role (data.role)")
    show.add_argument("--host", help="a host name")
    show.add_argument("--count", "-n", type=int, default=5, help="how many windows to print (default 5)")
    show.set_defaults(func=cmd_show)
    replay = subparsers.add_parser(
        "replay", help="does the current checkout still match a run's reproducibility record?",
        description="Compare a run's record (inventory, templates, versions) with what is here now.")
    replay.add_argument("run", help="flow run id (or a nornflow-run-<id>.json record file)")
    replay.add_argument("--inventory", "-i", help="inventory to compare (default: the recorded path)")
    replay.add_argument("--templates", "-t", help="templates to compare (default: the recorded path)")
    replay.set_defaults(func=cmd_replay, uses_prefect=True)
    return parser


def cmd_replay(args: argparse.Namespace) -> int:
    """0 when everything matches, 1 when something differs (each difference on its own line)."""
    from nornflow.change.replay import compare, load_record

    record = load_record(args.run)
    print(f"run {record.flow_run_name or ''} ({record.flow_run_id}) of {record.flow}, recorded "
          f"{record.recorded_at:%Y-%m-%d %H:%M} UTC, plan {record.plan_hash or '-'}")
    differences = compare(record, args.inventory, args.templates)
    if not differences:
        print("matches: inventory, templates and versions are as they were")
        return 0
    print(f"differs ({len(differences)}):")
    for line in differences:
        print(f"  {line}")
    return 1


def cmd_show(args: argparse.Namespace) -> int:
    from nornflow.change.windows import check_targets, upcoming

    calendar = load_calendar(calendar_path(args.calendar), env=args.env)
    if calendar is None:
        print(NO_CALENDAR)
        if REPO_CALENDAR.is_file():  # a checkout of this repository: name its calendar (still not applied)
            print(f"this directory has {REPO_CALENDAR}, which applies only when named: "
                  f"nornflow windows show --calendar {REPO_CALENDAR} {_who(args)}".rstrip())
        return 0
    if not any((args.site, args.group, args.role, args.host)):
        raise CalendarError("say whose windows to show: --site, --group, --role or --host (e.g. --site fra)")
    target = Target(name=args.host or f"(any host of {args.site or args.group or args.role})", site=args.site,
                    role=args.role, groups=(args.group,) if args.group else ())
    verdict = check_targets([target], calendar)
    decision = verdict[target.name]
    who = " ".join(f"{k} {v}" for k, v in (("site", args.site), ("group", args.group), ("role", args.role),
                                             ("host", args.host)) if v)
    print(f"calendar {calendar.source}")
    state = "OPEN" if decision.allowed else "CLOSED"
    print(f"{who}: {state} now ({decision.note or decision.rule})")
    for start, end, rule in upcoming(calendar, target, count=args.count, now=verdict.at):
        print(f"  {decision.local(start)}  to  {decision.local(end)}  {rule}")
    return 0


def _who(args: argparse.Namespace) -> str:
    return " ".join(f"--{k} {v}" for k, v in (("site", args.site), ("group", args.group), ("role", args.role),
                                              ("host", args.host)) if v)


def register_resume(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``resume RUN_ID``: finish a deploy_config run whose process died, from its ledger."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "resume", help="resume a deploy_config run whose process died mid-push, from its ledger",
        description="Skip the devices the run verified, re-read the one caught mid-push (verify or roll back), "
                    "push the rest under the run's approval. The run is marked Crashed if it still shows Running.")
    parser.add_argument("run", help="the crashed flow run's id")
    parser.add_argument("--backup-dir", help="the run's backup repository (default: its backup_dir parameter)")
    parser.add_argument("--force", action="store_true",
                        help="resume although the run shows Running on another machine (its worker is gone)")
    parser.add_argument("--override-reason",
                        help="emergency override of the change windows for the devices still to push (a ticket "
                             "or why); the crashed run's own override is not reused")
    parser.add_argument("--override-by", help="who gives the override (recorded with it)")
    parser.set_defaults(func=cmd_resume, uses_prefect=True)
    return parser


def cmd_resume(args: argparse.Namespace) -> int:
    """0 when the resumed run completed, 1 otherwise (its message says what happened per device)."""
    from nornflow.change.resume import prepare
    from nornflow.flows import deploy_config

    params = prepare(args.run, backup_dir=args.backup_dir, force=args.force)
    if args.override_reason is not None:
        params.update(override_reason=args.override_reason, override_by=args.override_by)
    state = deploy_config(**params, return_state=True)
    print(f"{state.name}: {state.message or ''}")
    return 0 if state.is_completed() else 1
