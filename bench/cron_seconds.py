"""Benchmark: a Quartz cron with seconds on a real Prefect server and worker, per run on time or not.

Two deployments of a no-op flow run every 15 seconds for ``--minutes``, from a Quartz expression
translated by :mod:`nornflow.triggers.quartz` (what ``nornflow doctor`` asks the deployment file
to carry), on one PostgreSQL-backed ``prefect server start`` and one process worker with Prefect's
default poll (``PREFECT_WORKER_QUERY_SECONDS`` 10) and the prefetch docs/triggers.md asks for (30 s):

- ``ontime``: ``*/15 * * * * *``, started by ``python -m nornflow.triggers.ontime``;
- ``prefect``: ``7/15 * * * * *`` (7 s later, so the two never start processes at once), started by
  the worker's default ``python -m prefect.engine``: Prefect's own wait for the scheduled time.

Per run: the scheduled instant (``expected_start_time``), the start (``start_time``, when the run
entered Running) and the lateness; per variant the spread (median, max, min), the runs early or
more than 1 s late, and the scheduled instants of the window that got no run (skipped) or more
than one (doubled); then what the on-time start said in the worker's log (waited, or ready too
late) and the machine's load. Runs scheduled in the first ``--warmup`` seconds are left out.

    .venv/bin/python bench/cron_seconds.py --minutes 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow

ROOT = Path(__file__).resolve().parents[1]
POOL = "bench-cron"
VARIANTS = {"ontime": ("*/15 * * * * *", True), "prefect": ("7/15 * * * * *", False)}


@flow(name="bench-tick")
def tick() -> None:
    """Nothing: the measure is when the run started."""


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def deploy(server: Any, flow_id: str, name: str, quartz: str, ontime: bool) -> str:
    from prefect.utilities.callables import parameter_schema

    from nornflow.triggers.quartz import parse
    from nornflow.triggers.schedules import ONTIME_COMMAND

    body: dict[str, Any] = {
        "name": name, "flow_id": flow_id, "entrypoint": "bench/cron_seconds.py:tick", "path": str(ROOT),
        "work_pool_name": POOL, "parameter_openapi_schema": parameter_schema(tick).model_dump(),
        "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
        "schedules": [{"schedule": parse(quartz).prefect("UTC"), "active": True}],
    }
    if ontime:
        body["job_variables"] = {"command": ONTIME_COMMAND.replace("python", sys.executable, 1)}
    return str(server.api("POST", "/deployments/", body)["id"])


def measure(server: Any, deployment_id: str, start: datetime, end: datetime, step: int, offset: int) -> dict[str, Any]:
    runs = [r for r in server.runs(deployment_id) if start <= _instant(r["expected_start_time"]) < end]
    instants: list[datetime] = []
    moment = start.replace(second=0, microsecond=0)
    while moment < end:
        if moment >= start and moment.second % step == offset % step:
            instants.append(moment)
        moment += timedelta(seconds=1)
    by_instant: dict[datetime, list[dict[str, Any]]] = {}
    for run in runs:
        by_instant.setdefault(_instant(run["expected_start_time"]), []).append(run)
    rows, lateness = [], []
    for run in sorted(runs, key=lambda r: r["expected_start_time"]):
        started = _instant(run["start_time"]) if run.get("start_time") else None
        late = (started - _instant(run["expected_start_time"])).total_seconds() if started else None
        if late is not None:
            lateness.append(late)
        rows.append((run["expected_start_time"][11:23], run["start_time"][11:23] if started else "-", late,
                     run["state_type"]))
    return {
        "rows": rows, "lateness": lateness,
        "skipped": [i for i in instants if not any(r["state_type"] == "COMPLETED" for r in by_instant.get(i, []))],
        "doubled": [i for i, found in by_instant.items() if len(found) > 1],
        "instants": len(instants),
    }


def report(name: str, quartz: str, result: dict[str, Any], verbose: bool) -> None:
    late = result["lateness"]
    print(f"\n{name} ({quartz}): {len(late)} run(s) started for {result['instants']} scheduled instant(s)")
    if verbose:
        print(f"  {'scheduled (UTC)':<14} {'started':<14} {'late (ms)':>9}  state")
        for scheduled, started, lateness, state in result["rows"]:
            shown = f"{lateness * 1000:9.0f}" if lateness is not None else "        -"
            print(f"  {scheduled:<14} {started:<14} {shown}  {state}")
    if late:
        print(f"  lateness: median {statistics.median(late) * 1000:.0f} ms, max {max(late) * 1000:.0f} ms, "
              f"min {min(late) * 1000:.0f} ms; early (< 0): {sum(x < 0 for x in late)}, "
              f"over 1 s: {sum(x >= 1 for x in late)}")
    print(f"  skipped: {len(result['skipped'])}, doubled: {len(result['doubled'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0, help="measured window (default 4)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds left out at the start (default 30)")
    parser.add_argument("--prefetch", default="30", help="PREFECT_WORKER_PREFETCH_SECONDS (default 30)")
    parser.add_argument("--query", default="10", help="PREFECT_WORKER_QUERY_SECONDS (default 10, Prefect's)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-run table")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from prefect.workers.process import ProcessWorker

    from tests.servers.postgres import PostgresServer
    from tests.support.stack import Cli, Server

    with tempfile.TemporaryDirectory(prefix="nornflow-bench-cron-") as tmpdir:
        tmp = Path(tmpdir)
        pg = PostgresServer().start()
        server = Server(tmp / "server-home", pg.create_database("prefect"), PREFECT_UI_ENABLED="false")
        cli = Cli(server, tmp / "client-home", PREFECT_WORKER_QUERY_SECONDS=args.query,
                  PREFECT_WORKER_PREFETCH_SECONDS=args.prefetch)
        try:
            server.start()
            server.api("POST", "/work_pools/", {"name": POOL, "type": "process",
                                                 "base_job_template": ProcessWorker.get_default_base_job_template()})
            flow_id = server.api("POST", "/flows/", {"name": "bench-tick"})["id"]
            ids = {name: deploy(server, flow_id, name, quartz, ontime)
                   for name, (quartz, ontime) in VARIANTS.items()}
            cli.start_worker(POOL, "bench-worker")
            start = datetime.now(UTC) + timedelta(seconds=args.warmup)
            end = start + timedelta(minutes=args.minutes)
            print(f"measuring {start:%H:%M:%S} to {end:%H:%M:%S} UTC (worker: query {args.query} s, "
                  f"prefetch {args.prefetch} s)", flush=True)
            loads = [os.getloadavg()[0]]
            while datetime.now(UTC) < end + timedelta(seconds=20):  # the last runs finish
                time.sleep(10)
                loads.append(os.getloadavg()[0])
            for name, (quartz, _) in VARIANTS.items():
                offset = int(quartz.split("/")[0]) if quartz[0].isdigit() else 0
                report(name, quartz, measure(server, ids[name], start, end, 15, offset), not args.quiet)
            said = "\n".join(w.log.read_text(errors="replace") for w in cli.workers if w.log.exists())
            print(f"\nontime in the worker's log: {said.count('waited ')} run(s) waited for their second, "
                  f"{said.count('the worker took the run too late')} run(s) were ready too late (raise the prefetch)")
            print(f"load average (1 min) during the window: median {statistics.median(loads):.1f}, "
                  f"max {max(loads):.1f} on {os.cpu_count()} CPUs")
        finally:
            cli.stop_worker()
            server.stop()
            pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
