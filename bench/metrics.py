"""Benchmark: what a Prometheus scrape of the gateway's ``/metrics`` costs at 1,000 devices.

One workspace server (``prefect server start``, SQLite, started by the gateway's supervisor) gets a week
of history for ``--devices`` devices, written through the API the way the flows write it (the device
events and compliance checks of ``bench/fleet_report.py``: 2 flows a day per device). The gateway runs
in its own process (``nornflow serve`` fronting that server), so it does not share this process's GIL
with the client being measured. Then:

- one fleet reading (what a scrape starts when the last one is older than ``fleet_metrics_seconds``):
  ``read_fleet`` against the server, ``--runs`` times: its median time and its API calls;
- scrape latency: ``--scrapes`` sequential ``GET /metrics`` with a metrics token, interleaved with the
  baselines ``GET /healthz`` (the gateway answering itself) and ``GET /w/<ws>/api/health`` (forwarded to
  Prefect); median and p95 of each, and the ratios. With the default ``--refresh 15`` (a reading at most
  every 15 s, as often as Prometheus scrapes) a few scrapes overlap a reading in the gateway's
  background thread; they are in the p95.

    .venv/bin/python bench/metrics.py --devices 1000 --scrapes 300
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_report as history  # bench/fleet_report.py: the same history as the fleet report's bench
from gateway import gateway_in_front, pct  # bench/gateway.py: the gateway in its own process


def seed(api: httpx.Client, devices: int, days: int) -> int:
    end = datetime.now(UTC)
    runs = history.make_runs(api, days, end, health_days=0)
    events = history.make_events(devices, days, runs, end)
    since = end - timedelta(days=days + 1)
    for start in range(0, len(events), 1000):
        # The server's in-memory queue holds 10,000 events and drops the rest: keep at most 5,000 in flight.
        while start - history.stored(api, since) > 4000:
            time.sleep(1)
        history.post(api, "/events", events[start:start + 1000])
    deadline = time.monotonic() + 300
    while history.stored(api, since) < len(events):
        if time.monotonic() > deadline:
            raise SystemExit(f"only {history.stored(api, since)} of {len(events)} events stored after 300 s")
        time.sleep(1)
    return len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="fleet readings timed")
    parser.add_argument("--refresh", type=float, default=15.0, help="the gateway's fleet_metrics_seconds")
    args = parser.parse_args()

    from nornflow.gateway.proxy.upstream import Supervisor, free_port
    from nornflow.gateway.settings import load_settings
    from nornflow.monitor.fleet_state import read_fleet

    with tempfile.TemporaryDirectory() as tmp:
        env = {"PREFECT_SERVER_EVENTS_RETENTION_PERIOD": "P60D",
               "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "1000",
               "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1"}
        settings = load_settings(None, port=free_port(), data_dir=Path(tmp) / "gw",
                                 workspaces=[{"name": "bench", "env": env}])
        supervisor = Supervisor(settings)
        started = time.perf_counter()
        supervisor.start()
        print(f"workspace server up in {time.perf_counter() - started:.1f} s", flush=True)
        try:
            upstream = supervisor.upstreams["bench"]
            with httpx.Client(base_url=upstream.api_url, headers={"authorization": upstream.authorization},
                              timeout=120) as api:
                started = time.perf_counter()
                count = seed(api, args.devices, args.days)
            print(f"{count} device events for {args.devices} devices over {args.days} days stored in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)

            readings = []
            for _ in range(args.runs):
                state = read_fleet(upstream.api_url, upstream.authorization)
                readings.append(state.seconds)
            print(f"fleet reading: median {statistics.median(readings):.3f} s over {args.runs} "
                  f"({state.api_calls} API calls; devices {state.devices}, drifted {state.drifted}, "
                  f"stale backups {state.stale_backups})", flush=True)

            refresh = {"NORNFLOW_FLEET_METRICS_SECONDS": str(args.refresh)}
            with gateway_in_front(settings, upstream, "prometheus", "metrics", refresh) as token:
                base = settings.public_base_url
                auth = {"authorization": f"Bearer {token}"}
                with httpx.Client(timeout=60) as client:
                    deadline = time.monotonic() + 120
                    while b"nornflow_fleet_devices{" not in client.get(f"{base}/metrics", headers=auth).content:
                        if time.monotonic() > deadline:
                            raise SystemExit("the gateway's first fleet reading did not arrive within 120 s")
                        time.sleep(0.5)
                    targets = {"metrics": (f"{base}/metrics", auth), "healthz": (f"{base}/healthz", {}),
                               "api health": (f"{base}/w/bench/api/health", {})}
                    samples: dict[str, list[float]] = {name: [] for name in targets}
                    size = 0
                    for index in range(args.scrapes):
                        order = list(targets) if index % 2 == 0 else list(reversed(targets))
                        for name in order:
                            url, headers = targets[name]
                            began = time.perf_counter()
                            reply = client.get(url, headers=headers)
                            samples[name].append((time.perf_counter() - began) * 1000)
                            reply.raise_for_status()
                            if name == "metrics":
                                size = len(reply.content)
        finally:
            supervisor.stop()

    print(f"\n{args.scrapes} scrapes each, sequential, gateway in its own process (fleet_metrics_seconds "
          f"{args.refresh:g}); /metrics answer {size} bytes")
    print(f"{'':<12} {'median ms':>10} {'p95 ms':>8}")
    for name, values in samples.items():
        print(f"{name:<12} {statistics.median(values):>10.2f} {pct(values, 0.95):>8.2f}")
    for baseline in ("healthz", "api health"):
        median = statistics.median(samples["metrics"]) / statistics.median(samples[baseline])
        p95 = pct(samples["metrics"], 0.95) / pct(samples[baseline], 0.95)
        print(f"/metrics / {baseline}: median {median:.2f}x, p95 {p95:.2f}x")


if __name__ == "__main__":
    main()
