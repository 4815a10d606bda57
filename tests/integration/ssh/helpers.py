"""Run the built-in backup read over an inventory on either session path, without a Prefect server."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from nornir.core.task import MultiResult

from nornflow.engine import aio
from nornflow.engine.run import _host_task
from nornflow.engine.runner import DeadlineRunner, run_kwargs
from nornflow.inventory.load import load_nornir
from nornflow.secrets import Resolver, resolve_inventory
from nornflow.tasks.backup import get_running_config, get_running_config_async


def read_async(folder: Path, sessions: int = 20, resolver: Resolver | None = None) -> dict[str, MultiResult | None]:
    """Every host's running config on the async path (AsyncScrapli over asyncssh)."""
    nr = load_nornir(folder)
    assert resolve_inventory(nr.inventory, resolver or Resolver()) == {}
    hosts = list(nr.inventory.hosts.values())
    return aio.run_hosts(hosts, get_running_config_async, {}, gate=aio.Gate(sessions), host_timeout=60)


def read_threaded(folder: Path, sessions: int = 20, resolver: Resolver | None = None) -> dict[str, Any]:
    """Every host's running config on the threaded path (nornir-scrapli, NornFlow's paramiko transport)."""
    nr = load_nornir(folder)
    assert resolve_inventory(nr.inventory, resolver or Resolver()) == {}
    runner = DeadlineRunner(threading.BoundedSemaphore(sessions), 60)
    got = nr.with_runner(runner).run(task=_host_task, inner=get_running_config, inner_kwargs={}, **run_kwargs())
    return dict(got.items())


def errors(results: dict[str, Any]) -> dict[str, str]:
    """``{host: error text}`` of the failed hosts ('' for a host with no result)."""
    out = {}
    for name, multi in results.items():
        if multi is None:
            out[name] = "(timed out)"
        elif multi[0].failed:
            out[name] = str(multi[0].exception)
    return out


def configs(results: dict[str, Any]) -> dict[str, str]:
    return {n: str(m[0].result) for n, m in results.items() if m is not None and not m[0].failed}
