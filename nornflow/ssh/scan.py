"""``nornflow hostkeys scan``: collect the host keys devices present, for a person to review.

Each device is asked for its host key the way a session would reach it (through its jump host,
with the algorithms its settings allow), without logging in: the key exchange is enough. The
result is a line per device in known_hosts format, marked ``new``, ``same`` (already recorded) or
``changed`` (recorded with another key: check before replacing it), and errors per device.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornflow.ssh import algorithms, hostkeys
from nornflow.ssh.jump import ASYNC_BASTIONS, _Presented
from nornflow.ssh.settings import ssh_settings

if TYPE_CHECKING:
    from nornir.core.inventory import Host


@dataclass
class Scanned:
    host: str
    address: str
    port: int
    status: str  # new | same | changed | failed
    line: str = ""
    fingerprint: str = ""
    recorded: tuple[str, ...] = ()
    error: str = ""


async def scan_host(host: Host, timeout: float = 10.0) -> Scanned:
    """The key ``host`` presents, compared with its known_hosts file."""
    import asyncssh

    params = host.get_connection_parameters("scrapli")
    extras = dict(params.extras or {})
    settings = ssh_settings(host, {k: v for k, v in extras.items() if k != "auth_strict_key"})
    address, port = str(params.hostname or host.name), int(params.port or 22)
    presented = _Presented()
    options: dict[str, Any] = {**algorithms.asyncssh_options(settings.legacy_algorithms),
                               "known_hosts": ([], [], []), "client_factory": presented.factory,
                               "username": "nornflow-hostkey-scan", "agent_path": None, "config": None,
                               "client_keys": None, "password": None, "connect_timeout": timeout}
    try:
        async with contextlib.AsyncExitStack() as stack:
            if settings.jump_host is not None:
                options["tunnel"] = await stack.enter_async_context(ASYNC_BASTIONS.channel(
                    settings.jump_host, known_hosts=settings.known_hosts, timeout=timeout))
            with contextlib.suppress(asyncssh.HostKeyNotVerifiable):
                conn = await asyncssh.connect(address, port, **options)
                conn.close()
    except Exception as exc:
        explained = algorithms.explain(exc, f"{host.name} ({address}:{port})", settings.legacy_algorithms)
        return Scanned(host.name, address, port, "failed", error=str(explained or exc) or type(exc).__name__)
    if presented.key is None:
        return Scanned(host.name, address, port, "failed", error="the device presented no host key")
    found = hostkeys.fingerprint(presented.key.public_data)
    recorded = hostkeys.known_keys(settings.known_hosts, address, port) if settings.known_hosts else []
    prints = tuple(hostkeys.fingerprint(k.public_data) for k in recorded)
    status = "new" if not recorded else ("same" if found in prints else "changed")
    return Scanned(host.name, address, port, status, line=f"{hostkeys.line(address, port, presented.key)} {host.name}",
                   fingerprint=found, recorded=prints)


def scan(hosts: list[Host], *, sessions: int = 50, timeout: float = 10.0) -> list[Scanned]:
    """Scan ``hosts``, ``sessions`` at a time, in order."""
    async def run() -> list[Scanned]:
        gate = asyncio.Semaphore(sessions)

        async def one(host: Host) -> Scanned:
            async with gate:
                return await scan_host(host, timeout)

        return await asyncio.gather(*(one(h) for h in hosts))

    from nornflow.engine.aio import LOOP  # the process's session loop, where the bastion pool lives

    return LOOP.submit(run()).result()


def report(results: list[Scanned], known_hosts: str) -> str:
    """known_hosts lines to review, with comments for what needs attention."""
    out = [f"# nornflow hostkeys scan: {len(results)} host(s). Check each key against the device (its console "
           f"or your records) before adding it to {known_hosts}."]
    for r in results:
        if r.status == "failed":
            out.append(f"# FAILED {r.host}: {r.error}")
        elif r.status == "changed":
            out.append(f"# CHANGED {r.host}: {known_hosts} records {', '.join(r.recorded)}, the device presented "
                       f"{r.fingerprint}; replace the recorded line only once you know why")
            out.append(r.line)
        elif r.status == "same":
            out.append(f"# same as recorded: {r.line}")
        else:
            out.append(r.line)
    return "\n".join(out) + "\n"
