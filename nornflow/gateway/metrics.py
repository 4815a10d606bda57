"""``/metrics``: the gateway and the fleet in Prometheus's exposition format, for a ``metrics`` token.

Two kinds of series:

- **The gateway's own**, counted as requests pass: requests and their latency (per workspace,
  ``kind`` api/ui/gateway), denials, logins, rate-limit hits and upstream errors. Denials, logins
  and rate-limit hits are read off the audit records as they are written (``AuditLog.on_append``),
  so a metric and the audit log never disagree about what was refused.
- **The fleet's state**, per workspace: devices by their last outcome, the age of the last good
  backup, drifted devices, open approvals (paused runs), runs by state, as
  :func:`nornflow.monitor.fleet_state.read_fleet` reads them through the fleet report's own reads.
  They are read at most every ``refresh_seconds`` in the background and a scrape only renders the
  last reading, so a scrape every 15 s costs the same at 10 or 1,000 devices (``bench/metrics.py``).

A scrape shows the gateway-wide series (logins, the gateway's own pages, label ``workspace=""``)
and the series of the token's workspace: a ``metrics`` token of one workspace learns nothing of
another's fleet. Nothing here carries a user name, a device name or a secret as a label.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.exposition import generate_latest
    from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("the gateway's /metrics needs prometheus-client: pip install 'nornflow-netops[gateway]'") \
        from exc

from nornflow.gateway.auth.caller import Unauthenticated, auth_string_from_header, split_auth_string
from nornflow.gateway.policy.pages import OWN_ROUTES
from nornflow.gateway.proxy.front import Front
from nornflow.monitor.fleet_state import FleetState, read_fleet

log = logging.getLogger("nornflow.gateway")

#: The classic text format (0.0.4): what generate_latest writes for names like ours, read by every Prometheus.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_WORKSPACE_PATH = re.compile(r"^/w/([a-z0-9][a-z0-9-]{0,39})(/.*)?$")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def classify(path: str, workspaces: Iterable[str]) -> tuple[str, str]:
    """(workspace, kind) of a request path: kind is api, ui or gateway (its own pages, /metrics...).
    An unknown workspace counts as the gateway's (its 404), so a scanner cannot mint label values."""
    match = _WORKSPACE_PATH.match(path)
    if match and match.group(1) in workspaces:
        rest = match.group(2) or "/"
        return match.group(1), "api" if rest == "/api" or rest.startswith("/api/") else "ui"
    return "", "gateway"


def ratelimit_kind(reason: str) -> str:
    """Which limit a ``ratelimited`` audit record is about, from its reason."""
    if reason.startswith("login lockout"):
        return "login"
    if reason.startswith("too many failed authentications"):
        return "auth"
    if "websocket" in reason:
        return "websocket"
    return "api"


