"""Benchmark: fleet_report over 1,000 devices and 30 days of history, made through the real API.

Starts ``prefect server start`` (SQLite, its own PREFECT_HOME, events kept 60 days) and
writes a history into it the way NornFlow's flows would, through the API:

- device events: every device runs ``backup_configs`` and ``show_commands`` once a day for
  ``--days`` days (``nornflow.device.run.ok|changed|failed``, the payload and related
  resources the engine sends; 90 % of the devices fail 0.5 % of their runs, 8 % are flaky
  (15 %), 2 % are mostly down (80 %); 3 % of the backups find a changed config), and a
  weekly compliance check (``nornflow.compliance.compliant|drift``), posted in bulk
  (``POST /api/events``, 1,000 per request, ``occurred`` in the past);
- flow runs over both report windows and beyond: ``backup_configs``, ``show_commands`` and
  ``fleet_report`` once a day for ``--days`` days, and ``stack_health`` every 5 minutes for
  ``--health-days`` days (4,032 runs in 14 days), each created Scheduled at its past time
  (the API cannot backdate a state, so ``start_time`` is the time of creation, but the
  scheduled time becomes the run's ``expected_start_time``, which the report places runs by)
  and then set Completed or Failed. Their durations are therefore near zero: the bench
  measures the report's cost, not duration statistics.

Then it times ``fleet_report`` (window 7 days against the 7 before, history 30 days) end
to end, and its fetch alone through a client that counts every HTTP request, by endpoint,
both as scheduled (the read-only health flows left out) and counting every flow.

    .venv/bin/python bench/fleet_report.py --devices 1000 --days 30 --runs 3
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
FLOWS = ("backup_configs", "show_commands")
HEALTH_FLOWS = ("stack_health", "fleet_report")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_API_PORT=str(port), PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api",
               PREFECT_SERVER_EVENTS_RETENTION_PERIOD="P60D",
               PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE="1000",
               PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL="1")
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"prefect server exited: see {home / 'server.log'}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit("prefect server did not answer /api/health in 240 s")


def profile(rng: random.Random) -> float:
    draw = rng.random()
    return 0.80 if draw < 0.02 else 0.15 if draw < 0.10 else 0.005


def post(api: httpx.Client, path: str, body: Any) -> Any:
    """POST with the retries Prefect's own client does (SQLite answers 503 while it is busy)."""
    for _ in range(30):
        response = api.post(path, json=body)
        if response.status_code != 503:
            break
        time.sleep(1)
    response.raise_for_status()
    return response.json() if response.content else None


def make_runs(api: httpx.Client, days: int, end: datetime, health_days: int) -> dict[tuple[str, int], str]:
    """Flow runs spread over ``days`` before ``end``, through the API, returned by (flow, day) for the daily flows.

    The API takes no timestamp for a state (it stamps each one on arrival), so ``start_time``
    cannot be backdated; a Scheduled state's ``scheduled_time`` can, and it becomes the run's
    ``expected_start_time``, which is what the report (like the UI's run list) places runs by.
    Each run is created Scheduled at its past time, then set to its final state.
    """
    runs: dict[tuple[str, int], str] = {}
    plan: list[tuple[str, datetime, int]] = []
    for day in range(days):
        base = end - timedelta(days=days - day)
        plan += [("backup_configs", base + timedelta(hours=2), day), ("show_commands", base + timedelta(hours=8), day),
                 ("fleet_report", base + timedelta(hours=6, minutes=30), day)]
    start = end - timedelta(days=health_days)
    plan += [("stack_health", start + timedelta(minutes=5 * i), -1) for i in range(health_days * 24 * 12)]
    flow_ids = {flow: post(api, "/flows/", {"name": flow})["id"] for flow in {p[0] for p in plan}}
    for index, (flow, when, day) in enumerate(plan):
        run = post(api, "/flow_runs/", {
            "flow_id": flow_ids[flow], "name": f"{flow}-{when:%Y%m%d-%H%M}", "tags": ["nornflow"],
            "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": when.isoformat()}}})
        final = "FAILED" if (day % 10 == 3 if day >= 0 else index % 97 == 0) else "COMPLETED"
        post(api, f"/flow_runs/{run['id']}/set_state", {"state": {"type": final}, "force": True})
        if day >= 0:
            runs[(flow, day)] = run["id"]
    return runs


