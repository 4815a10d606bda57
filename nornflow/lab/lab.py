"""A lab of simulated devices (fakenos) on 127.0.0.1, with a matching Nornir inventory.

Every device is an explicit fakenos host on a port the lab checked itself (fakenos sets
``SO_REUSEPORT``, so two labs on one port would both bind silently). Each platform file
is parsed once, devices start and stop in parallel, and the inventory gives every host
a platform, a site and a role so filters mean something.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from nornflow.exceptions import LabError
from nornflow.lab.baseline import INDENT, baseline, host_data
from nornflow.lab.devices import PLATFORMS, patch_fakenos
from nornflow.lab.running import DeviceStore
from nornflow.lab.shell import bind_shell

log = logging.getLogger(__name__)

DEFAULT_SITES = ("fra", "ams", "nyc")


@dataclass(frozen=True)
class Device:
    name: str
    port: int
    platform: str  # fakenos platform
    site: str
    role: str


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (bound without SO_REUSEPORT, so it is honest)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_ports(count: int, start: int | None = None) -> list[int]:
    """``count`` free loopback ports, from ``start`` upwards or chosen by the kernel."""
    ports: list[int] = []
    if start is None:
        held = []
        try:
            while len(ports) < count:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind(("127.0.0.1", 0))
                held.append(sock)
                ports.append(sock.getsockname()[1])
        finally:
            for sock in held:
                sock.close()
        return ports
    port = start
    while len(ports) < count:
        if port > 65535:
            raise LabError(f"not enough free ports from {start}: found {len(ports)} of {count}")
        if port_is_free(port):
            ports.append(port)
        port += 1
    return ports


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

    >>> with Lab(size=4) as lab:            # doctest: +SKIP
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
        self.byte_delay = byte_delay
        self.extra_commands = extra_commands or {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nornflow-lab-")
            directory = self._tmp.name
        self.directory = Path(directory)
        self.devices: dict[str, Device] = {}
        self.store = DeviceStore()
        self._net: Any = None

    @property
    def inventory_dir(self) -> Path:
        return self.directory / "inventory"

    def _fakenos_inventory(self) -> dict[str, Any]:
        hosts = {}
        for device in self.devices.values():
            spec = PLATFORMS[device.platform]
            hosts[device.name] = {
                "port": device.port,
                "platform": device.platform,
                "nos": {
                    "plugin": device.platform,
                    "configuration": {"commands": {
                        **spec.extra_commands,
                        # scrapli sends the enable secret after `enable`; the lab takes it silently.
                        self.password: {"output": "", "help": "enable secret", "prompt": "{base_prompt}#"},
                        **self.extra_commands,
                    }},
                },
            }
        return {
            "default": {"username": self.username, "password": self.password,
                        "server": {"plugin": "ParamikoSshServer",
                                   "configuration": {"address": "127.0.0.1", "timeout": 1}}},
            "hosts": hosts,
        }

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
        defaults = {
            "username": self.username,
            "password": self.password,
            "connection_options": {
                "scrapli": {
                    "extras": {
                        "transport": "paramiko",
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
            (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return folder

    def start(self) -> Lab:
        from fakenos import FakeNOS
        from fakenos.core.nos import Nos
        from fakenos.plugins.nos import nos_plugins

        patch_fakenos(self.byte_delay)
        # The devices log every unknown command and closed session; that is lab noise.
        logging.getLogger("fakenos").setLevel(logging.CRITICAL)
        ports = free_ports(self.size, self.start_port)
        self.devices = {d.name: d for d in plan_devices(self.size, self.platforms, self.sites, ports)}
        # Parse each platform file once; every device of that platform shares the parsed NOS.
        plugins = []
        for platform in self.platforms:
            nos = Nos(filename=nos_plugins[platform])
            nos.name = platform
            plugins.append(nos)
        self.store = DeviceStore()
        for i, device in enumerate(self.devices.values()):
            self.store.add(device.name, baseline(device.platform, device.name, i + 1), INDENT[device.platform])
        self._net = FakeNOS(inventory=self._fakenos_inventory(), plugins=plugins)
        # Devices remember their configuration: every session of a device shares its store entry.
        self._net.shell_plugins["CMDShell"] = bind_shell(self.store)
        try:
            self._each("start", list(self.devices))
        except Exception as exc:
            self.stop()
            raise LabError(f"the lab could not start its devices: {exc}") from exc
        self.write_inventory()
        log.info("lab: %d devices up on 127.0.0.1:%d-%d", self.size, min(ports), max(ports))
        return self

    def _each(self, action: str, names: list[str]) -> None:
        hosts = [self._net.hosts[n] for n in names]
        # Stopping a device waits up to its accept timeout (1 s): do many at once.
        with ThreadPoolExecutor(max_workers=min(128, max(1, len(hosts)))) as pool:
            list(pool.map(lambda h: getattr(h, action)() if h.running == (action == "stop") else None, hosts))

    def stop_device(self, name: str) -> None:
        """Stop one device (to test an unreachable host); the rest keep running."""
        self._each("stop", [self._require(name)])

    def start_device(self, name: str) -> None:
        self._each("start", [self._require(name)])

    def _require(self, name: str) -> str:
        if name not in self.devices:
            raise LabError(f"lab has no device {name!r}; it has {sorted(self.devices)}")
        return name

    # -- the devices' state, behind the flows' back (for tests and demos) --

    def running_config(self, name: str) -> str:
        """What ``show running-config`` shows on ``name`` now (without the header lines)."""
        return self.store.text(self._require(name))

    def set_running_config(self, name: str, config: str) -> None:
        """Replace ``name``'s running configuration, as if someone changed it by hand."""
        self.store.set_text(self._require(name), config)

    def reject_line(self, name: str, line: str) -> None:
        """Make ``name`` answer ``% Invalid input`` to config ``line`` (whitespace-normalized)."""
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
        """Change the password ``name`` accepts from now on (a credential rotation on the device)."""
        host = self._net.hosts[self._require(name)]
        host.password = password
        if host.server is not None:
            host.server.password = password

    def clear_faults(self, name: str) -> None:
        state = self.store.get(self._require(name))
        state.rejects.clear()
        state.drop_after = None
        state.delays.clear()
        state.release.set()

    def stop(self) -> None:
        if self._net is not None:
            with contextlib.suppress(Exception):
                self._each("stop", list(self._net.hosts))
            self._net = None

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
