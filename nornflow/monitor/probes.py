"""The stack's health checks, one function per part; each returns :class:`Check` results.

A check never raises: what it could not find out is itself the finding (``degraded``, with
the reason), and a part that is not configured is ``skipped``. Every detail names what is
wrong and the fix names what to do; none carries a secret's value (the secret backends'
messages never do, and :mod:`nornflow.monitor.health` redacts everything once more).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

Status = Literal["ok", "degraded", "skipped"]


@dataclass
class Check:
    """One health check's verdict. ``part`` becomes the event resource ``nornflow.health.<part>``."""

    part: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def degraded(self) -> bool:
        return self.status == "degraded"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:-]+", "-", text).strip("-") or "unnamed"


# -- Prefect ------------------------------------------------------------------------------
def api(client: Any, slow: float = 5.0) -> Check:
    started = time.perf_counter()
    error = client.api_healthcheck()
    took = time.perf_counter() - started
    if error is not None:
        return Check("api", "degraded", f"{client.api_url} does not answer: {type(error).__name__}: {error}",
                     "start the server (prefect server start) or fix PREFECT_API_URL")
    if took > slow:
        return Check("api", "degraded", f"{client.api_url} answered in {took:.1f} s (over {slow:g} s)",
                     "look at the server's load and its database")
    return Check("api", "ok", f"{client.api_url} answered in {took * 1000:.0f} ms")


def work_pools(client: Any, names: Iterable[str] | None = None) -> list[Check]:
    """Each pool (all, or ``names``) has at least one worker that sent a heartbeat lately."""
    from prefect.exceptions import ObjectNotFound

    wanted = sorted(set(names)) if names is not None else sorted(p.name for p in client.read_work_pools())
    checks = []
    for name in wanted:
        part = f"work-pool.{_slug(name)}"
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            checks.append(Check(part, "degraded", f"work pool {name!r} does not exist",
                                f"prefect work-pool create {name} --type process"))
            continue
        workers = client.read_workers_for_work_pool(name)
        online = [w for w in workers if str(getattr(w.status, "value", w.status)).upper() == "ONLINE"]
        if pool.is_paused:
            checks.append(Check(part, "degraded", f"work pool {name!r} is paused: no run starts",
                                f"prefect work-pool resume {name}"))
        elif not online:
            seen = max((w.last_heartbeat_time for w in workers if w.last_heartbeat_time), default=None)
            last = f"; last heartbeat {seen:%Y-%m-%d %H:%M UTC}" if seen else ""
            checks.append(Check(part, "degraded", f"work pool {name!r} has no live worker "
                                f"({len(workers)} known{last}): its scheduled runs wait",
                                f"start one: prefect worker start --pool {name}"))
        else:
            checks.append(Check(part, "ok", f"{len(online)} live worker(s): {', '.join(w.name for w in online[:5])}"))
    return checks


#: Flow run states in which a run may hold a concurrency slot (a deployment's slot is taken at PENDING).
ACTIVE_STATES = ("PENDING", "RUNNING", "CANCELLING")
DEPLOYMENT_LIMIT = "deployment:"


