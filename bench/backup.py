"""Benchmark: plain Nornir + nornir-scrapli saving running configs vs the backup_configs flow.

Both run against the same lab, alternating, with the same session concurrency
(``--max-sessions``, Nornir's ``num_workers``). The lab runs in its own process
(``nornflow lab up``), as real devices would: in the benchmark's process, hundreds of
simulated devices would fight the client for the GIL and measure the lab, not the client. The flow also commits to git
and publishes artifacts; each run writes into a fresh directory, so every file is new.
Prints the median of ``--runs`` runs of each and their ratio (target: flow <= 1.10x).
A second baseline closes each host's session as soon as it is done, as the engine does:
plain Nornir keeps every session open until ``close_connections()``, and hundreds of idle
open sessions slow a lab down for everyone.

    .venv/bin/python bench/backup.py --sizes 100,500 --runs 3
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from nornflow.settings import apply_prefect_defaults

apply_prefect_defaults()


def _send_and_close(task, command: str):  # type: ignore[no-untyped-def]
    """Plain nornir-scrapli, closing each session as soon as its host is done."""
    from nornir_scrapli.tasks import send_command

    try:
        return send_command(task, command=command)
    finally:
        with contextlib.suppress(Exception):  # scrapli's on_close can hit a session the device closed
            task.host.close_connections()


def plain_nornir(inventory: Path, out: Path, workers: int, close_early: bool = False) -> int:
    from nornir_scrapli.tasks import send_command

    from nornflow.inventory import load_nornir

    nr = load_nornir(inventory, num_workers=workers)
    result = nr.run(task=_send_and_close if close_early else send_command, command="show running-config")
    nr.close_connections()
    out.mkdir(parents=True, exist_ok=True)
    ok = 0
    for host, multi in result.items():
        if multi.failed:
            print(f"  nornir: {host} failed: {multi[0].exception!r}"[:300])
        else:
            (out / f"{host}.cfg").write_text(multi[0].result)
            ok += 1
    return ok


def flow_run(inventory: Path, out: Path, workers: int) -> int:
    from nornflow.engine import result_of
    from nornflow.flows import backup_configs

    state = backup_configs(inventory=str(inventory), backup_dir=str(out), max_sessions=workers,
                           retries=0, return_state=True)
    result = result_of(state)
    for record in result.records:
        if record.failed:
            print(f"  flow: {record.host} failed: {record.error}")
    return len(result.ok_hosts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100", help="comma-separated lab sizes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-sessions", type=int, default=100)
    args = parser.parse_args()

    from prefect import flow

    from nornflow.lab import daemon

    @flow
    def warm_up() -> None:
        """Start the embedded Prefect server before timing anything."""

    warm_up()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            lab_dir = Path(tmp) / "lab"
            started = time.perf_counter()
            state = daemon.up(lab_dir, size=size)
            print(f"lab of {size} up in {time.perf_counter() - started:.1f} s", flush=True)
            inventory = Path(state["inventory"])
            times: dict[str, list[float]] = {"nornir": [], "nornir-close": [], "flow": []}
            try:
                for run in range(args.runs):
                    for name in times:
                        started = time.perf_counter()
                        out = Path(tmp) / f"{name}-{run}"
                        if name == "flow":
                            ok = flow_run(inventory, out, args.max_sessions)
                        else:
                            ok = plain_nornir(inventory, out, args.max_sessions, close_early=name == "nornir-close")
                        elapsed = time.perf_counter() - started
                        times[name].append(elapsed)
                        print(f"size {size} run {run + 1} {name:>6}: {elapsed:6.2f} s ({ok}/{size} ok)", flush=True)
            finally:
                daemon.down(lab_dir)
            medians = {name: statistics.median(values) for name, values in times.items()}
            rows.append((size, medians))
    print("\n| devices | plain Nornir | plain Nornir, closing each session early | backup_configs flow "
          "| flow / plain | flow / closing early |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size, m in rows:
        print(f"| {size} | {m['nornir']:.2f} s | {m['nornir-close']:.2f} s | {m['flow']:.2f} s "
              f"| {m['flow'] / m['nornir']:.2f}x | {m['flow'] / m['nornir-close']:.2f}x |")


if __name__ == "__main__":
    main()
