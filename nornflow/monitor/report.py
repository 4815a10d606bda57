"""The fleet report's arithmetic: from facts about runs and devices to the rows people read.

No I/O here (:mod:`nornflow.monitor.history` fetches the facts, :mod:`nornflow.monitor.publish`
shows the result), so every number is unit-tested. Definitions:

- success rate: completed runs / finished runs (cancelled ones do not count either way);
  for a device, good runs (``ok`` or ``changed``) / (good + failed).
- p50 / p95: nearest-rank percentiles of the run durations (the value at rank ⌈q·n⌉).
- trend: the change against the window before, the same length: percentage points for a
  success rate, percent for a duration; changes under 5 % (or 1 point) read as steady.
- flaky: a device that failed some runs *and* succeeded others in the window, ranked by
  its share of failed runs, then by its number of failures. A device that never
  succeeded is down, not flaky: it tops the device table instead.
- stale backup: no good ``backup_configs`` run of the device for ``stale_days`` or more
  (or none within the history the server keeps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

GOOD_STATES = ("COMPLETED",)
BAD_STATES = ("FAILED", "CRASHED")
STEADY_PERCENT = 5.0
STEADY_POINTS = 1.0


@dataclass(frozen=True)
class Window:
    """A time span ``[start, end)``; :attr:`previous` is the span of the same length before it."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, days: float) -> Window:
        return cls(end - timedelta(days=days), end)

    @property
    def previous(self) -> Window:
        return Window(self.start - (self.end - self.start), self.start)

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class RunFact:
    """One finished flow run."""

    flow: str
    deployment: str | None
    state: str  # COMPLETED, FAILED, CRASHED, CANCELLED
    started: datetime
    duration: float


@dataclass
class DeviceFacts:
    """What the events say about one device (counts per window, latest times)."""

    host: str
    ok: int = 0
    failed: int = 0
    prev_ok: int = 0
    prev_failed: int = 0
    last_failure: datetime | None = None
    last_failure_flow: str | None = None
    last_error: str | None = None
    last_good_backup: datetime | None = None
    last_change: datetime | None = None
    compliance: str | None = None  # "compliant" or "drifted"
    compliance_at: datetime | None = None


@dataclass
class History:
    """Everything the report needs, as fetched; ``daily`` is (day start, good, failed) per day."""

    window: Window
    runs: list[RunFact] = field(default_factory=list)
    devices: dict[str, DeviceFacts] = field(default_factory=dict)
    daily: list[tuple[datetime, int, int]] = field(default_factory=list)
    history_days: float = 30.0
    notes: list[str] = field(default_factory=list)
    api_calls: int = 0

    def device(self, host: str) -> DeviceFacts:
        if host not in self.devices:
            self.devices[host] = DeviceFacts(host)
        return self.devices[host]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(q * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]


def rate(good: int, bad: int) -> float | None:
    """Share of good in good + bad, 0..1; None when nothing ran."""
    total = good + bad
    return None if total == 0 else good / total


def points_trend(now: float | None, before: float | None) -> str:
    """A success rate's change in percentage points: ``▲ +12 pt``, ``▼ -40 pt``, ``= steady``, ``new``."""
    if now is None:
        return ""
    if before is None:
        return "new"
    delta = (now - before) * 100
    if abs(delta) < STEADY_POINTS:
        return "= steady"
    return f"{'▲' if delta > 0 else '▼'} {delta:+.0f} pt"


def percent_trend(now: float | None, before: float | None) -> str:
    """A duration's change in percent: ``▲ +25%`` (slower), ``▼ -10%`` (faster), ``= steady``, ``new``."""
    if now is None:
        return ""
    if before is None or before <= 0:
        return "new"
    change = (now - before) / before * 100
    if abs(change) < STEADY_PERCENT:
        return "= steady"
    return f"{'▲' if change > 0 else '▼'} {change:+.0f}%"


@dataclass
class FlowRow:
    """One flow (and deployment) over the window and the window before."""

    flow: str
    deployment: str | None
    runs: int
    failed: int
    success: float | None
    p50: float | None
    p95: float | None
    prev_runs: int
    prev_success: float | None
    prev_p50: float | None
    prev_p95: float | None

    @property
    def success_trend(self) -> str:
        return points_trend(self.success, self.prev_success)

    @property
    def p50_trend(self) -> str:
        return percent_trend(self.p50, self.prev_p50)

    @property
    def p95_trend(self) -> str:
        return percent_trend(self.p95, self.prev_p95)


