"""Benchmark: what live progress and device events cost a backup run (target: within 1.03x).

One lab (``nornflow.lab.daemon``, in its own process, as real devices would be), one Prefect
server on PostgreSQL in its own process (as in production, the way ``bench/scale.py`` starts
it), and the ``backup_configs`` flow run over the lab with the monitoring hooks off
(``NORNFLOW_MONITOR=off``) and on (a progress artifact updated per batch from a background
thread, one ``nornflow.device.run.*`` event per device). Every measured run is its own
process (imports are not timed; the time is the flow call, as a worker's flow-run process
spends it), the variants alternate and the order is swapped every round so neither side
always runs on a warmer lab or server. Every run backs up into a fresh directory. Prints each
run, the medians and the ratio on / off, and checks what the monitored runs left on the
server (progress artifacts at 100 %, one event per device per run).

``--sides off,on,progress,events`` also runs each hook alone (``NORNFLOW_MONITOR=progress``...)
to see which one costs what.

    .venv/bin/python bench/progress.py --size 100 --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIDES = ("off", "on", "progress", "events")  # NORNFLOW_MONITOR values


# -- the children: one measured run, and the check ---------------------------------------------------

def child(side: str, inventory: str, out: str) -> dict[str, Any]:
    from nornflow.settings import apply_prefect_defaults

    apply_prefect_defaults()
    os.environ["NORNFLOW_MONITOR"] = side
    from nornflow.engine.run import result_of
    from nornflow.flows import backup_configs

    started = time.perf_counter()
    state = backup_configs(inventory=inventory, backup_dir=out, retries=0, return_state=True)
    seconds = time.perf_counter() - started
    result = result_of(state)
    return {"seconds": seconds, "ok": len(result.ok_hosts), "run_id": str(state.state_details.flow_run_id)}


def check(run_ids: dict[str, list[str]], size: int) -> str:
    """What the runs left on the server: progress artifacts at 100 % (on only), device events."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType

    found: dict[str, Any] = {}
    with get_client(sync_client=True) as client:
        for side, ids in run_ids.items():
            progress = client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=ids), type=ArtifactFilterType(any_=["progress"])))
            found[side] = sorted({a.data for a in progress}), len(progress)
        deadline = time.monotonic() + 60
        while True:  # the server stores events a moment after they arrive
            events = {side: events_of(client, ids) for side, ids in run_ids.items()}
            if events["on"] >= size * len(run_ids["on"]) or time.monotonic() > deadline:
                break
            time.sleep(2)
    return (f"progress artifacts: off {found['off']}, on {found['on']} (expected ([], 0) and "
            f"([100], {len(run_ids['on'])})); device events: off {events['off']}, on {events['on']} "
            f"(expected 0 and {size * len(run_ids['on'])})")


def events_of(client: Any, run_ids: list[str]) -> int:
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventRelatedFilter

    since = EventOccurredFilter.model_validate({"since": datetime.now(UTC) - timedelta(hours=1)})
    flt = EventFilter(occurred=since, event=EventNameFilter(prefix=["nornflow.device.run."]),
                      related=EventRelatedFilter(id=[f"prefect.flow-run.{i}" for i in run_ids]))
    return int(client.read_events(filter=flt, limit=1).total)


# -- the parent: server, lab, alternating runs, the table --------------------------------------------

def run_child(args: list[str], report: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *args, "--report", str(report)], env=env, cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0 or not report.exists():
        raise RuntimeError(f"bench child {args[:2]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7, help="measured runs per side (median; at least 5)")
    parser.add_argument("--sides", default="off,on",
                        help="NORNFLOW_MONITOR values to compare, the first the baseline (off,on,progress,events)")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    parser.add_argument("--inventory", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.report).write_text(json.dumps(child(args.child, args.inventory, args.out)))
        return
    if args.check:
        Path(args.report).write_text(json.dumps({"text": check(json.loads(args.check), args.size)}))
        return

    sys.path.insert(0, str(ROOT))
    from nornflow.lab import daemon
    from tests.servers.postgres import PostgresServer
    from tests.support.stack import Cli, Server

    sides = tuple(args.sides.split(","))
    if not set(sides) <= set(SIDES) or len(sides) < 2 or "off" not in sides:
        parser.error(f"--sides {args.sides!r}: give off and at least one of on, progress, events, comma-separated")
    times: dict[str, list[float]] = {s: [] for s in sides}
    run_ids: dict[str, list[str]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="nornflow-bench-") as tmpdir:
        tmp = Path(tmpdir)
        pg = PostgresServer().start()
        server = Server(tmp / "server-home", pg.create_database("prefect"), PREFECT_UI_ENABLED="false").start()
        cli = Cli(server, tmp / "client-home", PREFECT_LOCAL_STORAGE_PATH=str(tmp / "results"))
        env = {**cli.env(), "NORNFLOW_HOME": str(ROOT)}
        lab_dir = tmp / "lab"
        try:
            started = time.perf_counter()
            inventory = str(daemon.up(lab_dir, size=args.size)["inventory"])
            print(f"lab of {args.size} up in {time.perf_counter() - started:.1f} s", flush=True)
            for side in sides:  # first sessions, flow registration, warm server caches: not counted
                run_child(["--child", side, "--inventory", inventory, "--out", str(tmp / f"warm-{side}")],
                          tmp / f"warm-{side}.json", env)
            for run in range(args.runs):
                for side in sides if run % 2 == 0 else sides[::-1]:
                    name = f"{side}-{run}"
                    got = run_child(["--child", side, "--inventory", inventory, "--out", str(tmp / name)],
                                    tmp / f"{name}.json", env)
                    times[side].append(got["seconds"])
                    run_ids[side].append(got["run_id"])
                    print(f"run {run + 1} monitor {side:>3}: {got['seconds']:6.2f} s ({got['ok']}/{args.size} ok)",
                          flush=True)
            if "on" in sides:
                checked = {"off": run_ids["off"], "on": run_ids["on"]}
                print(run_child(["--check", json.dumps(checked), "--size", str(args.size)], tmp / "check.json",
                                env)["text"])
        finally:
            daemon.down(lab_dir)
            server.stop()
            pg.stop()
    off = statistics.median(times["off"])
    print(f"\nmedians of {args.runs} runs per side, each run its own process, against a PostgreSQL-backed server")
    print("| devices | NORNFLOW_MONITOR | median | / off | median of paired ratios |")
    print("|---:|---|---:|---:|---:|")
    for side in sides:
        med = statistics.median(times[side])
        paired = statistics.median(b / a for a, b in zip(times["off"], times[side], strict=True))
        print(f"| {args.size} | {side} | {med:.2f} s | {med / off:.3f}x | {paired:.3f}x |")


if __name__ == "__main__":
    main()
