"""Per-device locks: one Prefect global concurrency limit of 1 per device, ``device:<host>``.

A flow that changes devices passes ``session_limits=DEVICE_LOCKS`` to
:func:`nornflow.engine.run.run_task`; each host's session then holds its device's slot, so two
different flows (a config push and a remediation plan, say) never change one device at
the same time, while different devices still run in parallel. The limits must exist on
the server before such a run: :func:`ensure_device_locks` creates the missing ones
(``nornflow doctor --fix`` calls it for every inventory the deployments name).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nornir.core.inventory import Host

#: The template :func:`limit_names` expands per host.
DEVICE_LOCK = "device:{host}"
DEVICE_LOCKS: tuple[str, ...] = (DEVICE_LOCK,)


def limit_names(host: Host, templates: Iterable[str]) -> list[str]:
    """Concurrency-limit names for one host: ``"device:{host}"``, ``"site:{site}"``, ``"jump:{data[jump]}"``."""
    fields = {"host": host.name, "site": host.get("site"), "role": host.get("role"),
              "platform": host.platform, "data": host.data}
    return [t.format(**fields) for t in templates]


def lock_name(host: str) -> str:
    return DEVICE_LOCK.format(host=host)


def inventory_hosts(inventory: str | Path) -> list[str]:
    """Host names of an inventory (a SimpleInventory directory or a source such as Nautobot), without
    connecting to a device or resolving a secret."""
    from nornflow.inventory.load import load_nornir

    return sorted(load_nornir(inventory).inventory.hosts)


def missing_device_locks(hosts: Iterable[str]) -> list[str]:
    """Lock names of ``hosts`` that do not exist on the server (or are inactive)."""
    from prefect.client.orchestration import get_client

    wanted = {lock_name(h) for h in hosts}
    with get_client(sync_client=True) as client:
        present = {limit.name for limit in _all_limits(client) if limit.active}
    return sorted(wanted - present)


def ensure_device_locks(hosts: Iterable[str]) -> list[str]:
    """Create ``device:<host>`` (limit 1) for every host that lacks one; returns the names created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    missing = missing_device_locks(hosts)
    with get_client(sync_client=True) as client:
        existing = {limit.name for limit in _all_limits(client)}
        for name in missing:
            if name in existing:  # present but inactive: turn it back on
                from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

                update = GlobalConcurrencyLimitUpdate(active=True, limit=1)
                client.update_global_concurrency_limit(name, update)
            else:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    return missing


def _all_limits(client: Any) -> list[Any]:
    limits: list[Any] = []
    offset = 0
    while True:
        page = client.read_global_concurrency_limits(limit=200, offset=offset)
        limits.extend(page)
        if len(page) < 200:
            return limits
        offset += 200
