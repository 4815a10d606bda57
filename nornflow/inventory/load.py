"""Load a Nornir SimpleInventory with errors that name the file and the line, and select hosts.

An inventory is a directory holding ``hosts.yaml`` (and optionally ``groups.yaml`` and
``defaults.yaml``), or the path of a hosts file whose siblings are the other two. It may also
name a source of truth: a YAML file with ``source: nautobot`` (or ``netbox``), or a URL like
``nautobot+https://host/?token=<secret reference>&location=fra`` (see :mod:`nornflow.inventory.sources`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from nornir.core import Nornir
from nornir.core.configuration import Config
from nornir.core.inventory import Group, Groups, Host, Hosts, Inventory, ParentGroups
from nornir.core.plugins.connections import ConnectionPluginRegister
from nornir.core.state import GlobalState
from nornir.plugins.runners import ThreadedRunner
from pydantic import BaseModel, Field

from nornflow.exceptions import HostSelectionError, InventoryError
from nornflow.ssh.settings import problems as ssh_settings_problems
from nornflow.ssh.settings import remember_inventory_dir

_SECTIONS = ("hosts", "groups", "defaults")
_HOST_KEYS = {
    "hostname", "port", "username", "password", "platform", "groups", "data", "connection_options",
}


def inventory_files(inventory: str | Path) -> dict[str, Path]:
    """Map ``hosts``/``groups``/``defaults`` to their files; only ``hosts`` must exist."""
    path = Path(inventory).expanduser()
    if path.is_dir():
        folder, hosts = path, path / "hosts.yaml"
        if not hosts.exists() and (path / "hosts.yml").exists():
            hosts = path / "hosts.yml"
    else:
        folder, hosts = path.parent, path
    if not hosts.exists():
        raise InventoryError(
            f"inventory {hosts} does not exist: pass a directory holding hosts.yaml, or the path of a "
            f"hosts file (start a lab with `nornflow lab up` to get one)"
        )
    files = {"hosts": hosts}
    for section in ("groups", "defaults"):
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{section}{suffix}"
            if candidate.exists():
                files[section] = candidate
                break
    return files


try:  # libyaml: a 1,000-host inventory parses in milliseconds instead of a second
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader


class _Document:
    """One parsed inventory file; its syntax tree (for line numbers) only when an error needs one."""

    def __init__(self, path: Path, text: str, data: Any) -> None:
        self.path, self.text, self.data = path, text, data
        self._node: yaml.Node | None = None

    @property
    def node(self) -> yaml.Node | None:
        if self._node is None:
            self._node = yaml.compose(self.text, Loader=_Loader)
        return self._node


def _load_yaml(path: Path) -> _Document:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"inventory file {path} cannot be read: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (libyaml's SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InventoryError(f"inventory file {where}: malformed YAML ({problem}); fix that line") from None
    return _Document(path, text, data)


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def validate_inventory(files: dict[str, Path]) -> dict[str, Any]:
    """Check the structure Nornir assumes, naming the file and line of the first problem.

    Returns each section's parsed data (``hosts``, ``groups``, ``defaults``; ``{}`` when absent).
    """
    loaded = {section: _load_yaml(path) for section, path in files.items()}
    hosts = loaded["hosts"].data
    if hosts is None:
        raise InventoryError(f"inventory file {files['hosts']}:1: no hosts; add at least one host")
    groups = (loaded["groups"].data or {}) if "groups" in loaded else {}
    for section, doc in loaded.items():
        path, data = files[section], doc.data
        if data is None:
            continue
        if not isinstance(data, dict):
            node = doc.node
            line = node.start_mark.line + 1 if node is not None else 1
            raise InventoryError(
                f"inventory file {path}:{line}: expected a mapping of names to settings, "
                f"found {type(data).__name__}"
            )
        if section == "defaults":
            data_of = data.get("data")
            ssh_problems = ssh_settings_problems(data_of.get("ssh")) if isinstance(data_of, dict) else []
            if ssh_problems:
                line = _key_lines(doc.node).get("data", 1)
                raise InventoryError(f"inventory file {path}:{line}: defaults: {ssh_problems[0]}")
            continue

        def line_of(name: Any, doc: _Document = doc) -> int:
            return _key_lines(doc.node).get(str(name), 1)

        for name, entry in data.items():
            if entry is None:
                continue
            if not isinstance(entry, dict):
                raise InventoryError(
                    f"inventory file {path}:{line_of(name)}: {section[:-1]} {name!r} must be a mapping "
                    f"(hostname:, platform:, ...), found {type(entry).__name__}"
                )
            unknown = set(entry) - _HOST_KEYS
            if unknown:
                raise InventoryError(
                    f"inventory file {path}:{line_of(name)}: {section[:-1]} {name!r} has unknown keys "
                    f"{sorted(unknown)}; put custom values under data:"
                )
            ssh_problems = ssh_settings_problems((entry.get("data") or {}).get("ssh")) \
                if isinstance(entry.get("data"), dict) else []
            if ssh_problems:
                raise InventoryError(
                    f"inventory file {path}:{line_of(name)}: {section[:-1]} {name!r}: {ssh_problems[0]}")
            port = entry.get("port")
            if port is not None and not (isinstance(port, int) and 0 < port < 65536):
                raise InventoryError(f"inventory file {path}:{line_of(name)}: {name!r} port {port!r} is not 1-65535")
            member_of = entry.get("groups") or []
            if not isinstance(member_of, list):
                raise InventoryError(f"inventory file {path}:{line_of(name)}: {name!r} groups must be a list")
            missing = [g for g in member_of if g not in groups]
            if missing:
                raise InventoryError(
                    f"inventory file {path}:{line_of(name)}: {name!r} is in undefined groups {missing}; "
                    f"define them in {files.get('groups', path.parent / 'groups.yaml')}"
                )
    return {section: (loaded[section].data or {}) if section in loaded else {} for section in _SECTIONS}


class _LazyPlugins(dict[str, Any]):
    """Nornir's connection-plugin table, whose entry points are loaded when first looked up.

    ``ConnectionPluginRegister.auto_register()`` imports every installed connection plugin:
    nornir-scrapli's module alone loads scrapli-cfg, scrapli-netconf and lxml (7 MB, ~50 ms in a
    fresh worker process), which the async sessions of the built-in tasks never use. Here a
    plugin is imported when a task opens a connection with it. Every way Nornir reads the table
    (``get``, ``[]``, ``in``, ``pop``) sees the same classes ``auto_register`` would have
    registered, so a later ``auto_register()`` or ``register()`` of the same class still agrees.
    """

    def __init__(self, loaded: dict[str, Any], pending: dict[str, Any]) -> None:
        super().__init__(loaded)
        self._pending = pending  # name -> importlib.metadata.EntryPoint, until it is loaded
        self._lock = threading.RLock()  # host threads look plugins up at once

    def _load(self, name: object) -> None:
        if not (isinstance(name, str) and name in self._pending):
            return
        with self._lock:
            if name in self._pending:  # stays pending (so ``in`` holds) until the class is in
                super().__setitem__(name, self._pending[name].load())
                del self._pending[name]

    def _load_all(self) -> None:
        for name in list(self._pending):
            self._load(name)

    def __getitem__(self, name: str) -> Any:
        self._load(name)
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        self._load(name)
        return dict.get(self, name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._pending or dict.__contains__(self, name)

    def pop(self, name: str, *default: Any) -> Any:  # type: ignore[override]
        self._load(name)
        return dict.pop(self, name, *default)

    def __iter__(self) -> Any:
        self._load_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load_all()
        return dict.__len__(self)

    def keys(self) -> Any:  # type: ignore[override]
        self._load_all()
        return dict.keys(self)

    def values(self) -> Any:  # type: ignore[override]
        self._load_all()
        return dict.values(self)

    def items(self) -> Any:  # type: ignore[override]
        self._load_all()
        return dict.items(self)


def register_connection_plugins() -> None:
    """What ``ConnectionPluginRegister.auto_register()`` does, each plugin imported on first use."""
    from importlib.metadata import entry_points

    from nornir.core.plugins.connections import CONNECTIONS_PLUGIN_PATH

    table = ConnectionPluginRegister.available
    if isinstance(table, _LazyPlugins):
        return
    pending = {ep.name: ep for ep in entry_points(group=CONNECTIONS_PLUGIN_PATH) if ep.name not in table}
    ConnectionPluginRegister.available = _LazyPlugins(dict(table), pending)


def load_nornir(inventory: str | Path, *, num_workers: int = 100) -> Nornir:
    """Build a Nornir object over a SimpleInventory directory, validated first, or over a source.

    The files are parsed once (libyaml) and the inventory built from that data with Nornir's
    own SimpleInventory constructors, so hosts, groups and defaults mean what they mean to
    ``InitNornir(inventory={"plugin": "SimpleInventory"})``, without its second, pure-Python
    parse (ruamel), which took most of a second for a few dozen hosts.

    A source file or URL (``source: nautobot``, ``nautobot+https://...``) is read through
    :mod:`nornflow.inventory.sources`: server down, token refused or a rejected filter raise an
    :class:`InventoryError` child; a device that cannot run becomes a host that fails alone.
    """
    from nornflow.inventory.sources import load_source, source_spec

    spec = source_spec(inventory)
    if spec is not None:
        return load_source(spec, num_workers=num_workers)
    files = inventory_files(inventory)
    data = validate_inventory(files)
    register_connection_plugins()
    config = Config.from_dict(runner={"plugin": "threaded", "options": {"num_workers": num_workers}},
                              logging={"enabled": False})
    built = build_inventory(data["hosts"], data["groups"], data["defaults"])
    # Where relative ssh paths (the known-hosts file kept with the inventory) are found: nornflow.ssh.settings.
    remember_inventory_dir(built.defaults, files["hosts"].parent.absolute())
    return Nornir(inventory=built, runner=ThreadedRunner(num_workers=num_workers), config=config, data=GlobalState())


def build_inventory(hosts: dict[str, Any], groups: dict[str, Any], defaults: dict[str, Any]) -> Inventory:
    """A Nornir inventory from SimpleInventory-shaped mappings (as read from hosts/groups/defaults.yaml)."""
    from nornir.plugins.inventory.simple import _get_defaults, _get_inventory_element

    base = _get_defaults(defaults or {})
    built_hosts = Hosts({n: _get_inventory_element(Host, h or {}, n, base) for n, h in hosts.items()})
    built_groups = Groups({n: _get_inventory_element(Group, g or {}, n, base) for n, g in groups.items()})
    for element in (*built_hosts.values(), *built_groups.values()):
        # _get_inventory_element leaves group names where Nornir expects groups: link them, as it does
        element.groups = ParentGroups([built_groups[str(g)] for g in element.groups])
    return Inventory(hosts=built_hosts, groups=built_groups, defaults=base)


def inventory_problems(nr: Nornir) -> dict[str, str]:
    """``{host: reason}`` for hosts that cannot run (a source device without an address, say).

    Such hosts fail alone when a task opens a connection; a caller can also pass this to
    ``run_task(prefailed=...)`` to report them without trying.
    """
    from nornflow.inventory.sources import inventory_problems as problems

    return problems(nr.inventory)


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


class HostFilter(BaseModel):
    """Which hosts a run touches: OR within a field, AND across fields; empty means all hosts."""

    names: list[str] = Field(default_factory=list, description="host names")
    groups: list[str] = Field(default_factory=list, description="Nornir group names")
    sites: list[str] = Field(default_factory=list, description="values of data.site")
    roles: list[str] = Field(default_factory=list, description="values of data.role")
    platforms: list[str] = Field(default_factory=list, description="Nornir platform names")
    tags: list[str] = Field(default_factory=list, description="values in data.tags (a list)")

    @classmethod
    def coerce(cls, value: HostFilter | dict[str, Any] | None) -> HostFilter:
        if value is None:
            return cls()
        if isinstance(value, HostFilter):
            return value
        if not isinstance(value, dict):
            raise HostSelectionError(f"host filter {value!r} must be a mapping like {{'sites': ['fra']}}")
        unknown = set(value) - set(cls.model_fields)
        if unknown:
            raise HostSelectionError(
                f"host filter has unknown fields {sorted(unknown)}; use {sorted(cls.model_fields)}"
            )
        return cls(**{k: _as_list(v) for k, v in value.items()})

    def is_empty(self) -> bool:
        return not any((self.names, self.groups, self.sites, self.roles, self.platforms, self.tags))

    def describe(self) -> str:
        parts = [f"{k}={','.join(v)}" for k, v in self.model_dump().items() if v]
        return " & ".join(parts) or "all hosts"

    def matches(self, host: Host) -> bool:
        if self.names and host.name not in self.names:
            return False
        if self.groups and not any(host.has_parent_group(g) for g in self.groups):
            return False
        if self.sites and host.get("site") not in self.sites:
            return False
        if self.roles and host.get("role") not in self.roles:
            return False
        if self.tags and not set(self.tags) & set(host.get("tags") or ()):
            return False
        return not (self.platforms and host.platform not in self.platforms)

    def select(self, nr: Nornir) -> list[str]:
        """Names of the matching hosts; raise :class:`HostSelectionError` when none match."""
        hosts = nr.inventory.hosts
        unknown = [n for n in self.names if n not in hosts]
        if unknown:
            raise HostSelectionError(
                f"host filter names hosts that are not in the inventory: {unknown}; "
                f"known hosts include {sorted(hosts)[:10]}"
            )
        selected = [name for name, host in hosts.items() if self.matches(host)]
        if not selected:
            def known(attr: str) -> list[str]:
                return sorted({str(h.get(attr)) for h in hosts.values() if h.get(attr) is not None})
            raise HostSelectionError(
                f"host filter ({self.describe()}) matches no host among {len(hosts)}; "
                f"sites: {known('site')}, roles: {known('role')}, "
                f"platforms: {sorted({str(h.platform) for h in hosts.values()})}"
            )
        return selected

    def apply(self, nr: Nornir) -> Nornir:
        names = set(self.select(nr))
        return nr.filter(filter_func=lambda h: h.name in names)
