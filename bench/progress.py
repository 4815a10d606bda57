"""Benchmark: what live progress and device events cost a backup run (target: within 1.03x).

One lab (``nornflow.lab.daemon``, in its own process, as real devices would be) and the
``backup_configs`` flow run over it with the monitoring hooks off (``NORNFLOW_MONITOR=off``)
and on (a progress artifact updated per batch from a background thread, one
``nornflow.device.run.*`` event per device), alternating, the order swapped every round so
neither side always runs on a warmer lab. Every run backs up into a fresh directory.
Prints each run, the medians and the ratio on / off.

    .venv/bin/python bench/progress.py --size 100 --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nornflow.settings import apply_prefect_defaults

apply_prefect_defaults()


def backup(inventory: Path, out: Path, monitor: str) -> tuple[float, int, str]:
    from nornflow.engine import result_of
    from nornflow.flows import backup_configs

    os.environ["NORNFLOW_MONITOR"] = monitor
    started = time.perf_counter()
    state = backup_configs(inventory=str(inventory), backup_dir=str(out), retries=0, return_state=True)
    elapsed = time.perf_counter() - started
    result = result_of(state)
    return elapsed, len(result.ok_hosts), str(state.state_details.flow_run_id)


def check(run_ids: dict[str, list[str]], size: int) -> str:
    """What the monitored runs left on the server: progress artifacts at 100 %, device events."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=30)
    found: dict[str, Any] = {}
    with get_client(sync_client=True) as client:
        for side, ids in run_ids.items():
            progress = client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=ids), type=ArtifactFilterType(any_=["progress"])))
            found[side] = sorted({a.data for a in progress})
        deadline = time.monotonic() + 60
        while True:  # the server stores events a moment after they arrive
            events = {side: events_of(client, ids) for side, ids in run_ids.items()}
            if events["on"] >= size * len(run_ids["on"]) or time.monotonic() > deadline:
                break
            time.sleep(2)
    return (f"progress artifacts: off {found['off']}, on {found['on']} (expected [] and [100]); device events: "
            f"off {events['off']}, on {events['on']} (expected 0 and {size * len(run_ids['on'])})")


def events_of(client: Any, run_ids: list[str]) -> int:
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventRelatedFilter

    since = EventOccurredFilter.model_validate({"since": datetime.now(UTC) - timedelta(hours=1)})
    flt = EventFilter(occurred=since, event=EventNameFilter(prefix=["nornflow.device.run."]),
                      related=EventRelatedFilter(id=[f"prefect.flow-run.{i}" for i in run_ids]))
    return int(client.read_events(filter=flt, limit=1).total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from prefect import flow

    from nornflow.lab import daemon

    @flow
    def warm_up() -> None:
        """Start the embedded Prefect server before timing anything."""

    warm_up()
    times: dict[str, list[float]] = {"off": [], "on": []}
    run_ids: dict[str, list[str]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        lab_dir = Path(tmp) / "lab"
        started = time.perf_counter()
        state = daemon.up(lab_dir, size=args.size)
        print(f"lab of {args.size} up in {time.perf_counter() - started:.1f} s", flush=True)
        inventory = Path(state["inventory"])
        try:
            backup(inventory, Path(tmp) / "warm", "off")  # first sessions, imports, flow registration
            for run in range(args.runs):
                order = ("off", "on") if run % 2 == 0 else ("on", "off")
                for side in order:
                    elapsed, ok, run_id = backup(inventory, Path(tmp) / f"{side}-{run}", side)
                    times[side].append(elapsed)
                    run_ids[side].append(run_id)
                    print(f"run {run + 1} monitor {side:>3}: {elapsed:6.2f} s ({ok}/{args.size} ok)", flush=True)
        finally:
            daemon.down(lab_dir)
    print(check(run_ids, args.size))
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print("\n| devices | monitor off | monitor on (progress + device events) | on / off |")
    print("|---:|---:|---:|---:|")
    print(f"| {args.size} | {off:.2f} s | {on:.2f} s | {on / off:.3f}x |")


if __name__ == "__main__":
    main()