class GatewayMetrics:
    """The gateway's counters and histograms, in a registry of their own (one per gateway)."""

    def __init__(self, workspaces: Iterable[str]) -> None:
        self.workspaces = frozenset(workspaces)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("nornflow_gateway_requests", "HTTP requests answered, by workspace, kind "
                                "(api, ui, gateway), method and status code",
                                ["workspace", "kind", "method", "code"], registry=r)
        self.latency = Histogram("nornflow_gateway_request_duration_seconds", "Time to answer a request, "
                                 "from its arrival to the last byte sent", ["workspace", "kind"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.denials = Counter("nornflow_gateway_denials", "Requests refused (audited as denied), by workspace "
                               "and status code", ["workspace", "code"], registry=r)
        self.logins = Counter("nornflow_gateway_logins", "Logins on the gateway's page, by outcome (ok, failed, "
                              "locked)", ["outcome"], registry=r)
        self.ratelimited = Counter("nornflow_gateway_ratelimited", "Rate-limit and lockout hits, by workspace and "
                                   "limit (api, auth, login, websocket)", ["workspace", "limit"], registry=r)
        self.upstream_errors = Counter("nornflow_gateway_upstream_errors", "Requests a workspace's Prefect server "
                                       "did not answer (connection refused, timeout...)", ["workspace"], registry=r)
        for workspace in sorted(self.workspaces):  # zeros from the start: rate() and absent() behave
            self.upstream_errors.labels(workspace)
            self.denials.labels(workspace, "403")
        for outcome in ("ok", "failed", "locked"):
            self.logins.labels(outcome)

    # -- what the gateway reports --------------------------------------------------------------
    def observe_request(self, path: str, method: str, status: int, seconds: float) -> None:
        workspace, kind = classify(path, self.workspaces)
        method = method if method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS") else "OTHER"
        self.requests.labels(workspace, kind, method, str(status)).inc()
        self.latency.labels(workspace, kind).observe(seconds)

    def upstream_error(self, workspace: str) -> None:
        self.upstream_errors.labels(workspace if workspace in self.workspaces else "").inc()

    def observe_record(self, record: Mapping[str, Any]) -> None:
        """An ``AuditLog.on_append`` callback: denials, logins and rate-limit hits as they are audited."""
        action = str(record.get("action") or "")
        workspace = str(record.get("workspace") or "")
        workspace = workspace if workspace in self.workspaces else ""
        raw = record.get("detail")
        detail: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        if action == "denied":
            self.denials.labels(workspace, str(record.get("status") or "")).inc()
        elif action == "login.ok":
            self.logins.labels("ok").inc()
        elif action == "login.failed":
            self.logins.labels("failed").inc()
        elif action == "ratelimited":
            reason = str(detail.get("reason") or "")
            muted = detail.get("muted")
            # A lockout writes one record per address and 10 s; ``muted`` says how many it left out before it.
            hits = 1 + (muted if isinstance(muted, int) and muted > 0 else 0)
            kind = ratelimit_kind(reason)
            self.ratelimited.labels(workspace, kind).inc(hits)
            if kind == "login":
                self.logins.labels("locked").inc(hits)

    # -- the scrape ------------------------------------------------------------------------------
    def render(self, workspace: str, fleet: FleetMetrics | None = None) -> bytes:
        """The exposition text for a token of ``workspace``: gateway-wide series and that workspace's."""
        return generate_latest(_Only(self.registry, workspace, fleet))


class _Only(Collector):
    """A view of the registry (and the fleet) holding only the samples a token of one workspace may see."""

    def __init__(self, registry: CollectorRegistry, workspace: str, fleet: FleetMetrics | None) -> None:
        self.registry, self.workspace, self.fleet = registry, workspace, fleet

    def collect(self) -> Iterator[Metric]:
        allowed = ("", self.workspace)
        for metric in self.registry.collect():
            metric.samples = [s for s in metric.samples if s.labels.get("workspace", "") in allowed]
            yield metric
        if self.fleet is not None:
            yield from self.fleet.collect(self.workspace)


# -- the fleet -----------------------------------------------------------------------------------
Reader = Callable[[str], FleetState]


class FleetMetrics:
    """The fleet's gauges per workspace, read in the background at most every ``refresh_seconds``.

    A scrape never waits for Prefect: it renders the last reading and, when that is older than
    ``refresh_seconds``, starts the next one (one at a time per workspace). Until the first reading
    a workspace shows only ``nornflow_fleet_refresh_errors_total``.
    """

    def __init__(self, readers: Mapping[str, Reader], *, refresh_seconds: float = 60.0) -> None:
        self.readers = dict(readers)
        self.refresh_seconds = refresh_seconds
        self.states: dict[str, FleetState] = {}
        self.errors: dict[str, int] = dict.fromkeys(self.readers, 0)
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_upstreams(cls, upstreams: Mapping[str, Any], *, refresh_seconds: float = 60.0,
                      **options: Any) -> FleetMetrics:
        """Readers for the gateway's upstreams (objects with ``api_url`` and ``authorization``)."""
        def reader(upstream: Any) -> Reader:
            return lambda name: read_fleet(upstream.api_url, upstream.authorization, **options)
        return cls({name: reader(up) for name, up in upstreams.items()}, refresh_seconds=refresh_seconds)

    def stale(self, workspace: str) -> bool:
        state = self.states.get(workspace)
        return state is None or time.time() - state.at >= self.refresh_seconds

    def poke(self, workspace: str) -> asyncio.Task[None] | None:
        """Start a reading of ``workspace`` if its last one is stale and none is running; the task or None."""
        if workspace not in self.readers or not self.stale(workspace):
            return None
        task = self._inflight.get(workspace)
        if task is not None and not task.done():
            return task
        task = asyncio.get_running_loop().create_task(self.refresh(workspace))
        self._inflight[workspace] = task
        return task

    async def aclose(self) -> None:
        """At shutdown: stop waiting for readings in flight (their threads end with their HTTP calls)."""
        tasks = [task for task in self._inflight.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def refresh(self, workspace: str) -> None:
        try:
            state = await asyncio.to_thread(self.readers[workspace], workspace)
        except Exception as exc:  # a workspace that does not answer keeps its last reading, and counts
            self.errors[workspace] = self.errors.get(workspace, 0) + 1
            log.warning("metrics: reading workspace %s's fleet failed: %s", workspace, type(exc).__name__)
            return
        with self._lock:
            self.states[workspace] = state

    def collect(self, workspace: str) -> Iterator[Metric]:
        errors = CounterMetricFamily("nornflow_fleet_refresh_errors", "Fleet readings that failed",
                                     labels=["workspace"])
        errors.add_metric([workspace], self.errors.get(workspace, 0))
        yield errors
        state = self.states.get(workspace)
        if state is None:
            return
        ws = [workspace]

        def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily | None:
            if value is None:
                return None
            family = GaugeMetricFamily(name, doc, labels=["workspace"])
            family.add_metric(ws, value)
            return family

        def by(name: str, doc: str, label: str, values: Mapping[str, int]) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=["workspace", label])
            for key, value in sorted(values.items()):
                family.add_metric([workspace, key], value)
            return family

        yield by("nornflow_fleet_devices", "Devices by the outcome of their last run (history_days back)",
                 "outcome", state.devices)
        yield by("nornflow_fleet_backup_age_devices", "Devices by the age of their last good backup "
                 "(under 1d, 7d, 30d, older; none: no good backup in the history)", "age", state.backup_bands)
        yield by("nornflow_fleet_runs", "Flow runs by state: open states whatever their age, finished ones "
                 "expected to start in the last 24 h", "state", state.runs)
        for family in (
            gauge("nornflow_fleet_backup_oldest_age_seconds", "Age of the oldest last good backup",
                  state.oldest_backup_seconds),
            gauge("nornflow_fleet_backup_stale_devices", "Devices without a good backup for stale_days or more",
                  state.stale_backups),
            gauge("nornflow_fleet_drifted_devices", "Devices whose last compliance check found drift", state.drifted),
            gauge("nornflow_fleet_compliant_devices", "Devices whose last compliance check was compliant",
                  state.compliant),
            gauge("nornflow_fleet_approvals_open", "Flow runs paused for an approval", state.open_approvals),
            gauge("nornflow_fleet_refresh_timestamp_seconds", "When the fleet was last read (Unix time)", state.at),
            gauge("nornflow_fleet_refresh_duration_seconds", "How long the last reading took", state.seconds),
            gauge("nornflow_fleet_refresh_api_calls", "Prefect API calls the last reading made", state.api_calls),
        ):
            if family is not None:
                yield family


# -- the route -----------------------------------------------------------------------------------
_REFUSED = "send a NornFlow token with the metrics role: Authorization: Bearer <token> (or Basic <user>:<token>)"


class MetricsRoute:
    """``GET /metrics`` for a token holding the ``metrics`` permission in its workspace.

    Handed what it needs by the composer: the store (to verify the token), ``deny``/``finish`` of the
    gateway's front (audit and headers), the lockout of failed authentications, and the metrics.
    A session cookie is not enough: a scrape is a machine's, and a browser never needs it.
    """

    def __init__(self, metrics: GatewayMetrics, fleet: FleetMetrics | None, *, verify: Callable[[str], Any],
                 perms_for: Callable[[Iterable[str]], frozenset[Any]], front: Front) -> None:
        self.metrics, self.fleet = metrics, fleet
        self.verify, self.perms_for, self.front = verify, perms_for, front

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return self.front.finish(JSONResponse({"detail": "/metrics is read with GET"}, 405))
        ip = self.front.ip_of(request)
        header = request.headers.get("authorization")
        try:
            auth_string = auth_string_from_header(header) if header else None
        except Unauthenticated as exc:
            auth_string, problem = None, exc.reason
        else:
            problem = _REFUSED
        claimed, token = split_auth_string(auth_string) if auth_string else ("", "")
        info = self.verify(token) if token else None
        if info is not None and claimed and claimed != info.user:
            info = None
        if info is None:
            locked, muted = self.front.auth_locked(ip)
            if locked > 0:
                reason = f"too many failed authentications from {ip}: retry in {int(locked) + 1} s"
                if muted is not None:
                    self.front.record(request, "", "", "ratelimited", 429, {"reason": reason, "muted": muted})
                response = self.front.finish(JSONResponse({"detail": reason}, 429))
                response.headers["retry-after"] = str(int(locked) + 1)
                return response
            if token:
                self.front.auth_failed(ip)
                problem = "the token is invalid, expired or revoked"
            return self.front.deny(request, "", claimed, 401, problem)
        if OWN_ROUTES["/metrics"].perm not in self.perms_for(info.roles):
            return self.front.deny(request, info.workspace, info.user, 403,
                                   f"{info.user}'s token may not read /metrics: it needs the metrics role "
                                   f"(holds {', '.join(sorted(info.roles))})")
        if self.fleet is not None:
            self.fleet.poke(info.workspace)
        body = self.metrics.render(info.workspace, self.fleet)
        response = Response(body, 200, media_type=CONTENT_TYPE)
        response.headers["cache-control"] = "no-store"
        return self.front.finish(response)
