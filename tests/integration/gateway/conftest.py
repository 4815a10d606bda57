"""Team mode under test: two real Prefect servers (workspaces ``core`` and ``datacenter``) behind a
real gateway on loopback, started once per session, with one person and one token per role."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from nornflow.gateway.proxy.upstream import Supervisor, free_port
from nornflow.gateway.serve import Running, running
from nornflow.gateway.settings import load_settings

PASSWORD = "correct-horse-battery"  # test users only
ROLES = {
    "vera": ("core", ["viewer"]),
    "rune": ("core", ["runner"]),
    "april": ("core", ["approver"]),
    "dev": ("core", ["developer"]),
    "otto": ("core", ["owner"]),
    "svc-worker": ("core", ["worker"]),
    "dana": ("datacenter", ["viewer", "developer"]),
}


@dataclass
class Team:
    url: str
    data_dir: Path
    running: Running
    tokens: dict[str, str] = field(default_factory=dict)  # user -> "<user>:<token>"
    token_ids: dict[str, str] = field(default_factory=dict)

    def api(self, workspace: str = "core") -> str:
        return f"{self.url}/w/{workspace}/api"

    def basic(self, user: str) -> dict[str, str]:
        return {"authorization": "Basic " + base64.b64encode(self.tokens[user].encode()).decode()}

    def client(self, user: str | None = None, **kwargs: object) -> httpx.Client:
        headers = self.basic(user) if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def login(self, user: str, password: str = PASSWORD) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30)
        reply = client.post("/login", data={"username": user, "password": password, "next": "/"})
        assert reply.status_code == 303, reply.text
        return client

    def audit(self) -> list[dict[str, object]]:
        return self.running.gateway.audit.tail(limit=100_000)


@pytest.fixture(scope="session")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    data_dir = tmp_path_factory.mktemp("gateway")
    port = free_port()
    settings = load_settings(
        None, host="127.0.0.1", port=port, data_dir=data_dir,
        workspaces=[{"name": "core"}, {"name": "datacenter"}],
        cors_origins=["https://ops.example.com"], login_max_failures=5, login_lockout_seconds=300,
        api_rate_per_second=500, api_burst=2000, max_body_bytes=1_000_000,
    )
    supervisor = Supervisor(settings)
    supervisor.start()
    try:
        with running(settings, supervisor) as gw:
            store = gw.gateway.store
            team = Team(gw.url, data_dir, gw)
            for user, (workspace, roles) in ROLES.items():
                store.add_user(user, PASSWORD, {workspace: roles})
                info, secret = store.create_token(user, workspace, roles, timedelta(days=1), description="tests")
                team.tokens[user] = f"{user}:{secret}"
                team.token_ids[user] = info.id
            yield team
    finally:
        with contextlib.suppress(Exception):
            supervisor.stop()
