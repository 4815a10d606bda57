"""``nornflow plan validate|show|run FILE``: register with ``register(subparsers)``.

Validate and show never import Prefect (they stay fast); run does. Each handler
returns the process exit code: 0 ok, 1 the plan ran and something failed; an invalid
plan or input raises a NornFlowError, which :func:`nornflow.cli.commands` prints as one
line and turns into exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nornflow.exceptions import NornFlowError
from nornflow.plan.model import Plan
from nornflow.plan.planner import PlannedPlan, check_selections, validate


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``plan`` with ``validate``, ``show`` and ``run`` to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "plan", help="validate, show and run dependency-ordered plans",
        description="Plans: steps with depends_on conditions, run generation by generation as subflows.",
    )
    commands = parser.add_subparsers(dest="plan_command", metavar="{validate,show,run}", required=True)
    for name, handler, text in (
        ("validate", cmd_validate, "check steps, flows, cycles and (with an inventory) host selections"),
        ("show", cmd_show, "print the generations; --markdown prints the artifact instead"),
        ("run", cmd_run, "run the plan as a Prefect flow (rerun what failed with --rerun)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("file", type=Path, help="plan YAML file")
        sub.add_argument("--inventory", "-i", help="inventory directory (default: the plan's inventory:)")
        sub.set_defaults(func=handler, uses_prefect=name == "run")
        if name == "validate":
            sub.add_argument("--no-inventory", action="store_true", help="skip the host selection check")
        if name == "show":
            sub.add_argument("--markdown", action="store_true",
                             help="print the plan as markdown (its graph in mermaid, for GitHub/GitLab)")
        if name == "run":
            sub.add_argument("--rerun", metavar="OUTCOME",
                             help="outcome JSON file, result:KEY reference or artifact key (plan-NAME-outcome) "
                                  "of an earlier run")
            sub.add_argument("--outcome", "-o", type=Path, metavar="FILE", help="write the outcome JSON here")
    return parser


def _load(args: argparse.Namespace) -> PlannedPlan:
    plan = Plan.from_yaml(args.file)
    if args.inventory:
        plan.inventory = args.inventory
    return validate(plan)


def cmd_validate(args: argparse.Namespace) -> int:
    planned = _load(args)
    plan = planned.plan
    checked = ""
    if plan.inventory and not args.no_inventory:
        from nornflow.inventory.load import HostFilter, load_nornir

        nr = load_nornir(plan.inventory)
        hosts = check_selections(
            plan, lambda sel: HostFilter.coerce(sel.as_filter() if sel else None).select(nr),
            only=[s.name for s in plan.steps if s.hosts is not None or s.task is not None],
        )
        matched = len({h for names in hosts.values() for h in names})
        checked = f"; selections match {matched} hosts of {plan.inventory}"
    size = f"{len(planned.steps)} steps in {len(planned.generations)} generations"
    print(f"plan {plan.name}: ok, {size}{checked}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from nornflow.plan import render

    planned = _load(args)
    print(render.plan_markdown(planned, graph="mermaid") if args.markdown else render.plan_text(planned))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    validate(Plan.from_yaml(args.file))  # fail fast on a bad plan, before Prefect starts
    from nornflow.plan import render
    from nornflow.plan.flow import run_plan
    from nornflow.plan.outcome import PlanOutcome

    state = run_plan(plan_file=str(args.file), inventory=args.inventory, rerun=args.rerun, return_state=True)
    outcome = state.result(raise_on_failure=False)
    if isinstance(outcome, BaseException):
        raise outcome  # the plan raised before it had an outcome (a selection that matches nothing...)
    if not isinstance(outcome, PlanOutcome):
        raise NornFlowError(f"the plan did not run: {state.message or outcome}")

    if args.outcome:
        args.outcome.write_text(outcome.to_json(), encoding="utf-8")
    print(render.outcome_text(validate(outcome.plan, check_flows=False), outcome))
    return 0 if outcome.state == "completed" else 1

