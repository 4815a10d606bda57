"""The SSH path against the lab behind a real OpenSSH bastion (``tests/servers/sshd.py``), once per session.

Most tests here drive the engine's session paths directly (no Prefect server); the few that need
Prefect (a flow run, an event) ask for ``prefect_server`` themselves.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornflow.lab import Lab
from tests.servers.sshd import SSHServer


@pytest.fixture(autouse=True, scope="session")
def _prefect() -> None:
    """Overrides tests/integration's autouse Prefect server: these tests start it only when they ask."""


@pytest.fixture(scope="session")
def bastion() -> Iterator[SSHServer]:
    with SSHServer() as server:
        yield server


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Six devices (IOS and EOS), shared: tests write their own inventories beside it, never change it."""
    with Lab(size=6, directory=tmp_path_factory.mktemp("sshlab")) as running:
        yield running


def jump(server: SSHServer, key: str | None = None, **extra: Any) -> dict[str, Any]:
    """An ``ssh.jump_host`` mapping for ``server``, logging in with ``key`` (the allowed key by default)."""
    return {"host": "127.0.0.1", "port": server.port, "username": server.user,
            "private_key": server.private_key if key is None else key, **extra}


def inventory(lab: Lab, folder: Path, *, defaults_ssh: dict[str, Any] | None = None,
              host_ssh: dict[str, dict[str, Any]] | None = None, names: list[str] | None = None,
              extras: dict[str, Any] | None = None) -> Path:
    """A copy of the lab's inventory in ``folder`` with ``ssh:`` settings on the defaults and on hosts."""
    folder.mkdir(parents=True, exist_ok=True)
    hosts = yaml.safe_load((lab.inventory_dir / "hosts.yaml").read_text())
    if names is not None:
        hosts = {n: h for n, h in hosts.items() if n in names}
    for name, ssh in (host_ssh or {}).items():
        hosts[name]["data"]["ssh"] = ssh
    defaults = yaml.safe_load((lab.inventory_dir / "defaults.yaml").read_text())
    if defaults_ssh is not None:
        defaults["data"] = {"ssh": defaults_ssh}
    defaults["connection_options"]["scrapli"]["extras"].update(extras or {})
    for name, data in (("hosts", hosts), ("defaults", defaults)):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "groups.yaml").write_text((lab.inventory_dir / "groups.yaml").read_text())
    return folder


class SlowProxy:
    """A TCP relay in front of a server that holds every new connection ``delay`` seconds before relaying:
    a bastion that is slow to answer."""

    def __init__(self, port: int, delay: float) -> None:
        self.target, self.delay = port, delay
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", 0), self.loop).result(5)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.delay)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def _stop(self) -> None:
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def slow_proxy(bastion: SSHServer) -> Iterator[Callable[[float], SlowProxy]]:
    made: list[SlowProxy] = []

    def make(delay: float) -> SlowProxy:
        made.append(SlowProxy(bastion.port, delay))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()
