"""Benchmark: team mode's cost. The backup flow and API reads, through the gateway against direct.

One workspace server (``prefect server start``, SQLite) is started once; the gateway fronts it
from its own process (``nornflow serve`` with the workspace's ``url``: a server already running),
so that it does not share this process's GIL with the client being measured. Then, alternating
which goes first:
- ``backup_configs`` over a lab of ``--size`` devices (lab in its own process), its Prefect API
  calls going straight to the server (internal credential) or through the gateway (a worker token);
- API latency under concurrent load: ``--clients`` concurrent clients each sending ``--requests``
  reads (``POST /flow_runs/filter``), direct and through the gateway; p50/p99 of each.
Prints medians of ``--runs`` and the ratios (targets: flow <= 1.05x, added p99 < 5 ms).

    .venv/bin/python bench/gateway.py --size 100 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from nornflow.settings import apply_prefect_defaults

apply_prefect_defaults()


def backup(inventory: Path, out: Path, api_url: str, auth: str) -> tuple[float, int]:
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from nornflow.engine.run import result_of
    from nornflow.flows import backup_configs

    with temporary_settings({PREFECT_API_URL: api_url, PREFECT_API_AUTH_STRING: auth}):
        started = time.perf_counter()
        state = backup_configs(inventory=str(inventory), backup_dir=str(out), retries=0, return_state=True)
        elapsed = time.perf_counter() - started
    return elapsed, len(result_of(state).ok_hosts)


async def latency(api_url: str, auth: str, clients: int, requests: int) -> list[float]:
    import base64

    header = {"authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    samples: list[float] = []

    async def one(client: httpx.AsyncClient) -> None:
        for _ in range(requests):
            started = time.perf_counter()
            reply = await client.post(f"{api_url}/flow_runs/filter", json={"limit": 5})
            samples.append((time.perf_counter() - started) * 1000)
            reply.raise_for_status()

    async with httpx.AsyncClient(headers=header, timeout=30) as client:
        await asyncio.gather(*(one(client) for _ in range(clients)))
    return samples


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def gateway_in_front(settings: Any, upstream: Any, user: str, role: str, env: dict[str, str],
                     ready: str = "/healthz") -> Iterator[str]:
    """``nornflow serve`` in its own process in front of the running workspace server ``upstream``
    (workspace ``bench``), until the block ends; yields a token of ``user``, who holds ``role`` there.
    ``ready``: the gateway path that answers 200 once it serves."""
    from nornflow.gateway.serve import open_state

    store, _ = open_state(settings)
    store.add_user(user, "bench-password-123", {"bench": [role]})
    _, token = store.create_token(user, "bench", [role], timedelta(hours=1))
    workspaces = json.dumps([{"name": "bench", "url": upstream.api_url, "auth_string": upstream.auth_string}])
    gateway = subprocess.Popen(
        [sys.executable, "-m", "nornflow.cli", "serve"],
        env={**os.environ, "NORNFLOW_PORT": str(settings.port), "NORNFLOW_DATA_DIR": str(settings.data_dir),
             "NORNFLOW_WORKSPACES": workspaces, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{settings.public_base_url}{ready}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if gateway.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the gateway did not answer {ready} within 120 s (exit code {gateway.poll()})")
            time.sleep(0.2)
        yield token
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=250)
    parser.add_argument("--no-flow", action="store_true", help="measure API latency only")
    args = parser.parse_args()

    from nornflow.gateway.proxy.upstream import Supervisor, free_port
    from nornflow.gateway.settings import load_settings
    from nornflow.lab import daemon

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, port=free_port(), data_dir=Path(tmp) / "gw", workspaces=[{"name": "bench"}],
                                 api_rate_per_second=100_000, api_burst=100_000)
        supervisor = Supervisor(settings)
        started = time.perf_counter()
        supervisor.start()
        print(f"workspace server up in {time.perf_counter() - started:.1f} s", flush=True)
        lab_dir = Path(tmp) / "lab"
        inventory = Path(daemon.up(lab_dir, size=args.size)["inventory"])
        try:
            upstream = supervisor.upstreams["bench"]
            rate = {"NORNFLOW_API_RATE_PER_SECOND": "100000", "NORNFLOW_API_BURST": "100000"}
            with gateway_in_front(settings, upstream, "bench-worker", "worker", rate,
                                  ready="/w/bench/api/health") as token:
                gateway_url = f"{settings.public_base_url}/w/bench/api"
                routes = {"direct": (upstream.api_url, upstream.auth_string),
                          "gateway": (gateway_url, f"bench-worker:{token}")}
                flows: dict[str, list[float]] = {name: [] for name in routes}
                p50: dict[str, list[float]] = {name: [] for name in routes}
                p99: dict[str, list[float]] = {name: [] for name in routes}
                if not args.no_flow:
                    backup(inventory, Path(tmp) / "warm", *routes["direct"])  # imports, first flow run
                for run in range(args.runs):
                    order = list(routes) if run % 2 == 0 else list(reversed(routes))
                    for name in order:
                        url, auth = routes[name]
                        elapsed, ok = (0.0, 0) if args.no_flow else backup(inventory, Path(tmp) / f"{name}-{run}", url,
                                                                        auth)
                        flows[name].append(elapsed)
                        samples = asyncio.run(latency(url, auth, args.clients, args.requests))
                        p50[name].append(pct(samples, 0.50))
                        p99[name].append(pct(samples, 0.99))
                        print(f"run {run + 1} {name:>7}: backup {elapsed:6.2f} s ({ok}/{args.size} ok), "
                              f"reads p50 {p50[name][-1]:.2f} ms p99 {p99[name][-1]:.2f} ms", flush=True)
        finally:
            daemon.down(lab_dir)
            supervisor.stop()
    med = {key: {name: statistics.median(v) for name, v in table.items()}
           for key, table in (("flow", flows), ("p50", p50), ("p99", p99))}
    print(f"\n| {args.size} devices | direct | through the gateway | ratio / added |")
    print("|---|---:|---:|---:|")
    if not args.no_flow:
        print(f"| backup_configs flow | {med['flow']['direct']:.2f} s | {med['flow']['gateway']:.2f} s "
              f"| {med['flow']['gateway'] / med['flow']['direct']:.3f}x |")
    for key in ("p50", "p99"):
        print(f"| read {key} ({args.clients} concurrent clients) | {med[key]['direct']:.2f} ms "
              f"| {med[key]['gateway']:.2f} ms | +{med[key]['gateway'] - med[key]['direct']:.2f} ms |")


if __name__ == "__main__":
    main()
