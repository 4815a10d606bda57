"""Benchmark: running a plan adds little over running its steps alone.

One lab (``nornflow.lab.daemon``, in its own process, as real devices would be), one plan
of four steps in three generations, run two ways, alternating:

* **direct**: one Prefect flow that calls the same flows as subflows and ``run_task`` for
  the task step, in the same order, the second generation in two threads, the leaf waves
  one after another, each stopping on failure the way the plan would;
* **plan**: the ``run-plan`` flow with the same plan (validation, preflight, the plan and
  outcome artifacts, one task run per step, the task step as its own subflow).

The plan::

    backup      flow backup_configs                  all hosts
    spines      flow show_commands                   roles=spine        after backup
    leaves      task nornflow.tasks:show_commands    roles=leaf, waves  after backup
    compliance  flow check_compliance                all hosts          after spines, leaves

Every run backs up into a fresh directory, so both commit every file. Prints each run,
the medians and the ratio plan / direct (the overhead of planning and publishing).

    .venv/bin/python bench/plan_overhead.py --size 20 --runs 3
"""

from __future__ import annotations

import argparse
import contextvars
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from nornflow.settings import apply_prefect_defaults

apply_prefect_defaults()

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = str(REPO / "examples" / "templates")
COMMANDS = ["show version"]
CANARY, WAVE_SIZE = 1, 5


def make_plan(backup_dir: str) -> dict[str, Any]:
    return {"name": "bench-overhead", "steps": {
        "backup": {"flow": "backup_configs", "params": {"backup_dir": backup_dir}},
        "spines": {"flow": "show_commands", "params": {"commands": COMMANDS}, "hosts": {"roles": "spine"},
                   "depends_on": "backup"},
        "leaves": {"task": "nornflow.tasks:show_commands", "params": {"commands": COMMANDS},
                   "hosts": {"roles": "leaf"}, "depends_on": "backup", "mode": "waves",
                   "canary": CANARY, "wave_size": WAVE_SIZE},
        "compliance": {"flow": "check_compliance", "params": {"templates": TEMPLATES},
                       "depends_on": ["spines", "leaves"]},
    }}


def ok_hosts(value: Any) -> int:
    """Hosts ok in a flow's final state or a RunResult."""
    from prefect import State

    if isinstance(value, State):
        value = value.result(raise_on_failure=False)
    return len(value.ok_hosts)


def build_direct() -> Any:
    from prefect import flow

    from nornflow.engine.run import run_task
    from nornflow.flows import backup_configs, check_compliance, show_commands
    from nornflow.inventory.load import HostFilter, load_nornir
    from nornflow.plan.planner import waves
    from nornflow.tasks import show_commands as show_task

    def in_thread(fn: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
        """Run ``fn`` in a thread that carries the flow's Prefect context (as the plan's pool does)."""
        out: dict[str, Any] = {}
        ctx = contextvars.copy_context()

        def target() -> None:
            out["value"] = ctx.run(fn, *args, **kwargs)

        thread = threading.Thread(target=target)
        thread.start()
        return thread, out

    @flow(name="bench-direct-steps", validate_parameters=False)
    def direct_steps(inventory: str, backup_dir: str) -> dict[str, int]:
        counts = {"backup": ok_hosts(backup_configs(inventory=inventory, backup_dir=backup_dir,
                                                    return_state=True))}

        def spines() -> int:
            return ok_hosts(show_commands(inventory=inventory, commands=COMMANDS, hosts={"roles": ["spine"]},
                                          return_state=True))

        def leaves() -> int:
            nr = load_nornir(inventory)
            names = HostFilter.coerce({"roles": ["leaf"]}).select(nr)
            ok = 0
            batches = waves(names, mode="waves", canary=CANARY, wave_size=WAVE_SIZE)
            for index, batch in enumerate(batches, start=1):
                result = run_task(show_task, nornir=nr, hosts={"names": batch}, host_timeout=120.0,
                                  name=f"leaves wave {index}/{len(batches)}", task_kwargs={"commands": COMMANDS},
                                  retries=0, retry_delay=0.0)
                ok += len(result.ok_hosts)
                if result.failed_hosts:  # a budget of 0: stop at the first failed wave
                    break
            return ok

        jobs = {"spines": in_thread(spines), "leaves": in_thread(leaves)}
        for name, (thread, out) in jobs.items():
            thread.join()
            counts[name] = out["value"]
        counts["compliance"] = ok_hosts(check_compliance(inventory=inventory, templates=TEMPLATES,
                                                         return_state=True))
        return counts

    return direct_steps


def run_direct(direct: Any, inventory: str, backup_dir: str) -> dict[str, int]:
    counts: dict[str, int] = direct(inventory=inventory, backup_dir=backup_dir)
    return counts


def run_planned(inventory: str, backup_dir: str) -> dict[str, int]:
    from nornflow.plan.flow import run_plan
    from nornflow.plan.outcome import PlanOutcome

    state = run_plan(plan=make_plan(backup_dir), inventory=inventory, return_state=True)
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, PlanOutcome), state.message
    return {name: len(step.ok_hosts) for name, step in outcome.steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20, help="lab devices")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each way")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each way first")
    args = parser.parse_args()

    from prefect import flow

    from nornflow.lab import daemon

    @flow
    def warm_up() -> None:
        """Start the embedded Prefect server before timing anything."""

    warm_up()
    direct = build_direct()
    times: dict[str, list[float]] = {"direct": [], "plan": []}
    with tempfile.TemporaryDirectory() as tmp:
        lab_dir = Path(tmp) / "lab"
        started = time.perf_counter()
        state = daemon.up(lab_dir, size=args.size)
        print(f"lab of {args.size} up in {time.perf_counter() - started:.1f} s", flush=True)
        inventory = str(state["inventory"])
        try:
            expected: dict[str, int] | None = None
            for run in range(-args.warmup, args.runs):
                for name in ("direct", "plan"):
                    backup_dir = str(Path(tmp) / f"{name}-{run + args.warmup}")
                    started = time.perf_counter()
                    if name == "direct":
                        counts = run_direct(direct, inventory, backup_dir)
                    else:
                        counts = run_planned(inventory, backup_dir)
                    elapsed = time.perf_counter() - started
                    expected = expected or counts
                    label = "warm-up" if run < 0 else f"run {run + 1}"
                    print(f"{label:>8} {name:>6}: {elapsed:6.2f} s  ok hosts per step {counts}", flush=True)
                    if counts != expected:
                        raise SystemExit(f"the two ways did different work: {counts} != {expected}")
                    if run >= 0:
                        times[name].append(elapsed)
        finally:
            daemon.down(lab_dir)
    direct_s, plan_s = (statistics.median(times[n]) for n in ("direct", "plan"))
    print(f"\n{args.size} devices, 4 steps in 3 generations, median of {args.runs} runs each (alternating):")
    print("| steps run directly | through run-plan | plan / direct | overhead |")
    print("|---:|---:|---:|---:|")
    print(f"| {direct_s:.2f} s | {plan_s:.2f} s | {plan_s / direct_s:.2f}x | {plan_s - direct_s:+.2f} s |")


if __name__ == "__main__":
    main()