def _stats(runs: list[RunFact]) -> tuple[int, int, float | None, float | None, float | None]:
    good = sum(r.state in GOOD_STATES for r in runs)
    bad = sum(r.state in BAD_STATES for r in runs)
    durations = [r.duration for r in runs if r.state in GOOD_STATES + BAD_STATES]
    return len(runs), bad, rate(good, bad), percentile(durations, 0.5), percentile(durations, 0.95)


def flow_rows(history: History) -> list[FlowRow]:
    """One row per (flow, deployment) that ran in either window, busiest first."""
    groups: dict[tuple[str, str | None], tuple[list[RunFact], list[RunFact]]] = {}
    previous = history.window.previous
    for run in history.runs:
        now, before = groups.setdefault((run.flow, run.deployment), ([], []))
        if run.started in history.window:
            now.append(run)
        elif run.started in previous:
            before.append(run)
    rows = []
    for (flow, deployment), (now, before) in groups.items():
        runs, failed, success, p50, p95 = _stats(now)
        prev_runs, _, prev_success, prev_p50, prev_p95 = _stats(before)
        rows.append(FlowRow(flow, deployment, runs, failed, success, p50, p95, prev_runs, prev_success,
                            prev_p50, prev_p95))
    return sorted(rows, key=lambda r: (-r.runs, r.flow, r.deployment or ""))


@dataclass
class DeviceRow:
    """One device's line in the report."""

    host: str
    runs: int
    ok: int
    failed: int
    success: float | None
    prev_success: float | None
    last_failure: datetime | None
    last_error: str | None
    last_failure_flow: str | None
    backup_age_days: float | None
    last_change: datetime | None
    compliance: str | None

    @property
    def flaky(self) -> bool:
        return self.ok > 0 and self.failed > 0


def device_rows(history: History, now: datetime) -> list[DeviceRow]:
    """Every device, worst first: lowest success rate, then most failures, then name."""
    rows = []
    for facts in history.devices.values():
        age = None
        if facts.last_good_backup is not None:
            age = max((now - facts.last_good_backup).total_seconds() / 86400, 0.0)
        rows.append(DeviceRow(
            host=facts.host, runs=facts.ok + facts.failed, ok=facts.ok, failed=facts.failed,
            success=rate(facts.ok, facts.failed), prev_success=rate(facts.prev_ok, facts.prev_failed),
            last_failure=facts.last_failure, last_error=facts.last_error, last_failure_flow=facts.last_failure_flow,
            backup_age_days=age, last_change=facts.last_change, compliance=facts.compliance,
        ))
    return sorted(rows, key=lambda r: (1.0 if r.success is None else r.success, -r.failed, r.host))


def flakiest(rows: list[DeviceRow], count: int = 10) -> list[DeviceRow]:
    """The ``count`` devices that failed some runs and succeeded others, most failing first."""
    flaky = [r for r in rows if r.flaky]
    return sorted(flaky, key=lambda r: (-(r.failed / r.runs), -r.failed, r.host))[:count]


def stale_backups(rows: list[DeviceRow], days: float) -> list[DeviceRow]:
    """Devices whose last good backup is ``days`` old or older, or unknown; oldest (and unknown) first."""
    stale = [r for r in rows if r.backup_age_days is None or r.backup_age_days >= days]
    return sorted(stale, key=lambda r: (-(r.backup_age_days if r.backup_age_days is not None else math.inf),
                                        r.host))


@dataclass
class FleetReport:
    """The report, ready to publish."""

    window: Window
    generated: datetime
    flows: list[FlowRow]
    devices: list[DeviceRow]
    flaky: list[DeviceRow]
    stale: list[DeviceRow]
    stale_days: float
    daily: list[tuple[datetime, int, int]]
    notes: list[str]
    api_calls: int

    @property
    def runs(self) -> int:
        return sum(r.runs for r in self.flows)

    @property
    def failed_runs(self) -> int:
        return sum(r.failed for r in self.flows)

    @property
    def device_success(self) -> float | None:
        return rate(sum(d.ok for d in self.devices), sum(d.failed for d in self.devices))

    @property
    def failing(self) -> list[DeviceRow]:
        """Devices that ran in the window and never succeeded."""
        return [d for d in self.devices if d.runs and not d.ok]


def build(history: History, *, stale_days: float = 7.0, now: datetime | None = None) -> FleetReport:
    """The report over ``history``; ``now`` (default: the window's end) dates the backup ages."""
    moment = now or history.window.end
    devices = device_rows(history, moment)
    return FleetReport(
        window=history.window, generated=moment, flows=flow_rows(history), devices=devices,
        flaky=flakiest(devices), stale=stale_backups(devices, stale_days), stale_days=stale_days,
        daily=history.daily, notes=list(history.notes), api_calls=history.api_calls,
    )
