"""``/metrics`` scraped by a real Prometheus: the gateway's requests, latency, denials, logins, rate-limit hits
and upstream errors per workspace, and the fleet's state read from a real Prefect server; who may scrape,
and which workspace's series each token sees."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.metrics.conftest import PASSWORD, Metered
from tests.servers.prometheus import PrometheusServer

pytestmark = pytest.mark.integration
DASHBOARD = Path(__file__).resolve().parents[3] / "deployments" / "grafana" / "nornflow.json"


def basic(user: str, token: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def device_event(host: str, name: str, flow: str, ago: timedelta) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "occurred": (datetime.now(UTC) - ago).isoformat(), "event": name,
            "resource": {"prefect.resource.id": f"nornflow.device.{host}", "prefect.resource.name": host},
            "related": [{"prefect.resource.id": f"nornflow.flow.{flow}", "prefect.resource.role": "nornflow-flow",
                         "prefect.resource.name": flow}],
            "payload": {"host": host, "flow": flow}}


@pytest.fixture(scope="module")
def fleet(metered: Metered) -> None:
    """Three devices and three runs in workspace core, written straight to its Prefect server."""
    upstream = metered.running.gateway.upstreams["core"]
    with httpx.Client(base_url=upstream.api_url, headers={"authorization": upstream.authorization},
                      timeout=30) as api:
        events = [
            device_event("dev-a", "nornflow.device.run.ok", "backup_configs", timedelta(hours=2)),
            device_event("dev-a", "nornflow.compliance.drift", "check_compliance", timedelta(hours=1)),
            device_event("dev-b", "nornflow.device.run.ok", "backup_configs", timedelta(days=10)),
            device_event("dev-b", "nornflow.compliance.compliant", "check_compliance", timedelta(days=2)),
            device_event("dev-b", "nornflow.device.run.failed", "show_commands", timedelta(hours=1)),
            device_event("dev-c", "nornflow.device.run.changed", "deploy_config", timedelta(minutes=30)),
        ]
        assert api.post("/events", json=events).status_code == 204
        flow = api.post("/flows/", json={"name": "deploy_config"}).json()["id"]
        for state in ("PAUSED", "COMPLETED", "SCHEDULED"):
            created = api.post("/flow_runs/", json={"flow_id": flow, "state": {"type": state}})
            assert created.status_code == 201, created.text
            assert created.json()["state"]["type"] == state


def test_only_a_metrics_token_may_scrape(metered: Metered) -> None:
    url = f"{metered.url}/metrics"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer nft_not_a_token"}, timeout=30).status_code == 401
    refused = httpx.get(url, headers={"authorization": f"Bearer {metered.tokens['vera@core']}"}, timeout=30)
    assert refused.status_code == 403 and "metrics role" in refused.json()["detail"]
    assert httpx.post(url, headers={"authorization": f"Bearer {metered.tokens['prom@core']}"},
                      timeout=30).status_code == 405
    with httpx.Client(base_url=metered.url, timeout=30) as browser:  # a session is not a scrape credential
        assert browser.post("/login", data={"username": "otto", "password": PASSWORD}).status_code == 303
        assert browser.get("/metrics").status_code == 401
    scraped = metered.scrape("prom@core")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE nornflow_gateway_requests_total counter" in scraped.text
    # The metrics role grants nothing else: no reads, no runs, no UI data.
    prom = basic("prom", metered.tokens["prom@core"])
    assert httpx.post(f"{metered.url}/w/core/api/flows/filter", json={}, headers=prom, timeout=30).status_code == 403
    assert httpx.get(f"{metered.url}/w/core/api/admin/settings", headers=prom, timeout=30).json() == {}
    denied = [r for r in metered.running.gateway.audit.tail(action="denied") if r["path"] == "/metrics"]
    assert {r["status"] for r in denied} == {401, 403}


def test_a_token_sees_the_gateway_and_its_own_workspace_only(metered: Metered) -> None:
    core, edge = metered.scrape("prom@core").text, metered.scrape("prom@edge").text
    assert 'workspace="core"' in core and 'workspace="edge"' not in core
    assert 'workspace="edge"' in edge and 'workspace="core"' not in edge
    assert "nornflow_gateway_logins_total" in core and "nornflow_gateway_logins_total" in edge
    for text in (core, edge):
        assert "otto" not in text and "vera" not in text and "nft_" not in text


def test_prometheus_scrapes_the_gateway_and_the_fleet(metered: Metered, fleet: None,
                                                      prometheus: PrometheusServer) -> None:
    url, host = metered.url, metered.url.removeprefix("http://")
    vera = basic("vera", metered.tokens["vera@core"])
    assert httpx.post(f"{url}/w/core/api/flows/filter", json={}, headers=vera, timeout=30).status_code == 200
    assert httpx.post(f"{url}/w/core/api/flows/", json={"name": "x"}, headers=vera, timeout=30).status_code == 403
    edge = basic("prom", metered.tokens["prom@edge"])
    assert httpx.get(f"{url}/w/edge/api/health", headers=edge, timeout=30).status_code == 502
    with httpx.Client(base_url=url, timeout=30) as browser:
        assert browser.post("/login", data={"username": "otto", "password": PASSWORD}).status_code == 303
        codes = [browser.post("/login", data={"username": "nobody", "password": "wrong-password-x"}).status_code
                 for _ in range(4)]
    assert codes == [401, 401, 401, 429]

    prometheus.scrape("nornflow-core", host, token=metered.tokens["prom@core"])
    prometheus.scrape("nornflow-edge", host, token=metered.tokens["prom@edge"])

    def value(expr: str, timeout: float = 30.0) -> float:
        found = prometheus.wait_for(expr, timeout)
        assert len(found) == 1, found
        return float(found[0]["value"][1])

    assert value('up{job="nornflow-core"}') == 1 and value('up{job="nornflow-edge"}') == 1
    assert value('sum(nornflow_gateway_requests_total{job="nornflow-core",workspace="core",kind="api",'
                 'method="POST",code="200"})') >= 1
    assert value('sum(nornflow_gateway_request_duration_seconds_count{job="nornflow-core",workspace="core",'
                 'kind="api"})') >= 2
    assert value('count(nornflow_gateway_request_duration_seconds_bucket{job="nornflow-core",workspace="core",'
                 'kind="api"})') == 13  # 12 bounds and +Inf
    assert value('nornflow_gateway_denials_total{job="nornflow-core",workspace="core",code="403"}') >= 1
    assert value('nornflow_gateway_upstream_errors_total{job="nornflow-edge",workspace="edge"}') >= 1
    assert value('nornflow_gateway_logins_total{job="nornflow-core",outcome="ok"}') >= 1
    assert value('nornflow_gateway_logins_total{job="nornflow-core",outcome="failed"}') >= 3
    assert value('nornflow_gateway_logins_total{job="nornflow-core",outcome="locked"}') >= 1
    assert value('nornflow_gateway_ratelimited_total{job="nornflow-core",workspace="",limit="login"}') >= 1

    # The fleet, as the fleet report reads it (events persist within a second or two).
    def fleet_is(expr: str, expected: float, timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            found = prometheus.query(expr)
            got = float(found[0]["value"][1]) if found else None
            if got == expected:
                return
            assert time.monotonic() < deadline, f"{expr} = {got}, expected {expected}"
            time.sleep(0.5)

    core = 'job="nornflow-core",workspace="core"'
    fleet_is(f'nornflow_fleet_devices{{{core},outcome="ok"}}', 1)
    fleet_is(f'nornflow_fleet_devices{{{core},outcome="failed"}}', 1)
    fleet_is(f'nornflow_fleet_devices{{{core},outcome="changed"}}', 1)
    fleet_is(f'nornflow_fleet_drifted_devices{{{core}}}', 1)
    fleet_is(f'nornflow_fleet_compliant_devices{{{core}}}', 1)
    fleet_is(f'nornflow_fleet_backup_stale_devices{{{core}}}', 2)  # dev-b's is 10 days old, dev-c has none
    fleet_is(f'nornflow_fleet_backup_age_devices{{{core},age="1d"}}', 1)
    fleet_is(f'nornflow_fleet_backup_age_devices{{{core},age="30d"}}', 1)
    fleet_is(f'nornflow_fleet_backup_age_devices{{{core},age="none"}}', 1)
    fleet_is(f'nornflow_fleet_approvals_open{{{core}}}', 1)
    fleet_is(f'nornflow_fleet_runs{{{core},state="PAUSED"}}', 1)
    fleet_is(f'nornflow_fleet_runs{{{core},state="COMPLETED"}}', 1)
    oldest = value(f'nornflow_fleet_backup_oldest_age_seconds{{{core}}}')
    assert 10 * 86400 <= oldest < 10 * 86400 + 600
    assert value(f'nornflow_fleet_refresh_api_calls{{{core}}}') == 15  # 6 event counts, 9 run counts
    assert value('nornflow_fleet_refresh_errors_total{job="nornflow-edge",workspace="edge"}', 30) >= 1
    assert prometheus.query('nornflow_fleet_devices{workspace="edge"}') == []


def exported(metered: Metered) -> set[str]:
    """Every series name the gateway exports (a histogram's and a counter's as Prometheus stores them)."""
    names: set[str] = set()
    for who in ("prom@core", "prom@edge"):
        names |= set(re.findall(r"^([a-z_:][a-z0-9_:]*)(?:\{| )", metered.scrape(who).text, re.M))
    return names


def test_the_grafana_dashboard_queries_only_what_the_gateway_exports(metered: Metered, fleet: None,
                                                                     prometheus: PrometheusServer) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]
    titles = " ".join(title for title, _ in exprs).lower()
    for wanted in ("outcome", "backup", "drift", "approvals", "error rate", "latency", "denials"):
        assert wanted in titles, wanted
    prometheus.scrape("nornflow-core", metered.url.removeprefix("http://"), token=metered.tokens["prom@core"])
    prometheus.wait_for('nornflow_fleet_devices{job="nornflow-core"}', 45)
    names = exported(metered)
    for title, expr in exprs:
        used = set(re.findall(r"\b(nornflow_[a-z0-9_]+)\b", expr))
        assert used and used <= names, (title, used - names)
        # Only our metrics: every other word is PromQL (functions, by/without, label names in braces).
        bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\b(nornflow_[a-z0-9_]+)\b", " ", expr)
        words = set(re.findall(r"\b[a-z_]+\b", bare))
        assert words <= {"sum", "max", "by", "rate", "increase", "histogram_quantile", "time", "le", "workspace",
                         "outcome", "age", "state", "code", "kind", "limit"}, (title, words)
        concrete = expr.replace("$workspace", ".*")
        prometheus.query(concrete)  # raises on any error Prometheus reports
    fleet_panels = [e for t, e in exprs if "nornflow_fleet_" in e and "time()" not in e]
    for expr in fleet_panels:
        assert prometheus.query(expr.replace("$workspace", ".*")), expr
