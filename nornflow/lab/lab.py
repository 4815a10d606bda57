"""A lab of simulated devices on 127.0.0.1, with a matching Nornir inventory.

Every device listens on a port the lab checked itself; all of them are served by one asyncssh
event loop (:mod:`nornflow.lab.server`) in a background thread, so 1,000 devices start in a
fraction of a second and a test reads and changes their state in memory (:attr:`Lab.store`).
The inventory gives every host a platform, a site and a role so filters mean something.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from nornflow.exceptions import LabError
from nornflow.lab.baseline import baseline, host_data
from nornflow.lab.devices import PLATFORMS
from nornflow.lab.ports import free_ports, port_is_free
from nornflow.lab.server import LabConnection, LabServer
from nornflow.lab.store import DeviceStore

__all__ = ["Device", "Lab", "free_ports", "plan_devices", "port_is_free"]

log = logging.getLogger(__name__)

DEFAULT_SITES = ("fra", "ams", "nyc")
#: libyaml's emitter when PyYAML has it: a 2,000-host inventory in 0.1 s instead of 0.5 s.
DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Device:
    name: str
    port: int
    platform: str  # the lab platform key (cisco_ios, arista_eos, juniper_junos, cisco_nxos)
    site: str
    role: str


def plan_devices(size: int, platforms: Sequence[str], sites: Sequence[str], ports: list[int]) -> list[Device]:
    """Name and place ``size`` devices: platforms and sites round-robin, two spines per site."""
    devices = []
    per_site: dict[str, int] = {}
    for i in range(size):
        platform = platforms[i % len(platforms)]
        site = sites[i % len(sites)]
        index = per_site[site] = per_site.get(site, 0) + 1
        role = "spine" if index <= 2 else "leaf"
        name = f"{site}-{role}-{index:02d}"
        devices.append(Device(name, ports[i], platform, site, role))
    return devices


class Lab:
    """``size`` simulated devices; use as a context manager or call start()/stop().

    ``platforms`` (keys of :data:`~nornflow.lab.devices.PLATFORMS`: ``cisco_ios``, ``arista_eos``,
    ``juniper_junos``, ``cisco_nxos``) are dealt to the devices round-robin.

    >>> with Lab(size=4, platforms=("cisco_ios", "juniper_junos")) as lab:   # doctest: +SKIP
    ...     nr = load_nornir(lab.inventory_dir)
    """

    def __init__(
        self,
        size: int = 10,
        platforms: Sequence[str] = ("cisco_ios", "arista_eos"),
        directory: str | Path | None = None,
        *,
        sites: Sequence[str] = DEFAULT_SITES,
        username: str = "admin",
        password: str = "admin",  # noqa: S107 - the lab's own, public credentials
        start_port: int | None = None,
        byte_delay: float = 0.0,
        extra_commands: dict[str, Any] | None = None,
    ) -> None:
        unknown = [p for p in platforms if p not in PLATFORMS]
        if unknown:
            raise LabError(f"lab platforms {unknown} are not supported; choose from {sorted(PLATFORMS)}")
        if size < 1:
            raise LabError(f"lab size {size} must be at least 1")
        self.size = size
        self.platforms = list(platforms)
        self.sites = list(sites)
        self.username = username
        self.password = password
        self.start_port = start_port
        self.byte_delay = byte_delay  # seconds per byte of each line a device reads (a slow device)
        self.extra_commands = extra_commands or {}  # command -> {"output": text}: fixed answers, any mode
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nornflow-lab-")
            directory = self._tmp.name
        self.directory = Path(directory)
        self.devices: dict[str, Device] = {}
        self.store = DeviceStore()
        self._server: LabServer | None = None

    @property
    def inventory_dir(self) -> Path:
        return self.directory / "inventory"

    def write_inventory(self) -> Path:
        """Write hosts.yaml, groups.yaml and defaults.yaml for the running devices."""
        folder = self.inventory_dir
        folder.mkdir(parents=True, exist_ok=True)
        hosts = {
            d.name: {
                "hostname": "127.0.0.1",
                "port": d.port,
                "groups": [PLATFORMS[d.platform].group],
                "data": {"site": d.site, "role": d.role, "lab_platform": d.platform, **host_data(i + 1)},
            }
            for i, d in enumerate(self.devices.values())
        }
        groups = {
            PLATFORMS[p].group: {"platform": PLATFORMS[p].nornir, "data": {"vendor_os": p}}
            for p in self.platforms
        }
        self.write_known_hosts()
        defaults = {
            "username": self.username,
            "password": self.password,
            "connection_options": {
                "scrapli": {
                    "extras": {
                        "transport": "paramiko",
                        # The lab opts out of host-key checks explicitly: its inventory is rewritten with
                        # new ports at every start, and tests and the demo start labs by the thousand. It
                        # still ships a true known_hosts (stable keys): ssh.host_keys: verify uses it.
                        "auth_strict_key": False,
                        "auth_secondary": self.password,
                        "timeout_socket": 10,
                        "timeout_transport": 30,
                        "timeout_ops": 30,
                    }
                }
            },
        }
        for name, data in (("hosts", hosts), ("groups", groups), ("defaults", defaults)):
            text = yaml.dump(data, Dumper=DUMPER, sort_keys=False)
            (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        return folder

    def write_known_hosts(self) -> Path:
        """``known_hosts`` beside the inventory: every device's host key (``[127.0.0.1]:port``)."""
        from nornflow.ssh.hostkeys import line

        folder = self.inventory_dir
        folder.mkdir(parents=True, exist_ok=True)
        server = self._server
        lines = []
        if server is not None:
            for d in self.devices.values():
                key = server.legacy_key if d.name in server.legacy else server.host_key
                if key is not None:
                    lines.append(line("127.0.0.1", d.port, key) + f" {d.name}")
        path = folder / "known_hosts"
        path.write_text("".join(f"{entry}\n" for entry in lines), encoding="utf-8")
        return path

    def set_legacy_ssh(self, name: str) -> None:
        """Make ``name`` speak only what an old IOS box speaks: diffie-hellman-group14-sha1, aes128-cbc,
        hmac-sha1 and an ssh-rsa host key (its listener restarts on the same port; known_hosts follows)."""
        from nornflow.lab.server import load_host_key

        server = self._running()
        if server.legacy_key is None:
            server.legacy_key = load_host_key(self.directory / "ssh_host_rsa_key", "ssh-rsa")
        server.legacy.add(self._require(name))
        self.stop_device(name)
        self.start_device(name)
        self.write_known_hosts()

    def authorize_key(self, public_key: str) -> None:
        """Let every device accept ``public_key`` (OpenSSH one-line form) for the lab user: key login."""
        import asyncssh

        self._running().authorized_keys.add(asyncssh.import_public_key(public_key).public_data)

    def _running(self) -> LabServer:
        if self._server is None:
            raise LabError("the lab is not running: start() it first")
        return self._server

    def start(self) -> Lab:
        ports = free_ports(self.size, self.start_port)
        self.devices = {d.name: d for d in plan_devices(self.size, self.platforms, self.sites, ports)}
        self.store = DeviceStore()
        for i, device in enumerate(self.devices.values()):
            spec = PLATFORMS[device.platform]
            self.store.add(device.name, baseline(device.platform, device.name, i + 1), spec.syntax,
                           platform=device.platform, index=i + 1, password=self.password, commits=spec.commits)
        from nornflow.lab.server import load_host_key

        self.directory.mkdir(parents=True, exist_ok=True)
        self._server = LabServer(self.store, {d.name: PLATFORMS[d.platform] for d in self.devices.values()},
                                 self.username, self.extra_commands, self.byte_delay,
                                 host_key=load_host_key(self.directory / "ssh_host_ed25519_key", "ssh-ed25519"))
        try:
            self._server.call(self._listen_all())
        except Exception as exc:
            self.stop()
            raise LabError(f"the lab could not start its devices: {exc}") from exc
        self.write_inventory()
        log.info("lab: %d devices up on 127.0.0.1:%d-%d", self.size, min(ports), max(ports))
        return self

    async def _listen_all(self) -> None:
        for device in list(self.devices.values()):
            await self._listen(device, retry=self.start_port is None)

    async def _listen(self, device: Device, retry: bool) -> None:
        """Listen on the device's port; a kernel-chosen port taken since it was checked is swapped."""
        assert self._server is not None
        for _ in range(5):
            try:
                await self._server.listen(device.name, device.port)
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or not retry:
                    raise LabError(f"device {device.name} cannot listen on 127.0.0.1:{device.port}: {exc}") from exc
                device = dataclasses.replace(device, port=free_ports(1)[0])
                self.devices[device.name] = device
        raise LabError(f"device {device.name} found no free port")

    def stop_device(self, name: str) -> None:
        """Stop one device (to test an unreachable host): its port refuses, its sessions drop."""
        if self._server is not None:
            self._server.call(self._server.close(self._require(name)))

    def start_device(self, name: str) -> None:
        if self._server is not None and self._require(name) not in self._server.acceptors:
            self._server.call(self._listen(self.devices[name], retry=False))

    def _require(self, name: str) -> str:
        if name not in self.devices:
            raise LabError(f"lab has no device {name!r}; it has {sorted(self.devices)}")
        return name

    def sessions(self, name: str | None = None) -> list[LabConnection]:
        """The logged-in SSH connections open now (to ``name``, or to any device); each has
        ``device``, ``username`` and ``opened``, and stays the same object for its whole life."""
        if self._server is None:
            return []
        return self._server.sessions(self._require(name) if name else None)

    # -- the devices' state, behind the flows' back (for tests and demos) --

    def running_config(self, name: str) -> str:
        """What ``show running-config`` (Junos: ``show configuration``) shows on ``name`` now, without the header."""
        return self.store.text(self._require(name))

    def set_running_config(self, name: str, config: str) -> None:
        """Replace ``name``'s running configuration, as if someone changed it by hand (Junos: and committed)."""
        self.store.set_text(self._require(name), config)

    def reject_line(self, name: str, line: str) -> None:
        """Make ``name`` refuse config ``line`` (whitespace-normalized): ``% Invalid input``, Junos ``syntax error``."""
        self.store.get(self._require(name)).rejects.add(" ".join(line.split()))

    def drop_session_after(self, name: str, lines: int) -> None:
        """Make ``name`` close the SSH session instead of taking config line ``lines + 1`` (once)."""
        self.store.get(self._require(name)).drop_after = lines

    def delay_line(self, name: str, line: str, seconds: float) -> None:
        """Make ``name`` apply config ``line``, then hold its answer ``seconds`` (until :meth:`clear_faults`)."""
        state = self.store.get(self._require(name))
        state.release.clear()
        state.delays[" ".join(line.split())] = seconds

    def received_lines(self, name: str) -> list[str]:
        """Every config-mode line ``name`` received since the lab started (``end`` and ``exit`` included)."""
        state = self.store.get(self._require(name))
        with state.lock:
            return list(state.received)

    def set_password(self, name: str, password: str) -> None:
        """Change the password (and enable secret) ``name`` accepts from now on: a credential rotation."""
        state = self.store.get(self._require(name))
        with state.lock:
            state.password = password

    def clear_faults(self, name: str) -> None:
        state = self.store.get(self._require(name))
        with state.lock:
            state.rejects.clear()
            state.drop_after = None
            state.delays.clear()
            state.release.set()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        return {"inventory": str(self.inventory_dir), "devices": [asdict(d) for d in self.devices.values()]}
