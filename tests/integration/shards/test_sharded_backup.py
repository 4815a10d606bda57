"""A sharded backup_configs on real Prefect workers: a PostgreSQL-backed ``prefect server start``,
one deployment, two process workers (one per site's work queue, ``--limit 1``) and an 8-device
lab over two sites.

The parent flow run is a run of the deployment, executed by ``python -m prefect.engine`` (what
a worker on a coordinator queue would run): it must not take a slot a shard needs. Shard
results travel through result storage (a shared directory: PREFECT_LOCAL_STORAGE_PATH, or a
LocalFileSystem block), never through the Prefect database.

The second test kills one site's worker and its flow run mid-backup: the zombie automation
(heartbeats every 30 s, ``within`` 33 s, evaluated every second) marks that shard Crashed,
the parent ends Failed with the shard's hosts failed and named, and a retry of the parent
reruns only that shard (same flow run, run_count 2) on a replacement worker.
"""

from __future__ import annotations

import json
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornflow.engine.sharded_run import zombie_automation
from tests.support.stack import BIN, ROOT, Cli, Server, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

POOL = "nornflow-shards"
SITES = ("fra", "ams")
DEPLOYMENT = ("backup_configs", "sharded")
ZOMBIE_WITHIN = 33  # heartbeats come every 30 s at the least (prefect.flow_engine.MINIMUM_HEARTBEAT_INTERVAL)


def deploy_file(inventory: Path, backups: Path) -> dict[str, Any]:
    return {
        "name": "nornflow-shards-test", "prefect-version": "3.9.1", "build": None, "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $NORNFLOW_HOME }}"}}],
        "deployments": [{
            "name": DEPLOYMENT[1], "entrypoint": "flows/backup_configs.py:backup_configs",
            "work_pool": {"name": POOL, "work_queue_name": "default"},
            "parameters": {"inventory": str(inventory), "backup_dir": str(backups), "retries": 0,
                           "shard_by": "site", "shard_queue": "{value}"},
        }],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, new_database: Any, postgres: Any) -> Iterator[dict[str, Any]]:
    from nornflow.lab import Lab

    base = tmp_path_factory.mktemp("shards")
    database, url = new_database("shards")
    server = Server(base / "server-home", url, PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY="PT1S")
    results = base / "results"
    cli = Cli(server, base / "client-home", PREFECT_LOCAL_STORAGE_PATH=str(results),
              PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1",
              PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30", NORNFLOW_SHARD_POLL_SECONDS="1")
    lab = Lab(size=8, sites=SITES, directory=base / "lab")
    try:
        lab.start()
        server.start()
        spec = base / "prefect.yaml"
        spec.write_text(yaml.safe_dump(deploy_file(lab.inventory_dir, base / "backups"), sort_keys=False))
        cli.run(BIN / "prefect", "work-pool", "create", POOL, "--type", "process")
        for site in SITES:
            cli.run(BIN / "prefect", "work-queue", "create", site, "--pool", POOL)
        cli.run(BIN / "prefect", "deploy", "--all", "--prefect-file", str(spec))
        server.api("POST", "/automations/", zombie_automation(within=ZOMBIE_WITHIN))
        cli.run(BIN / "python", "-c", "import sys; from prefect.filesystems import LocalFileSystem; "
                "LocalFileSystem(basepath=sys.argv[1]).save('shard-results')", str(base / "block-results"))
        workers = {site: cli.start_worker(POOL, f"worker-{site}", queues=[site], limit=1) for site in SITES}
        yield {"server": server, "cli": cli, "lab": lab, "base": base, "workers": workers, "results": results,
               "deployment": server.deployment(*DEPLOYMENT), "postgres": postgres, "database": database}
    finally:
        cli.stop_worker()
        server.stop()
        lab.close()


def execute(cli: Cli, run_id: str, log: Path) -> subprocess.Popen[bytes]:
    """Run a flow run of the deployment in a new process, as a worker's flow-run process would."""
    with log.open("ab") as out:
        return subprocess.Popen([str(BIN / "python"), "-m", "prefect.engine", run_id], cwd=ROOT,
                                env=cli.env(PREFECT__FLOW_RUN_ID=run_id), stdout=out, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen[bytes], server: Server, run_id: str, log: Path, timeout: float = 120) -> dict:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the parent run did not finish in {timeout:.0f} s:\n{log.read_text()[-4000:]}") from None
    return server.run(run_id)


def shard_runs(server: Server, parent_id: str) -> dict[str, dict[str, Any]]:
    """The parent's shard flow runs by site (their work queue)."""
    body = {"flow_runs": {"parent_flow_run_id": {"any_": [parent_id]}}}
    return {run["work_queue_name"]: run for run in server.api("POST", "/flow_runs/filter", body)}


def host_rows(server: Server, run_id: str) -> dict[str, dict[str, Any]]:
    """The parent's latest per-host table artifact, by host."""
    body = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": ["backup-configs-hosts"]}},
            "sort": "CREATED_DESC"}
    found = server.api("POST", "/artifacts/filter", body)
    rows = found[0]["data"]
    return {row["host"]: row for row in (json.loads(rows) if isinstance(rows, str) else rows)}


