"""An in-memory secrets backend for unit tests (no I/O): counts reads, can fail on demand."""

from __future__ import annotations

import threading
import time
from typing import Any

from nornir.core.inventory import Defaults, Group, Groups, Host, Hosts, Inventory, ParentGroups

from nornflow.exceptions import SecretAccessDenied, SecretBackendUnavailable, SecretNotFound


class MemoryBackend:
    """``load(name)`` returns a source over ``store``; only block ``main`` exists."""

    def __init__(self, store: dict[str, Any] | None = None) -> None:
        self.store: dict[str, Any] = dict(store or {})
        self.reads: list[str] = []
        self.loads = 0
        self.down_for = 0  # fail this many reads with SecretBackendUnavailable
        self.denied: set[str] = set()
        self.delay = 0.0
        self._lock = threading.Lock()

    def load(self, name: str) -> MemorySource:
        if name != "main":
            raise ValueError(f"Unable to find block document named {name}")
        self.loads += 1
        return MemorySource(self)


class MemorySource:
    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend

    def read_secret(self, path: str, version: str | None = None) -> Any:
        b = self.backend
        with b._lock:
            b.reads.append(path)
            down = b.down_for > 0
            if down:
                b.down_for -= 1
        if b.delay:
            time.sleep(b.delay)
        if down:
            raise SecretBackendUnavailable("memory backend is down")
        if path in b.denied:
            raise SecretAccessDenied(f"policy forbids {path}")
        key = f"{path}@{version}" if version else path
        if key not in b.store:
            raise SecretNotFound(f"no secret at {path}")
        return b.store[key]


def inventory(
    host_fields: dict[str, dict[str, Any]],
    groups: dict[str, dict[str, Any]] | None = None,
    defaults: dict[str, Any] | None = None,
) -> Inventory:
    defaults_obj = Defaults(**(defaults or {}))
    group_objs = Groups()
    for name, fields in (groups or {}).items():
        group_objs[name] = Group(name=name, defaults=defaults_obj, **fields)
    hosts = Hosts()
    for name, fields in host_fields.items():
        fields = dict(fields)
        parents = ParentGroups(group_objs[g] for g in fields.pop("groups", []))
        hosts[name] = Host(name=name, groups=parents, defaults=defaults_obj, **fields)
    return Inventory(hosts=hosts, groups=group_objs, defaults=defaults_obj)
