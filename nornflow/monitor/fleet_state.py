"""The fleet's state in one reading: what the gateway's ``/metrics`` shows of a workspace's devices and runs.

The same Prefect reads as the fleet report (:class:`nornflow.monitor.history.Fetcher`):
``/events/count-by/resource`` answers "how many, and the latest when" per device in one call whatever
the fleet's size, once per device event name (ok, changed, failed; a good backup; drift, compliant),
then one ``/flow_runs/count`` per run state: 15 calls in all. Blocking (plain httpx with the
workspace's internal credential): the gateway runs it in a thread, in the background.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from nornflow.config.events import COMPLIANT, DRIFT
from nornflow.monitor.device_events import FAILED, GOOD
from nornflow.monitor.history import Fetcher
from nornflow.monitor.report import Window

#: Non-terminal run states are counted whatever their age; terminal ones over the last RUNS_WINDOW.
OPEN_STATES = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING")
DONE_STATES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
RUNS_WINDOW = timedelta(hours=24)
#: Backup age bands (upper bound in days, label); a device with no good backup in the history is "none".
BACKUP_BANDS = ((1.0, "1d"), (7.0, "7d"), (30.0, "30d"), (float("inf"), "older"))
OUTCOMES = ("ok", "changed", "failed")


@dataclass
class FleetState:
    """One reading of a workspace's fleet (what the gauges show until the next one)."""

    at: float  # time.time() of the reading
    seconds: float  # how long it took
    api_calls: int
    devices: dict[str, int] = field(default_factory=dict)  # last outcome -> devices
    backup_bands: dict[str, int] = field(default_factory=dict)  # age band -> devices
    oldest_backup_seconds: float | None = None
    stale_backups: int = 0
    drifted: int = 0
    compliant: int = 0
    open_approvals: int = 0
    runs: dict[str, int] = field(default_factory=dict)  # state type -> runs


class _HttpClient:
    """The two calls :class:`Fetcher` makes here, over plain httpx with the workspace's internal credential."""

    def __init__(self, api_url: str, authorization: str, timeout: float) -> None:
        self.http = httpx.Client(base_url=api_url, headers={"authorization": authorization}, timeout=timeout)

    def request(self, method: str, path: str, *, path_params: Mapping[str, str] | None = None,
                json: Any = None) -> httpx.Response:
        return self.http.request(method, path.format(**(path_params or {})), json=json)

    def close(self) -> None:
        self.http.close()


def read_fleet(api_url: str, authorization: str, *, now: datetime | None = None, history_days: float = 30.0,
               stale_days: float = 7.0, backup_flow: str = "backup_configs", timeout: float = 30.0) -> FleetState:
    """Read one workspace's fleet state from its Prefect API (blocking: run it in a thread)."""
    started, moment = time.monotonic(), now or datetime.now(UTC)
    since = moment - timedelta(days=history_days)
    client = _HttpClient(api_url, authorization, timeout)
    try:
        fetcher = Fetcher(client, Window(since, moment), history_days=history_days, backup_flow=backup_flow)
        latest: dict[str, tuple[datetime, str]] = {}
        for outcome, name in (("ok", GOOD[0]), ("changed", GOOD[1]), ("failed", FAILED)):
            for host, (_, when) in fetcher.count_by_device([name], since, moment, flows=[]).items():
                if host not in latest or when > latest[host][0]:
                    latest[host] = (when, outcome)
        backups = fetcher.count_by_device(list(GOOD), since, moment, flows=[backup_flow])
        compliance: dict[str, tuple[datetime, str]] = {}
        for state, name in (("drifted", DRIFT), ("compliant", COMPLIANT)):
            for host, (_, when) in fetcher.count_by_device([name], since, moment, flows=[]).items():
                if host not in compliance or when > compliance[host][0]:
                    compliance[host] = (when, state)
        runs = {state: _count_runs(client, fetcher, state, None) for state in OPEN_STATES}
        runs.update({state: _count_runs(client, fetcher, state, moment - RUNS_WINDOW) for state in DONE_STATES})
        calls = fetcher.calls
    finally:
        client.close()
    devices = dict.fromkeys(OUTCOMES, 0)
    for _, outcome in latest.values():
        devices[outcome] += 1
    bands = {label: 0 for _, label in BACKUP_BANDS} | {"none": 0}
    ages = []
    for host in set(latest) | set(backups):
        if host not in backups:
            bands["none"] += 1
            continue
        age = max((moment - backups[host][1]).total_seconds(), 0.0)
        ages.append(age)
        bands[next(label for bound, label in BACKUP_BANDS if age < bound * 86400)] += 1
    stale = bands["none"] + sum(age >= stale_days * 86400 for age in ages)
    states = [state for _, state in compliance.values()]
    return FleetState(at=time.time(), seconds=time.monotonic() - started, api_calls=calls, devices=devices,
                      backup_bands=bands, oldest_backup_seconds=max(ages) if ages else None, stale_backups=stale,
                      drifted=states.count("drifted"), compliant=states.count("compliant"),
                      open_approvals=runs.get("PAUSED", 0), runs=runs)


def _count_runs(client: _HttpClient, fetcher: Any, state: str, after: datetime | None) -> int:
    runs: dict[str, Any] = {"state": {"type": {"any_": [state]}}}
    if after is not None:
        runs["expected_start_time"] = {"after_": after.isoformat()}
    fetcher.calls += 1
    reply = client.request("POST", "/flow_runs/count", json={"flow_runs": runs})
    reply.raise_for_status()
    return int(reply.json())
