"""The Prefect servers behind the gateway: one per workspace, started and watched, or already running.

Each workspace is its own Prefect server with its own database: that is the isolation
boundary (an id from one workspace does not exist in another). A server the gateway starts
listens on loopback only, requires an internal basic-auth string that never leaves the
gateway, and is told the public paths it is served under (``/w/<name>`` for the UI,
``/w/<name>/api`` for the API) so that its UI calls the gateway, not the server.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from nornflow.exceptions import NornFlowError
from nornflow.gateway.settings import GatewaySettings
from nornflow.gateway.workspace_settings import WorkspaceSettings
from nornflow.settings import LAB_VARIABLE

log = logging.getLogger("nornflow.gateway")


class UpstreamError(NornFlowError, RuntimeError):
    """A workspace's Prefect server did not start or does not answer."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_prefix(workspace: str) -> str:
    return f"/w/{workspace}/api"


@dataclass
class Upstream:
    """Where the gateway sends one workspace's traffic, and with which credential."""

    name: str
    base_url: str  # http://127.0.0.1:PORT, the server's root; its API is at base_url + /w/<name>/api
    auth_string: str = field(repr=False)
    four_eyes: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_path: Path | None = None
    lab: bool = False

    @property
    def api_url(self) -> str:
        return self.base_url + api_prefix(self.name)

    @property
    def authorization(self) -> str:
        return "Basic " + base64.b64encode(self.auth_string.encode()).decode()

    @property
    def ws_base(self) -> str:
        return "ws" + self.base_url.removeprefix("http")


def _resolve(reference: str) -> str:
    """A secret reference in a workspace's ``env`` (secret:<block-type>/<block>...), resolved at start."""
    from nornflow.secrets.resolver import Resolver

    return Resolver().resolve(reference)


def _server_env(settings: GatewaySettings, ws: WorkspaceSettings, home: Path, port: int, auth: str) -> dict[str, str]:
    public = settings.public_base_url.rstrip("/")
    database = ws.database_url_value(f"sqlite+aiosqlite:///{home / 'prefect.db'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(ws.server_env(_resolve) if ws.env else {})  # the workspace's own extras; ours below win
    env.update({
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": database,
        "PREFECT_SERVER_API_AUTH_STRING": auth,
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_API_BASE_PATH": api_prefix(ws.name),
        "PREFECT_UI_SERVE_BASE": f"/w/{ws.name}",
        "PREFECT_UI_API_URL": public + api_prefix(ws.name),
        "PREFECT_UI_STATIC_DIRECTORY": str(home / "ui"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        # The gateway keeps the approval input honest; the server's own CSRF tokens would be
        # a second, cookie-less scheme the gateway's session already covers.
        "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "false",
        # Live logs over the /logs/out websocket (`prefect flow-run logs --follow`, log subscribers):
        # off by default in Prefect 3.9; the gateway checks the read permission before relaying them.
        "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
        "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
    })
    return env


class Supervisor:
    """Starts a Prefect server per workspace (or adopts a running one) and restarts one that dies."""

    def __init__(self, settings: GatewaySettings, *, startup_timeout: float = 180.0) -> None:
        self.settings = settings
        self.startup_timeout = startup_timeout
        self.upstreams: dict[str, Upstream] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> dict[str, Upstream]:
        """Start (in parallel) every workspace's server that the settings do not point at; wait until ready."""
        for ws in self.settings.workspaces:
            if ws.url:
                auth = ws.auth_string.get_secret_value() if ws.auth_string else ""
                base = ws.url.rstrip("/").removesuffix(api_prefix(ws.name))
                self.upstreams[ws.name] = Upstream(ws.name, base, auth, ws.four_eyes, lab=ws.lab)
            else:
                self.upstreams[ws.name] = self._spawn(ws)
        for upstream in self.upstreams.values():
            self._wait_ready(upstream)
            mirror_lab_flag(upstream)
        self._watcher = threading.Thread(target=self._watch, name="nornflow-gateway-supervisor", daemon=True)
        self._watcher.start()
        return self.upstreams

    def _spawn(self, ws: WorkspaceSettings, port: int | None = None) -> Upstream:
        home = self.settings.workspace_dir(ws.name).resolve()
        home.mkdir(parents=True, exist_ok=True)
        port = port or ws.port or free_port()
        auth = f"nornflow-gateway:{secrets.token_urlsafe(32)}"
        log_path = home / "server.log"
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env=_server_env(self.settings, ws, home, port, auth), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.info("workspace %s: Prefect server pid %s on 127.0.0.1:%s (log %s)", ws.name, process.pid, port, log_path)
        return Upstream(ws.name, f"http://127.0.0.1:{port}", auth, ws.four_eyes, process, log_path, lab=ws.lab)

    def _wait_ready(self, upstream: Upstream) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = upstream.api_url + "/health"
        while time.monotonic() < deadline:
            if upstream.process is not None and upstream.process.poll() is not None:
                raise UpstreamError(
                    f"workspace {upstream.name!r}: its Prefect server exited with code {upstream.process.returncode} "
                    f"while starting; see {upstream.log_path}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise UpstreamError(f"workspace {upstream.name!r}: no answer from {url} within {self.startup_timeout:.0f} s; "
                            f"is the server running and is the URL right?" +
                            (f" (log: {upstream.log_path})" if upstream.log_path else ""))

    def _watch(self) -> None:
        while not self._stop.wait(2.0):
            for name, upstream in list(self.upstreams.items()):
                process = upstream.process
                if process is None or process.poll() is None or self._stop.is_set():
                    continue
                log.warning("workspace %s: Prefect server exited (%s); restarting it", name, process.returncode)
                port = int(upstream.base_url.rsplit(":", 1)[1])
                fresh = self._spawn(self.settings.workspace(name), port)
                upstream.process, upstream.auth_string = fresh.process, fresh.auth_string

    def stop(self) -> None:
        self._stop.set()
        for upstream in self.upstreams.values():
            if upstream.process is not None and upstream.process.poll() is None:
                upstream.process.terminate()
        for upstream in self.upstreams.values():
            if upstream.process is not None:
                try:
                    upstream.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    upstream.process.kill()


def mirror_lab_flag(upstream: Upstream) -> None:
    """Make the server's ``nornflow_lab`` variable say what the workspace's ``lab`` setting says.

    ``deploy_config`` honours ``auto_approve`` only where that variable is true; through the gateway
    nobody else may write it (:mod:`nornflow.gateway.app`), so the setting is the one switch.
    """
    headers = {"authorization": upstream.authorization}
    url = f"{upstream.api_url}/variables/name/{LAB_VARIABLE}"
    found = httpx.get(url, headers=headers, timeout=10)
    if upstream.lab:
        if found.status_code == 404:
            reply = httpx.post(f"{upstream.api_url}/variables/", headers=headers, timeout=10,
                               json={"name": LAB_VARIABLE, "value": True, "tags": ["nornflow"]})
        else:
            reply = httpx.patch(url, headers=headers, timeout=10, json={"value": True})
    elif found.status_code == 200:
        reply = httpx.delete(url, headers=headers, timeout=10)
    else:
        return
    if reply.status_code >= 300:
        raise UpstreamError(f"workspace {upstream.name!r}: cannot set its {LAB_VARIABLE} variable "
                            f"({reply.status_code} {reply.text[:200]})")
