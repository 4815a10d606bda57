"""Build a Nornir inventory from a source of truth: a Nornir inventory plugin and a ``load_nornir`` twin.

A device that cannot run (no address, no platform, a plain password where a reference belongs)
still becomes a host, an :class:`UnusableHost`: host filters see its site and role, and the
first session a task opens (through Nornir, or NornFlow's asyncio path, both of which ask
for the connection parameters first) raises :class:`UnusableDevice` with the reason, so that
host fails alone in the engine's records while the others run. ``inventory_problems`` lists them
for callers that want to report them before running (``run_task(prefailed=...)``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import httpx
from nornir.core import Nornir
from nornir.core.configuration import Config
from nornir.core.inventory import (
    ConnectionOptions,
    Defaults,
    Groups,
    Host,
    Hosts,
    Inventory,
)
from nornir.core.plugins.inventory import InventoryPluginRegister
from nornir.core.state import GlobalState
from nornir.plugins.runners import ThreadedRunner

from nornflow.exceptions import SecretError
from nornflow.inventory.load import register_connection_plugins
from nornflow.inventory.sources import nautobot, netbox
from nornflow.inventory.sources.client import SourceClient
from nornflow.inventory.sources.device import SourceDevice
from nornflow.inventory.sources.exceptions import SourceError, UnusableDevice
from nornflow.inventory.sources.mapping import HostEntry, map_device
from nornflow.inventory.sources.spec import SourceSpec, build_spec

log = logging.getLogger(__name__)

PLUGIN_NAME = "NornFlowSource"
ENTRY_POINT_GROUP = "nornflow.inventory_sources"
#: Host data key holding the reason an :class:`UnusableHost` cannot run.
PROBLEM_KEY = "nornflow_source_problem"
CONNECTION = "scrapli"

Fetch = Callable[[SourceClient, SourceSpec], list[SourceDevice]]


class UnusableHost(Host):
    """A device the source lists but NornFlow cannot reach; opening a connection raises why."""

    __slots__ = ()

    @property
    def problem(self) -> str:
        return str((self.data or {}).get(PROBLEM_KEY, f"{self.name} cannot be used"))

    # Every way a session starts asks for these first: Nornir's connection plugins through
    # get_connection/open_connection, NornFlow's asyncio sessions through the parameters.
    def get_connection_parameters(self, connection: str | None = None) -> ConnectionOptions:
        raise UnusableDevice(self.problem)

    def open_connection(self, connection: str, configuration: Any, *args: Any, **kwargs: Any) -> Any:
        raise UnusableDevice(self.problem)

    def get_connection(self, connection: str, configuration: Any) -> Any:
        raise UnusableDevice(self.problem)


def _logger() -> Any:
    """The flow run's logger when there is one (the summary then shows in the Prefect UI), else ours."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return log


def fetcher(source: str) -> Fetch:
    """The function that reads ``source``'s devices: built in, or from a package's entry point."""
    builtin: dict[str, Fetch] = {"nautobot": nautobot.fetch, "netbox": netbox.fetch}
    if source in builtin:
        return builtin[source]
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if source not in found:
        raise SourceError(f"unknown inventory source {source!r}: use {', '.join(sorted({*builtin, *found}))} "
                          f"(a package adds one through the {ENTRY_POINT_GROUP!r} entry-point group)")
    loaded: Fetch = found[source].load()
    return loaded


def _defaults(spec: SourceSpec) -> Defaults:
    raw = spec.defaults
    return Defaults(
        port=raw.get("port"), username=raw.get("username"), password=raw.get("password"),
        platform=raw.get("platform"), data=dict(raw.get("data") or {}),
        connection_options={name: ConnectionOptions(**(opts or {}))
                            for name, opts in (raw.get("connection_options") or {}).items()},
    )


