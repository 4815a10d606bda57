"""The owner's admin page under test: a real gateway on loopback with one person per role.

The page manages the gateway's own store and audit log and never calls a workspace's Prefect
server, so the workspaces here point at a closed port (no Prefect server to wait for): what the
page does is the same, and the suite saves a server start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from nornflow.gateway.proxy.upstream import Supervisor, Upstream, free_port
from nornflow.gateway.serve import Running, running
from nornflow.gateway.settings import load_settings

PASSWORD = "correct-horse-battery"  # test users only
PEOPLE = {
    "otto": {"core": ["owner"]},
    "vera": {"core": ["viewer"]},
    "rune": {"core": ["runner"]},
    "april": {"core": ["approver"]},
    "dev": {"core": ["developer"]},
    "svc-worker": {"core": ["worker"]},
    "prom": {"core": ["metrics"]},
    "dana": {"datacenter": ["owner", "developer"]},
}


@dataclass
class AdminSite:
    url: str
    data_dir: Path
    running: Running
    tokens: dict[str, str] = field(default_factory=dict)  # user -> "<user>:<token>"

    def login(self, user: str, password: str = PASSWORD) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30)
        reply = client.post("/login", data={"username": user, "password": password, "next": "/"})
        assert reply.status_code == 303, reply.text
        return client

    @contextlib.contextmanager
    def session(self, user: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
        client = self.login(user, password)
        try:
            yield client
        finally:
            client.close()

    def csrf(self, client: httpx.Client) -> str:
        """The session's CSRF token, as the admin page's forms carry it (only an owner sees the page)."""
        session = self.running.gateway.store.get_session(client.cookies["nornflow_session"])
        assert session is not None
        return str(session.csrf_token)

    def audit(self, **filters: str) -> list[dict[str, object]]:
        return self.running.gateway.audit.tail(limit=100_000, **filters)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminSite]:
    data_dir = tmp_path_factory.mktemp("admin-gateway")
    settings = load_settings(None, host="127.0.0.1", port=free_port(), data_dir=data_dir,
                             workspaces=[{"name": "core"}, {"name": "datacenter"}],
                             cors_origins=["https://ops.example.com"], api_rate_per_second=500, api_burst=2000,
                             sso={"group_roles": {"netops": {"core": ["developer", "viewer"]},
                                                  "dc-admins": {"datacenter": ["owner"]}}})
    supervisor = Supervisor(settings)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: the page never calls a workspace
    supervisor.upstreams = {ws.name: Upstream(ws.name, closed, "unused:unused") for ws in settings.workspaces}
    with running(settings, supervisor) as gw:
        found = AdminSite(gw.url, data_dir, gw)
        for user, roles in PEOPLE.items():
            gw.gateway.store.add_user(user, PASSWORD, roles)
            (workspace, held), = roles.items()
            _, secret = gw.gateway.store.create_token(user, workspace, held, timedelta(hours=1))
            found.tokens[user] = f"{user}:{secret}"
        yield found
