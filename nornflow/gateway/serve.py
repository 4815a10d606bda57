"""``nornflow serve``: the workspaces' Prefect servers, and the gateway in front of them."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from nornflow.gateway.app import Gateway
from nornflow.gateway.audit.log import AuditLog
from nornflow.gateway.proxy.upstream import Supervisor
from nornflow.gateway.settings import GatewaySettings
from nornflow.gateway.store import GatewayStore

log = logging.getLogger("nornflow.gateway")


@dataclass
class Running:
    """A gateway serving in a background thread (tests, benchmarks, embedding)."""

    gateway: Gateway
    server: uvicorn.Server
    supervisor: Supervisor
    url: str


def open_state(settings: GatewaySettings) -> tuple[GatewayStore, AuditLog]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return GatewayStore(settings.store_path), AuditLog(settings.audit_path)


def _uvicorn(settings: GatewaySettings, gateway: Gateway) -> uvicorn.Server:
    config = uvicorn.Config(
        gateway, host=settings.host, port=settings.port, log_level="warning", access_log=False, lifespan="on",
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        ws_max_size=16 * 1024 * 1024, proxy_headers=False, server_header=False,
    )
    return uvicorn.Server(config)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def serve(settings: GatewaySettings) -> None:
    """Start the workspaces' servers, then serve the gateway until SIGINT/SIGTERM.

    uvicorn re-raises the signal that stopped it once it has shut down; with the default
    SIGTERM action that would end the process before the workspaces' servers are stopped,
    so SIGTERM raises SystemExit here and the ``finally`` stops them.
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    store, audit = open_state(settings)
    supervisor = Supervisor(settings)
    print(f"starting {len(settings.workspaces)} workspace server(s): "
          f"{', '.join(ws.name for ws in settings.workspaces)} ...", flush=True)
    upstreams = supervisor.start()
    try:
        gateway = Gateway(settings, store, audit, upstreams)
        print(f"NornFlow gateway on {settings.public_base_url} "
              f"(workspaces: {', '.join(f'{settings.public_base_url}/w/{n}/' for n in upstreams)})", flush=True)
        _uvicorn(settings, gateway).run()
    finally:
        supervisor.stop()


@contextmanager
def running(settings: GatewaySettings, supervisor: Supervisor | None = None) -> Iterator[Running]:
    """Serve the gateway in a thread; reuse ``supervisor``'s servers when given (started once per test session)."""
    store, audit = open_state(settings)
    own = supervisor is None
    supervisor = supervisor or Supervisor(settings)
    upstreams = supervisor.start() if own else supervisor.upstreams
    gateway = Gateway(settings, store, audit, upstreams)
    server = _uvicorn(settings, gateway)
    thread = threading.Thread(target=server.run, name="nornflow-gateway", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the gateway did not start on {settings.host}:{settings.port}")
            threading.Event().wait(0.05)
        yield Running(gateway, server, supervisor, settings.public_base_url)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if own:
            supervisor.stop()