def submitted_by(server: Server, run_id: str) -> str:
    """The worker that took the run's last attempt (the worker logs it into the run's own logs)."""
    lines = [m for m in server.logs(run_id) if m.startswith("Worker '") and "submitting flow run" in m]
    return lines[-1].split("'")[1]


def test_sharded_backup_by_site_runs_one_shard_on_each_worker(stack):
    server, cli, lab, base = stack["server"], stack["cli"], stack["lab"], stack["base"]
    backups = base / "backups"
    parent = server.create_run(stack["deployment"]["id"])["id"]
    run = finish(execute(cli, parent, base / "parent-1.log"), server, parent, base / "parent-1.log")

    assert run["state_type"] == "COMPLETED", run["state"]
    message = run["state"]["message"]
    assert message.startswith("backup_configs: 8/8 hosts ok") and "(2 shards)" in message
    progress = server.api("POST", "/artifacts/filter", {  # the parent's own, summing its shards'
        "artifacts": {"flow_run_id": {"any_": [parent]}, "key": {"any_": ["backup-configs-all-shards-progress"]}},
        "sort": "CREATED_DESC"})
    assert progress and float(progress[0]["data"]) == 100.0, progress
    shards = shard_runs(server, parent)
    assert sorted(shards) == sorted(SITES)
    assert all(s["state_type"] == "COMPLETED" and s["tags"] and "nornflow-shard" in s["tags"] for s in shards.values())
    assert {site: submitted_by(server, shards[site]["id"]) for site in SITES} == {s: f"worker-{s}" for s in SITES}
    for site, shard in shards.items():
        assert set(shard["parameters"]["hosts"]["names"]) == {h for h in lab.devices if h.startswith(site)}
        assert shard["parameters"]["shard"]["key"] == f"site={site}" and shard["parameters"]["shard_by"] is None
    rows = host_rows(server, parent)
    assert set(rows) == set(lab.devices) and {r["status"] for r in rows.values()} == {"ok"}
    assert sorted(p.stem for p in backups.glob("*.cfg")) == sorted(lab.devices)
    log = subprocess.run(["git", "-C", str(backups), "log", "--format=%s"], capture_output=True, text=True,
                         check=True).stdout
    assert "shard site=fra: 4 changed" in log and "shard site=ams: 4 changed" in log
    # results travelled through the shared storage directory; no configuration reached the database
    assert len(list((stack["results"] / "nornflow-shards" / parent).glob("*.json"))) == 2
    for table, column in (("flow_run_state", "data::text"), ("task_run_state", "data::text"), ("log", "message")):
        found = stack["postgres"].psql(f"SELECT count(*) FROM {table} WHERE {column} LIKE '%hostname fra-%'",
                                       database=stack["database"])
        assert found.strip() == "0", table  # configurations only in git (and the diff artifacts)