def concurrency_limits(client: Any, current_run: Any = None) -> list[Check]:
    """Global limits that are full with no active flow run to hold them: their slots leaked (a crashed run).

    A full limit is explained, not stuck, when its holder can be active: Prefect's
    ``deployment:<id>`` limit (a deployment's ``concurrency_limit``) while a run of that
    deployment is PENDING, RUNNING or CANCELLING, which includes the limit of ``current_run``'s
    own deployment (stack_health with ``concurrency_limit: 1`` holds its own slot while it
    checks); any other limit while any run other than ``current_run`` is active (the API does
    not say who holds a global limit's slots).
    """
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType

    limits: list[Any] = []
    while True:
        page = client.read_global_concurrency_limits(limit=200, offset=len(limits))
        limits.extend(page)
        if len(page) < 200:
            break
    full = [lim for lim in limits if lim.active and lim.limit > 0 and lim.active_slots >= lim.limit]
    if not full:
        return [Check("concurrency", "ok", f"{len(limits)} global limit(s), none full")]
    me = str(current_run) if current_run else None
    active = client.read_flow_runs(flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=list(ACTIVE_STATES)))), limit=200)  # type: ignore[arg-type]
    own = next((r.deployment_id for r in active if str(r.id) == me), None)
    if me and own is None:  # the current run, not in the page read (or not active yet): ask for it
        own = client.read_flow_run(UUID(me)).deployment_id
    others = [r for r in active if str(r.id) != me]
    busy_deployments = {str(r.deployment_id) for r in others if r.deployment_id}
    explained, stuck = [], []
    for lim in full:
        name = str(lim.name)
        if name.startswith(DEPLOYMENT_LIMIT):
            deployment = name.removeprefix(DEPLOYMENT_LIMIT)
            if own is not None and deployment == str(own):
                explained.append(f"{name} (this run's own deployment)")
            elif deployment in busy_deployments:
                explained.append(f"{name} (a run of the deployment is active)")
            else:
                stuck.append(lim)
        elif others:
            explained.append(name)
        else:
            stuck.append(lim)
    checks = [Check(f"concurrency.{_slug(lim.name)}", "degraded",
                    f"limit {lim.name!r} is full ({lim.active_slots}/{lim.limit}) while no flow run that could "
                    "hold it is pending or running: its slots are held by runs that ended (crashed?)",
                    f"prefect gcl update {lim.name} --active-slots 0 (after checking nothing uses it)")
              for lim in stuck]
    if explained:
        checks.insert(0, Check("concurrency", "ok", f"{len(explained)} full limit(s) held by active runs "
                               f"({len(others)} other run(s) active): {', '.join(explained[:5])}"))
    return checks


def secret_blocks(client: Any) -> list[Check]:
    """Every block document of every secret backend answers its ``health_check()``."""
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    from nornflow.secrets.backends import BackendRegistry, HealthCheckable
    from nornflow.secrets.redaction import redact_text

    registry = BackendRegistry()
    checks = []
    for slug in registry.names():
        if slug == "secret":  # Prefect's own Secret blocks live in the API checked above
            continue
        try:
            documents = client.read_block_documents_by_type(slug, include_secrets=False)
        except ObjectNotFound:  # the block type is not registered on this server: nobody uses it
            continue
        except PrefectHTTPStatusError as exc:  # the same, as this client method reports it (404)
            if exc.response.status_code == 404:
                continue
            raise
        for document in documents:
            part = f"secret-block.{slug}.{_slug(document.name)}"
            try:
                source = registry.get(slug).load(document.name)
                _register_secrets(source)
                if not isinstance(source, HealthCheckable):
                    checks.append(Check(part, "skipped", f"{slug}/{document.name} has no health check"))
                    continue
                checks.append(Check(part, "ok", redact_text(source.health_check())))
            except Exception as exc:
                checks.append(Check(part, "degraded", redact_text(f"{slug}/{document.name}: {exc}"),
                                    "check the server's address and the block's credentials"))
    return checks or [Check("secret-blocks", "skipped", "no secret backend block documents on the server")]


def _register_secrets(block: Any) -> None:
    """Mask the block's own secret fields (tokens, keys) in whatever its health check says."""
    from pydantic import SecretStr

    from nornflow.secrets.redaction import register

    for name in getattr(type(block), "model_fields", {}):
        value = getattr(block, name, None)
        if isinstance(value, SecretStr):
            register(value.get_secret_value())


# -- this machine and what it reaches ------------------------------------------------------
def backup_repo(directory: str | Path, min_free_percent: float = 10.0, min_free_gb: float = 1.0) -> list[Check]:
    """``git fsck`` passes and the repository's disk has room."""
    path = Path(directory)
    part = f"backup-repo.{_slug(path.name or str(path))}"
    if not (path / ".git").exists():
        return [Check(part, "degraded", f"{path} is not a git repository (no backup ran here yet?)",
                      "run backup_configs once, or fix backup_dir")]
    checks = []
    try:
        fsck = subprocess.run(["git", "-C", str(path), "fsck", "--no-progress", "--no-dangling"],
                              capture_output=True, text=True, timeout=300)
        lines = (fsck.stderr + fsck.stdout).strip().splitlines()
        if fsck.returncode != 0:
            checks.append(Check(part, "degraded", f"git fsck failed in {path}: " + "; ".join(lines[:3]),
                                "restore the repository from a clone or a backup"))
        else:
            checks.append(Check(part, "ok", f"git fsck passed in {path}"))
    except (OSError, subprocess.TimeoutExpired) as exc:
        checks.append(Check(part, "degraded", f"git fsck could not run in {path}: {exc}", "install git"))
    checks.append(disk(path, f"{part}.disk", min_free_percent, min_free_gb))
    return checks