def make_events(devices: int, days: int, runs: dict[tuple[str, int], str], end: datetime,
                seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    hosts = [f"bench-{i // 40:02d}-{i % 40:02d}" for i in range(devices)]
    failure = {h: profile(rng) for h in hosts}
    events: list[dict[str, Any]] = []
    for day in range(days):
        base = end - timedelta(days=days - day)
        for slot, flow in enumerate(FLOWS):
            run_id = runs[(flow, day)]
            for index, host in enumerate(hosts):
                occurred = base + timedelta(hours=2 + 6 * slot, seconds=index * 0.05)
                failed = rng.random() < failure[host]
                changed = not failed and flow == "backup_configs" and rng.random() < 0.03
                outcome = "failed" if failed else "changed" if changed else "ok"
                events.append({
                    "id": str(uuid.uuid4()), "occurred": occurred.isoformat(),
                    "event": f"nornflow.device.run.{outcome}",
                    "resource": {"prefect.resource.id": f"nornflow.device.{host}", "prefect.resource.name": host},
                    "related": [
                        {"prefect.resource.id": f"nornflow.flow.{flow}", "prefect.resource.role": "nornflow-flow",
                         "prefect.resource.name": flow},
                        {"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"},
                        {"prefect.resource.id": "prefect.tag.nornflow", "prefect.resource.role": "tag"},
                    ],
                    "payload": {"host": host, "flow": flow, "task": flow, "outcome": outcome, "changed": changed,
                                "duration": round(rng.uniform(0.4, 3.0), 3), "attempts": 1,
                                "error": "connection refused: the device is down or not listening" if failed else None,
                                "flow_run_id": run_id, "site": host.split("-")[1]},
                })
        if day % 7 == 6:
            for host in hosts:
                drift = rng.random() < 0.05
                events.append({
                    "id": str(uuid.uuid4()), "occurred": (base + timedelta(hours=7)).isoformat(),
                    "event": "nornflow.compliance.drift" if drift else "nornflow.compliance.compliant",
                    "resource": {"prefect.resource.id": f"nornflow.device.{host}", "prefect.resource.name": host},
                    "payload": {"host": host},
                })
    return events


def stored(api: httpx.Client, since: datetime) -> int:
    body = {"filter": {"occurred": {"since": since.isoformat(), "until": datetime.now(UTC).isoformat()},
                       "resource": {"id_prefix": ["nornflow.device."]}}}
    return sum(row["count"] for row in post(api, "/events/count-by/event", body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--health-days", type=int, default=14, help="days of stack_health runs every 5 minutes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc, url = start_server(Path(tmp) / "server")
        print(f"prefect server up in {time.perf_counter() - started:.1f} s at {url}", flush=True)
        os.environ.update(PREFECT_API_URL=url, PREFECT_HOME=str(Path(tmp) / "client"),
                          PREFECT_SERVER_ANALYTICS_ENABLED="false")
        try:
            run(url, args)
        finally:
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=10)  # the flow runs' last logs, before the server stops
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)


def run(url: str, args: argparse.Namespace) -> None:
    end = datetime.now(UTC)
    with httpx.Client(base_url=url, timeout=120) as api:
        started = time.perf_counter()
        runs = make_runs(api, args.days, end, args.health_days)
        made = 3 * args.days + args.health_days * 24 * 12
        print(f"{made} flow runs created through the API in {time.perf_counter() - started:.1f} s", flush=True)
        events = make_events(args.devices, args.days, runs, end)
        since = end - timedelta(days=args.days + 1)
        started = time.perf_counter()
        requests = 0
        for i in range(0, len(events), 1000):
            # The server's in-memory message queue holds 10,000 events and drops the rest (its log
            # says "Subscription queue is full"): keep at most 5,000 posted but not yet stored.
            while i - stored(api, since) > 4000:
                time.sleep(1)
            post(api, "/events", events[i:i + 1000])
            requests += 1
        deadline = time.monotonic() + 600
        while (count := stored(api, since)) < len(events) and time.monotonic() < deadline:
            time.sleep(1)
        print(f"{count} events posted in {requests} requests and stored in {time.perf_counter() - started:.1f} s",
              flush=True)

    from prefect.client.orchestration import get_client

    from nornflow.flows import fleet_report
    from nornflow.monitor.history import Fetcher
    from nornflow.monitor.report import Window, build

    calls: Counter[str] = Counter()

    def count(request: httpx.Request) -> None:
        path = request.url.path.split("/api", 1)[-1]
        calls[path if "/filter/next" not in path else "/events/filter/next"] += 1

    def fetch(skip: tuple[str, ...]) -> tuple[float, int, Any]:
        calls.clear()
        started = time.perf_counter()
        with get_client(sync_client=True, httpx_settings={"event_hooks": {"request": [count]}}) as client:
            history = Fetcher(client, Window.ending(datetime.now(UTC), 7), skip_flows=skip, history_days=30).fetch()
        return time.perf_counter() - started, sum(calls.values()), history

    times: dict[str, list[float]] = {"fetch": [], "fetch-all": [], "flow": []}
    requests: dict[str, int] = {}
    report = every = None
    by_endpoint: Counter[str] = Counter()
    for attempt in range(args.runs):
        seconds, requests["fetch"], history = fetch(HEALTH_FLOWS)
        times["fetch"].append(seconds)
        by_endpoint = Counter(calls)
        report = build(history, stale_days=7)
        seconds, requests["fetch-all"], history_all = fetch(())
        times["fetch-all"].append(seconds)
        every = build(history_all, stale_days=7)
        started = time.perf_counter()
        state = fleet_report(window_days=7, history_days=30, return_state=True)
        times["flow"].append(time.perf_counter() - started)
        print(f"run {attempt + 1}: fetch {times['fetch'][-1]:.2f} s ({requests['fetch']} HTTP requests, "
              f"{history.api_calls} counted by the fetcher, {len(history.runs)} runs); counting the health flows "
              f"{times['fetch-all'][-1]:.2f} s ({requests['fetch-all']} requests, {len(history_all.runs)} runs); "
              f"flow end to end {times['flow'][-1]:.2f} s ({state.type.value})", flush=True)
    assert report is not None and every is not None
    print("\nrequests of one fetch (as scheduled), by endpoint:")
    for path, n in sorted(by_endpoint.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d}  {path}")
    print(f"\nreport: {len(report.devices)} devices, {report.runs} runs in the window ({every.runs} counting the "
          f"health flows), device success {(report.device_success or 0) * 100:.1f}%, {len(report.failing)} failing "
          f"every run, {len(report.flaky)} flakiest listed, {len(report.stale)} without a backup in 7 d")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nmedians of {args.runs} runs")
    print("| devices | days | events | flow runs | HTTP requests (fetch) | fetch | fleet_report flow "
          "| fetch counting health flows (requests) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.devices} | {args.days} | {len(events)} | {made} | {requests['fetch']} | {med['fetch']:.2f} s "
          f"| {med['flow']:.2f} s | {med['fetch-all']:.2f} s ({requests['fetch-all']}) |")


if __name__ == "__main__":
    main()
