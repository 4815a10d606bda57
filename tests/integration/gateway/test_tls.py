"""TLS terminated at the gateway: HTTPS with the configured certificate, HSTS, Secure cookies.

A second gateway in front of the same two workspace servers (no new Prefect server to start).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from nornflow.gateway.proxy.upstream import free_port
from nornflow.gateway.serve import running
from nornflow.gateway.settings import load_settings
from tests.integration.gateway.conftest import PASSWORD
from tests.servers.tls import make_ca_and_server_cert

pytestmark = pytest.mark.integration


def test_https_with_hsts_and_secure_session_cookie(team: Any, tmp_path: Path) -> None:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    port = free_port()
    settings = load_settings(None, host="127.0.0.1", port=port, data_dir=team.data_dir, tls_cert=cert, tls_key=key,
                             public_url=f"https://localhost:{port}",
                             workspaces=[{"name": "core"}, {"name": "datacenter"}])
    with running(settings, team.running.supervisor) as gw, \
            httpx.Client(base_url=gw.url, verify=str(ca),
                         timeout=30) as https:
        health = https.get("/w/core/api/health")
        assert health.status_code == 200
        assert health.headers["strict-transport-security"].startswith("max-age=")
        login = https.post("/login", data={"username": "vera", "password": PASSWORD, "next": "/"})
        assert login.status_code == 303
        cookie = login.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        reply = https.post("/w/core/api/flows/filter", json={}, headers={"origin": gw.url})
        assert reply.status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port is not served
            httpx.get(f"http://127.0.0.1:{port}/w/core/api/health", timeout=5)


def test_fronting_a_server_that_is_already_running(team: Any, tmp_path: Path) -> None:
    """``url`` + ``auth_string``: the gateway adopts a running server instead of starting one."""
    core = team.running.gateway.upstreams["core"]
    settings = load_settings(None, host="127.0.0.1", port=free_port(), data_dir=team.data_dir,
                             workspaces=[{"name": "core", "url": core.api_url, "auth_string": core.auth_string}])
    from nornflow.gateway.proxy.upstream import Supervisor

    supervisor = Supervisor(settings)
    adopted = supervisor.start()["core"]
    assert adopted.process is None and adopted.api_url == core.api_url  # nothing was started
    with running(settings, supervisor) as gw, httpx.Client(base_url=gw.url, timeout=30) as http:
        reply = http.post("/w/core/api/flows/filter", json={}, headers=team.basic("vera"))
        assert reply.status_code == 200
        assert http.post("/w/core/api/flows/filter", json={}).status_code == 401
    supervisor.stop()
    assert httpx.get(f"{core.api_url}/health", timeout=5).status_code == 200  # and nothing was stopped