def disk(path: Path, part: str, min_free_percent: float = 10.0, min_free_gb: float = 1.0) -> Check:
    usage = shutil.disk_usage(path)
    free_pct = usage.free / usage.total * 100 if usage.total else 0.0
    text = f"{usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB ({free_pct:.0f}%) at {path}"
    if free_pct < min_free_percent or usage.free < min_free_gb * 1e9:
        return Check(part, "degraded", f"only {text}", "free space or grow the disk")
    return Check(part, "ok", text)


def _probe(name: str, address: str, port: int, timeout: float) -> str | None:
    """None when ``address:port`` accepts a connection and greets with an SSH banner, else why not."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(64)
            if banner.startswith(b"SSH-"):  # greet back, so the device logs a client that left, not garbage
                sock.sendall(b"SSH-2.0-nornflow_health_probe\r\n")
    except OSError as exc:
        return f"{name} ({address}:{port}): {exc.strerror or type(exc).__name__}"
    if not banner.startswith(b"SSH-"):
        return f"{name} ({address}:{port}): answered without an SSH banner"
    return None


def devices(inventory: str, sample: int = 5, names: list[str] | None = None, timeout: float = 3.0) -> Check:
    """A random sample of the inventory's devices (or ``names``) answers SSH on its port."""
    from nornflow.inventory.load import load_nornir

    hosts = load_nornir(inventory).inventory.hosts
    chosen = [n for n in names if n in hosts] if names else random.sample(sorted(hosts), min(sample, len(hosts)))
    if not chosen:
        return Check("devices", "skipped", f"no device to probe in {inventory}")
    targets = []
    for name in chosen:
        host = hosts[name]
        options = host.get_connection_parameters("scrapli")
        targets.append((name, options.hostname or name, int(options.port or host.port or 22)))
    with ThreadPoolExecutor(max_workers=min(len(targets), 16)) as pool:
        failures = [f for f in pool.map(lambda t: _probe(t[0], t[1], t[2], timeout), targets) if f]
    if failures:
        return Check("devices", "degraded",
                     f"{len(failures)} of {len(targets)} sampled device(s) do not answer: " + "; ".join(failures),
                     "check those devices and the path to them")
    return Check("devices", "ok", f"{len(targets)} sampled device(s) answer SSH: {', '.join(chosen)}")


def machine(path: str | Path = ".", max_load_per_cpu: float = 2.0, min_memory_percent: float = 10.0,
            min_free_percent: float = 10.0) -> list[Check]:
    """CPU load, available memory and disk room of the machine this runs on."""
    host = _slug(socket.gethostname())
    checks = []
    cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0] / cpus
        status: Status = "degraded" if load > max_load_per_cpu else "ok"
        checks.append(Check(f"machine.{host}.cpu", status, f"load {load:.2f} per CPU over 1 min ({cpus} CPUs)",
                            "find what uses the CPU, or add CPUs" if status == "degraded" else ""))
    except OSError:
        checks.append(Check(f"machine.{host}.cpu", "skipped", "no load average on this system"))
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        fields = {k: int(v.split()[0]) for k, v in
                  (line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)}
        total, available = fields.get("MemTotal", 0), fields.get("MemAvailable", 0)
        pct = available / total * 100 if total else 0.0
        status = "degraded" if pct < min_memory_percent else "ok"
        checks.append(Check(f"machine.{host}.memory", status,
                            f"{available / 1e6:.1f} GB of {total / 1e6:.1f} GB memory available ({pct:.0f}%)",
                            "find what uses the memory, or add memory" if status == "degraded" else ""))
    else:
        checks.append(Check(f"machine.{host}.memory", "skipped", "no /proc/meminfo on this system"))
    checks.append(disk(Path(path), f"machine.{host}.disk", min_free_percent, 0.0))
    return checks
