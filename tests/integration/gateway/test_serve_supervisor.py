"""``nornflow serve`` supervises the workspaces' Prefect servers: one that dies is started again,
and the gateway in front keeps answering (with the new internal credential) once it is back."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import httpx

from nornflow.gateway.proxy.upstream import free_port
from nornflow.gateway.serve import running
from nornflow.gateway.settings import load_settings

PASSWORD = "correct-horse-battery"  # test user only


def _flows(client: httpx.Client) -> int:
    try:
        return client.post("/w/solo/api/flows/filter", json={"limit": 1}).status_code
    except httpx.HTTPError:
        return 0


def test_a_killed_workspace_server_comes_back_and_the_gateway_reaches_it(tmp_path):
    settings = load_settings(None, host="127.0.0.1", port=free_port(), data_dir=tmp_path,
                             workspaces=[{"name": "solo"}])
    with running(settings) as gw:
        gw.gateway.store.add_user("vic", PASSWORD, {"solo": ["viewer"]})
        _, secret = gw.gateway.store.create_token("vic", "solo", ["viewer"], timedelta(hours=1))
        upstream = gw.supervisor.upstreams["solo"]
        assert upstream.process is not None
        first_pid, first_auth = upstream.process.pid, upstream.auth_string
        with httpx.Client(base_url=gw.url, auth=("vic", secret), timeout=10) as client:
            assert _flows(client) == 200

            os.kill(first_pid, signal.SIGKILL)  # a crash: no chance to clean up
            assert upstream.process.wait(timeout=10) == -signal.SIGKILL

            killed_at = time.monotonic()
            deadline, status = killed_at + 180, 0
            while time.monotonic() < deadline:
                status = _flows(client)
                if status == 200 and upstream.process.pid != first_pid:
                    break
                time.sleep(0.5)
            assert status == 200, f"the gateway answered {status} for 180 s after the workspace server was killed"
            print(f"workspace server back {time.monotonic() - killed_at:.1f} s after SIGKILL")
            assert upstream.process.pid != first_pid and upstream.process.poll() is None
            assert upstream.auth_string != first_auth  # a fresh internal credential, used by the gateway at once
    assert upstream.process.poll() is not None  # stopping the gateway stopped the restarted server too
