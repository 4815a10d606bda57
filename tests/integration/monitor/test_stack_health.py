"""stack_health and `nornflow doctor --live` against real parts: what is broken is reported and raised.

The broken parts are real: a stopped lab device, a work pool nobody works, a backup
repository whose objects were damaged, a Vault block pointing at nothing, a concurrency
limit whose slot was taken and never given back. The healthy counterparts (a pool with a
worker heartbeat, a Vault that answers, an intact repository) must stay ``ok``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import flow, runtime
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
from prefect.states import Cancelled, Pending, Running

from nornflow.blocks import VaultSecrets
from nornflow.cli import main
from nornflow.flows import backup_configs, stack_health
from nornflow.lab.lab import free_ports
from nornflow.monitor.probes import concurrency_limits
from tests.integration.monitor.conftest import read_events, wait_for_events
from tests.integration.secrets.conftest import ROOT_TOKEN, bao  # noqa: F401  (the OpenBao fixture)
from tests.support.prefect_api import artifacts, flow_run_id

ROOT = Path(__file__).resolve().parents[3]
TOKEN_CANARY = "hvs.Zq9-health-canary-4471"


def damage(repo: Path) -> None:
    """Overwrite one stored object of a git repository with garbage (what a bad disk does)."""
    victim = next(p for p in sorted((repo / ".git" / "objects").glob("??/*")))
    victim.chmod(0o644)
    victim.write_bytes(b"not a git object")


@pytest.fixture
def pools():
    made: list[str] = []

    def make(heartbeat: bool) -> str:
        name = f"mon-{uuid.uuid4().hex[:8]}"
        with get_client(sync_client=True) as client:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            if heartbeat:  # what `prefect worker start --pool NAME` sends every few seconds
                client.send_worker_heartbeat(name, "monitor-test-worker", heartbeat_interval_seconds=30)
        made.append(name)
        return name

    yield make
    with get_client(sync_client=True) as client:
        for name in made:
            client.delete_work_pool(name)


def test_stack_health_reports_each_broken_part_and_emits_the_event(site_lab, tmp_path, pools, bao):  # noqa: F811
    lab = site_lab(3)
    down = sorted(lab.devices)[0]
    good, broken = tmp_path / "good-repo", tmp_path / "broken-repo"
    for repo in (good, broken):
        backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(repo))
    damage(broken)
    lab.stop_device(down)
    idle, worked = pools(heartbeat=False), pools(heartbeat=True)
    suffix = uuid.uuid4().hex[:8]
    VaultSecrets(url=f"http://127.0.0.1:{free_ports(1)[0]}", token=TOKEN_CANARY, timeout=2).save(
        f"mon-dead-{suffix}", overwrite=True)
    VaultSecrets(url=bao.url, token=ROOT_TOKEN).save(f"mon-live-{suffix}", overwrite=True)
    since = datetime.now(UTC)

    state = stack_health(inventory=str(lab.inventory_dir), backup_dirs=[str(good), str(broken)],
                         work_pools=[idle, worked], device_sample=3, return_state=True)

    assert state.is_completed()                                  # a degraded stack is the finding
    checks = {c.part: c for c in state.result()}
    assert checks["api"].status == "ok"
    assert checks[f"work-pool.{idle}"].status == "degraded"
    assert "no live worker" in checks[f"work-pool.{idle}"].detail
    assert checks[f"work-pool.{idle}"].fix == f"start one: prefect worker start --pool {idle}"
    assert checks[f"work-pool.{worked}"].status == "ok"
    assert checks["devices"].status == "degraded" and down in checks["devices"].detail
    assert sum(name in checks["devices"].detail for name in lab.devices) == 1   # only the stopped one
    assert checks["backup-repo.good-repo"].status == "ok"
    assert checks["backup-repo.broken-repo"].status == "degraded"
    assert "git fsck failed" in checks["backup-repo.broken-repo"].detail
    assert checks["backup-repo.good-repo.disk"].status == "ok"
    assert checks[f"secret-block.nornflow-vault.mon-live-{suffix}"].status == "ok"
    dead = checks[f"secret-block.nornflow-vault.mon-dead-{suffix}"]
    assert dead.status == "degraded" and "unreachable" in dead.detail
    degraded = sorted(p for p, c in checks.items() if c.degraded and not p.startswith(("machine.", "secret-block",
                                                                                        "concurrency")))
    assert degraded == sorted(["backup-repo.broken-repo", "devices", f"work-pool.{idle}"])
    assert all(p in state.message for p in degraded)

    events = wait_for_events(1, names=["nornflow.health.degraded"], resource=f"nornflow.health.work-pool.{idle}",
                             since=since)
    assert events[0].payload["check"] == f"work-pool.{idle}" and events[0].payload["source"] == "stack_health"
    assert "prefect worker start" in events[0].payload["fix"]
    wait_for_events(1, names=["nornflow.health.degraded"], resource="nornflow.health.devices", since=since)
    assert not read_events(names=["nornflow.health.degraded"], resource=f"nornflow.health.work-pool.{worked}",
                           since=since)
    found = artifacts(flow_run_id(state))
    assert "# Stack DEGRADED" in found["stack-health-summary"].data
    assert f'"work-pool.{idle}"' in found["stack-health-checks"].data
    everything = str([e.payload for e in read_events(names=["nornflow.health.degraded"], since=since)])
    everything += "".join(str(a.data) + str(a.description) for a in found.values())
    assert TOKEN_CANARY not in everything


def test_a_limit_full_while_nothing_runs_is_stuck():
    name = f"mon-stuck-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        try:
            assert name not in str([c.part for c in concurrency_limits(client)])
            # a run took the slot and crashed before it gave it back
            client.increment_concurrency_slots_with_lease([name], 1, "concurrency", lease_duration=600)
            stuck = {c.part: c for c in concurrency_limits(client)}[f"concurrency.{name}"]
            assert stuck.status == "degraded" and "(1/1)" in stuck.detail
        finally:
            client.delete_global_concurrency_limit_by_name(name)


@flow(name="mon-limited-probe")
def limited_probe() -> dict[str, Any]:
    """What stack_health does about limits, from a run of a deployment with ``concurrency_limit: 1``."""
    with get_client(sync_client=True) as client:
        me = client.read_flow_run(UUID(runtime.flow_run.id))
        own = client.read_global_concurrency_limit_by_name(f"deployment:{me.deployment_id}")
        return {"own": (own.active_slots, own.limit),
                "checks": [(c.part, c.status, c.detail) for c in concurrency_limits(client, runtime.flow_run.id)]}


def test_a_runs_own_deployment_limit_is_not_stuck_but_the_same_limit_leaked_is():
    from prefect.flow_engine import run_flow

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("mon-limited-probe")
        deployment = client.create_deployment(flow_id, f"limited-{uuid.uuid4().hex[:8]}", concurrency_limit=1,
                                              entrypoint="tests/integration/monitor/test_stack_health.py:"
                                                         "limited_probe")
        limit = f"deployment:{deployment}"
        try:
            run = client.create_flow_run_from_deployment(deployment)
            assert client.set_flow_run_state(run.id, Pending()).status.value == "ACCEPT"  # as a worker does
            state = run_flow(limited_probe, flow_run=run, return_type="state")
            found = state.result()
            assert found["own"] == (1, 1)                        # it held its own slot while it probed
            parts = {part: (status, detail) for part, status, detail in found["checks"]}
            assert f"concurrency.{limit}" not in parts, parts
            assert parts["concurrency"][0] == "ok" and f"{limit} (this run's own deployment)" in parts["concurrency"][1]
            assert client.read_global_concurrency_limit_by_name(limit).active_slots == 0   # given back at the end

            # the same slot taken by a run that crashed before it gave it back: nothing of it is active
            client.increment_concurrency_slots_with_lease([limit], 1, "concurrency", lease_duration=600)
            stuck = {c.part: c for c in concurrency_limits(client)}[f"concurrency.{limit}"]
            assert stuck.status == "degraded" and "(1/1)" in stuck.detail
            # ... while a running run of that deployment is activity: it may hold the slot
            other = client.create_flow_run_from_deployment(deployment).id
            client.set_flow_run_state(other, Running(), force=True)
            try:
                assert f"concurrency.{limit}" not in {c.part for c in concurrency_limits(client)}
            finally:
                client.set_flow_run_state(other, Cancelled(), force=True)
        finally:
            client.delete_deployment(deployment)


def test_doctor_live_prints_the_degraded_checks_and_exits_1(site_lab, pools, tmp_path, capsys):
    lab = site_lab(2)
    repo = tmp_path / "repo"
    backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(repo))
    idle = pools(heartbeat=False)
    code = main(["doctor", "--live", "--file", str(ROOT / "prefect.yaml"), "--root", str(ROOT),
                 "--inventory", str(lab.inventory_dir), "--backup-dir", str(repo), "--pool", idle,
                 "--sample", "2", "--no-events"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"DEGRADED work-pool.{idle}: work pool '{idle}' has no live worker" in out
    assert f"fix: start one: prefect worker start --pool {idle}" in out
    assert "OK       devices: 2 sampled device(s) answer SSH" in out
    assert "OK       backup-repo.repo: git fsck passed" in out
    assert f"work-pool.{idle}" in out.split("live: ")[-1]          # the summary line names it
    assert "emitted" not in out                                   # --no-events
