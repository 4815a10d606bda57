"""``/metrics`` under test: a real gateway in front of a real Prefect server (workspace ``core``, started by
the gateway's supervisor), a second workspace (``edge``) whose server is down, and a real Prometheus
scraping both with bearer tokens (:mod:`tests.servers.prometheus`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from nornflow.gateway.proxy.upstream import Supervisor, Upstream, free_port
from nornflow.gateway.serve import Running, running
from nornflow.gateway.settings import load_settings
from tests.servers.prometheus import prometheus  # noqa: F401 - the session fixture

PASSWORD = "correct-horse-battery"  # test users only
PEOPLE = {
    "otto": {"core": ["owner"]},
    "vera": {"core": ["viewer"]},
    "prom": {"core": ["metrics"], "edge": ["metrics"]},
}


@dataclass
class Metered:
    url: str
    running: Running
    tokens: dict[str, str] = field(default_factory=dict)  # "<user>@<workspace>" -> bare token

    def scrape(self, who: str) -> httpx.Response:
        return httpx.get(f"{self.url}/metrics", headers={"authorization": f"Bearer {self.tokens[who]}"}, timeout=30)


@pytest.fixture(scope="session")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    data_dir: Path = tmp_path_factory.mktemp("metrics-gateway")
    flush = {"PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "0.5"}
    settings = load_settings(None, host="127.0.0.1", port=free_port(), data_dir=data_dir,
                             workspaces=[{"name": "core", "env": flush}, {"name": "edge"}],
                             login_max_failures=3, fleet_metrics_seconds=1, api_rate_per_second=500, api_burst=2000)
    started = load_settings(None, host="127.0.0.1", port=settings.port, data_dir=data_dir,
                            workspaces=[{"name": "core", "env": flush}])
    supervisor = Supervisor(started)
    supervisor.start()
    # edge's server is down: its requests and fleet readings fail, as a dead workspace's do.
    supervisor.upstreams["edge"] = Upstream("edge", f"http://127.0.0.1:{free_port()}", "unused:unused")
    try:
        with running(settings, supervisor) as gw:
            found = Metered(gw.url, gw)
            for user, roles in PEOPLE.items():
                gw.gateway.store.add_user(user, PASSWORD, roles)
                for workspace, held in roles.items():
                    _, secret = gw.gateway.store.create_token(user, workspace, held, timedelta(hours=1))
                    found.tokens[f"{user}@{workspace}"] = secret
            yield found
    finally:
        supervisor.stop()