class Tarpit:
    """A port that accepts TCP connections and never answers: an SSH client waits there for a banner."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def caught(self) -> bool:
        return bool(select.select([self.sock], [], [], 0)[0])

    def close(self) -> None:
        self.sock.close()


def test_dead_worker_crashes_its_shard_and_a_retry_reruns_only_that_shard(stack):
    server, cli, lab, base = stack["server"], stack["cli"], stack["lab"], stack["base"]
    backups = base / "backups-2"
    inventory = base / "inventory-2"
    inventory.mkdir()
    for file in lab.inventory_dir.iterdir():
        (inventory / file.name).write_text(file.read_text())
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    stuck = next(h for h in hosts if h.startswith("ams"))
    tarpit = Tarpit()
    real_port, hosts[stuck]["port"] = hosts[stuck]["port"], tarpit.port
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    params = {"inventory": str(inventory), "backup_dir": str(backups),
              "result_storage": "local-file-system/shard-results"}  # a storage block this time
    parent = server.create_run(stack["deployment"]["id"], params)["id"]
    log = base / "parent-2.log"
    proc = execute(cli, parent, log)
    try:
        wait_for(f"the ams shard to connect to {stuck}", tarpit.caught, timeout=90, every=0.5)
        killed_at = time.monotonic()
        killed = stack["workers"]["ams"].kill()  # the worker and its flow-run process: SIGKILL, no goodbye
        assert len(killed) >= 2, killed
        replacement = cli.start_worker(POOL, "worker-ams-2", queues=["ams"], limit=1)
        hosts[stuck]["port"] = real_port  # the device is reachable again for the rerun
        (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
        run = finish(proc, server, parent, log)
    finally:
        tarpit.close()
    crashed_after = time.monotonic() - killed_at

    shards = shard_runs(server, parent)
    assert shards["ams"]["state_type"] == "CRASHED", shards["ams"]["state"]
    assert "No heartbeat" in shards["ams"]["state"]["message"]
    assert shards["fra"]["state_type"] == "COMPLETED"
    assert run["state_type"] == "FAILED" and "4/8 hosts ok" in run["state"]["message"], run["state"]
    rows = host_rows(server, parent)
    assert set(rows) == set(lab.devices)
    for host, row in rows.items():
        if host.startswith("ams"):
            assert row["status"] == "failed"
            assert f"shard site=ams (flow run '{shards['ams']['name']}'" in row["error"] and "Crashed" in row["error"]
        else:
            assert row["status"] == "ok"
    assert crashed_after < ZOMBIE_WITHIN + 15

    # Retry the parent, as the UI's Retry and `prefect flow-run retry` do (Scheduled, forced): only the
    # crashed shard runs again, as the same flow run, on the replacement worker.
    server.api("POST", f"/flow_runs/{parent}/set_state",
               {"state": {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "retry"}, "force": True})
    run = finish(execute(cli, parent, log), server, parent, log)
    assert run["state_type"] == "COMPLETED" and "8/8 hosts ok" in run["state"]["message"], run["state"]
    again = shard_runs(server, parent)
    assert again["fra"]["id"] == shards["fra"]["id"] and again["fra"]["run_count"] == 1  # read, not rerun
    assert again["ams"]["id"] == shards["ams"]["id"] and again["ams"]["run_count"] == 2
    assert submitted_by(server, again["ams"]["id"]) == replacement.name
    assert {r["status"] for r in host_rows(server, parent).values()} == {"ok"}
    assert sorted(p.stem for p in backups.glob("*.cfg")) == sorted(lab.devices)
    assert len(list((base / "block-results" / "nornflow-shards" / parent).glob("*.json"))) == 2