def _host(entry: HostEntry, defaults: Defaults) -> Host:
    options: dict[str, ConnectionOptions] = {}
    if entry.enable is not None:
        inherited = defaults.connection_options.get(CONNECTION)
        extras = {**((inherited.extras if inherited else None) or {}), "auth_secondary": entry.enable}
        options[CONNECTION] = ConnectionOptions(extras=extras)  # Nornir takes extras whole, not merged
    data = {**entry.data, PROBLEM_KEY: entry.problem} if entry.problem else entry.data
    kind = UnusableHost if entry.problem else Host
    return kind(name=entry.name, hostname=entry.hostname, port=entry.port, platform=entry.platform,
                username=entry.username, password=entry.password,  # type: ignore[arg-type]  # references
                data=data, connection_options=options, defaults=defaults)


def build_inventory(devices: list[SourceDevice], spec: SourceSpec) -> Inventory:
    """The Nornir inventory of ``devices``; one device's problem never stops the others."""
    defaults = _defaults(spec)
    hosts = Hosts()
    for device in devices:
        entry = map_device(device, spec)
        if entry.name in hosts:
            first = hosts[entry.name]
            entry.problem = (f"{spec.kind} device {entry.name!r} (id {device.id}): another "
                             f"device has this name (id {first.get('source_id')}, site {first.get('site')}); "
                             "Nornir needs unique names: rename one")
            entry.name = f"{entry.name}~{device.id[:8]}"
        hosts[entry.name] = _host(entry, defaults)
    return Inventory(hosts=hosts, groups=Groups(), defaults=defaults)


class SourceInventory:
    """Nornir inventory plugin ``NornFlowSource``: ``options: {spec: {source: nautobot, url: ..., ...}}``."""

    def __init__(self, spec: SourceSpec | dict[str, Any], resolver: Any = None,
                 transport: httpx.BaseTransport | None = None, **_: Any) -> None:
        self.spec = spec if isinstance(spec, SourceSpec) else build_spec(spec, str(spec.get("origin", "options")))
        self.resolver = resolver
        self.transport = transport
        self.stats: dict[str, float] = {}

    def _token(self) -> str:
        from nornflow.secrets import Resolver

        resolver = self.resolver or Resolver()
        try:
            token: str = resolver.resolve(self.spec.token)
        except SecretError as exc:
            raise SourceError(f"the API token for {self.spec.label} (in {self.spec.where}) cannot be read: "
                              f"{exc}") from None
        return token

    def load(self) -> Inventory:
        spec = self.spec
        fetch = fetcher(spec.source)
        started = time.perf_counter()
        with SourceClient(spec, self._token(), transport=self.transport) as client:
            devices = fetch(client, spec)
            requests = client.requests
        inventory = build_inventory(devices, spec)
        self.stats = {"devices": len(devices), "requests": requests, "seconds": time.perf_counter() - started}
        problems = inventory_problems(inventory)
        _logger().info("%s: %d devices (%s) in %.1f s, %d requests; %d cannot run%s", spec.label, len(devices),
                 spec.filters.describe(), self.stats["seconds"], requests, len(problems),
                 "".join(f"\n  {reason}" for reason in problems.values()))
        return inventory


InventoryPluginRegister.register(PLUGIN_NAME, SourceInventory)


def inventory_problems(inventory: Inventory) -> dict[str, str]:
    """``{host: reason}`` for the hosts a source listed but that cannot run."""
    return {name: str(host.data[PROBLEM_KEY]) for name, host in inventory.hosts.items()
            if PROBLEM_KEY in (host.data or {})}


def load_source(spec: SourceSpec, *, num_workers: int = 100, resolver: Any = None,
                transport: httpx.BaseTransport | None = None) -> Nornir:
    """A Nornir object over the source's devices (what ``load_nornir`` returns for a source file).

    Its config names the ``NornFlowSource`` plugin and the spec, so ``InitNornir(**config)``
    elsewhere would read the same devices; ``resolver``/``transport`` are for tests.
    """
    plugin = SourceInventory(spec, resolver=resolver, transport=transport)
    inventory = plugin.load()
    register_connection_plugins()
    config = Config.from_dict(
        inventory={"plugin": PLUGIN_NAME, "options": {"spec": {**spec.model_dump(), "origin": spec.origin}}},
        runner={"plugin": "threaded", "options": {"num_workers": num_workers}}, logging={"enabled": False},
    )
    return Nornir(inventory=inventory, runner=ThreadedRunner(num_workers=num_workers), config=config,
                  data=GlobalState())
