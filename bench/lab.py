"""Benchmark: what the simulated lab costs: start-up, memory, and server CPU per SSH session.

For each size, a lab of the four platforms starts in its own process (``nornflow.lab.daemon``,
as ``nornflow lab up`` runs it) and this process opens a plain scrapli session on every
device at once (``AsyncScrapli`` over asyncssh in one event loop, at most ``--concurrency``
open), sends ``show version`` and closes it. Measured per run: the lab's own start (devices
listening, inventory written) and the whole ``lab up`` (process start and imports included),
the lab process's RSS idle and at its peak, its CPU time during the sessions divided by the
number of sessions, and the clients' wall time. Medians of ``--runs`` runs per size.

    .venv/bin/python bench/lab.py --sizes 100,1000,2000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

NORNIR = {"cisco_ios": "cisco_iosxe", "arista_eos": "arista_eos", "juniper_junos": "juniper_junos",
          "cisco_nxos": "cisco_nxos"}
PLATFORMS = list(NORNIR)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def memory_mb(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


async def sessions(devices: list[dict[str, Any]], concurrency: int) -> tuple[int, int]:
    from scrapli import AsyncScrapli

    gate = asyncio.Semaphore(concurrency)

    async def one(device: dict[str, Any]) -> bool:
        async with gate:
            try:
                async with AsyncScrapli(
                    host="127.0.0.1", port=device["port"], auth_username="admin", auth_password="admin",
                    auth_secondary="admin", auth_strict_key=False, platform=NORNIR[device["platform"]],
                    transport="asyncssh", timeout_socket=60, timeout_transport=120, timeout_ops=60,
                ) as conn:
                    return not (await conn.send_command("show version")).failed
            except Exception as exc:  # a failed session is counted, not fatal
                print(f"  {device['name']}: {type(exc).__name__}: {exc}")
                return False

    results = await asyncio.gather(*(one(d) for d in devices))
    return sum(results), len(results) - sum(results)


def run_once(size: int, concurrency: int) -> dict[str, float]:
    from nornflow.lab import daemon

    with tempfile.TemporaryDirectory(prefix="bench-lab-") as tmp:
        began = time.perf_counter()
        state = daemon.up(Path(tmp), size=size, platforms=PLATFORMS)
        up_s = time.perf_counter() - began
        pid = int(state["pid"])
        try:
            idle = memory_mb(pid)["VmRSS"]
            cpu_before = cpu_seconds(pid)
            client_cpu = time.process_time()
            began = time.perf_counter()
            ok, failed = asyncio.run(sessions(state["devices"], concurrency))
            wall = time.perf_counter() - began
            client_cpu = time.process_time() - client_cpu
            server_cpu = cpu_seconds(pid) - cpu_before
            peak = memory_mb(pid)["VmHWM"]
        finally:
            daemon.down(Path(tmp))
    return {"start_s": float(state.get("start_s", 0.0)), "up_s": up_s, "rss_idle_mb": idle, "rss_peak_mb": peak,
            "server_ms": 1000 * server_cpu / size, "client_ms": 1000 * client_cpu / size, "wall_s": wall,
            "failed": failed, "ok": ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        runs = []
        for i in range(args.runs):
            result = run_once(size, args.concurrency)
            runs.append(result)
            print(f"{size} devices, run {i + 1}: " + ", ".join(f"{k} {v:.3g}" for k, v in result.items()), flush=True)
        rows.append((size, {k: statistics.median(r[k] for r in runs) for k in runs[0]}))
    print(f"\nmedians of {args.runs} runs; {', '.join(PLATFORMS)} round-robin; clients: AsyncScrapli/asyncssh, "
          f"{args.concurrency} at once, one `show version` each; {os.cpu_count()} cores\n")
    print("| devices | lab start (s) | `lab up` (s) | RSS idle (MB) | RSS peak (MB) | server CPU/session (ms) "
          "| client CPU/session (ms) | all sessions (s) | failed |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, m in rows:
        print(f"| {size:,} | {m['start_s']:.2f} | {m['up_s']:.2f} | {m['rss_idle_mb']:.0f} | {m['rss_peak_mb']:.0f} "
              f"| {m['server_ms']:.1f} | {m['client_ms']:.1f} | {m['wall_s']:.1f} | {m['failed']:.0f} |")


if __name__ == "__main__":
    main()
