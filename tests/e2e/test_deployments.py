"""End to end: prefect server (on PostgreSQL) + prefect deploy --all + a process worker + the fakenos lab.

The deployments come from the repository's prefect.yaml, rewritten into a temporary file
only where a test must differ (the lab's inventory, a temporary backup repository, the
test pool, and a once-a-minute cron instead of 02:00 so the schedule fires during the test).
Runs are started the moment the worker is up and the tests then wait for what they prove,
so the slow parts (flow-run start-up, the minute boundary) overlap.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.stack import BIN, ROOT, Cli, Receiver, Server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

POOL = "nornflow-e2e"
BACKUP = ("backup_configs", "lab")
HEALTH = ("show_commands", "lab-health")


def variant(inventory: Path, backups: Path) -> dict[str, Any]:
    """The repo's prefect.yaml pointed at the test lab; deployments of flows not written yet are left out."""
    data = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    kept = []
    for entry in data["deployments"]:
        if not (ROOT / entry["entrypoint"].split(":")[0]).exists():
            continue  # issue 4's flows, until they land
        entry["work_pool"] = {"name": POOL}
        entry.setdefault("parameters", {})["inventory"] = str(inventory)
        if "backup_dir" in entry["parameters"]:
            entry["parameters"]["backup_dir"] = str(backups)
        for schedule in entry.get("schedules", []):
            schedule["active"] = False  # only the backup's schedule runs here
        if entry["entrypoint"].endswith("backup_configs.py:backup_configs") and entry["name"] == BACKUP[1]:
            entry["schedules"] = [{"cron": "* * * * *", "timezone": "Europe/Berlin", "slug": "nightly-backup"}]
        kept.append(entry)
    data["deployments"] = kept
    return data


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, new_database: Any) -> Iterator[dict[str, Any]]:
    from nornflow.lab import Lab

    base = tmp_path_factory.mktemp("e2e")
    receiver = Receiver()
    server = Server(base / "server-home", new_database("e2e")[1])
    cli = Cli(server, base / "client-home")
    lab = Lab(size=3, directory=base / "lab")
    try:
        server_proc_started = time.monotonic()
        lab.start()  # the devices come up while nothing else runs yet
        server.start()
        backups = base / "backups"
        deploy_file = base / "prefect.yaml"
        deploy_file.write_text(yaml.safe_dump(variant(lab.inventory_dir, backups), sort_keys=False))
        cli.run(BIN / "prefect", "work-pool", "create", POOL, "--type", "process")
        env = cli.env(NORNFLOW_NOTIFY_URL=receiver.url)
        print(cli.run(sys_python(), "-m", "nornflow.deploy.automations", "deployments/automations.yaml", env=env))
        print(cli.run(sys_python(), "-m", "nornflow.cli", "doctor", "--file", str(deploy_file), "--fix"))
        print(cli.run(BIN / "prefect", "deploy", "--all", "--prefect-file", str(deploy_file)))
        cli.start_worker(POOL)
        backup = server.deployment(*BACKUP)
        health = server.deployment(*HEALTH)
        host = sorted(lab.devices)[0]
        # Everything the tests wait for starts now, so the waits overlap.
        server.post_event("nornflow.compliance.drift", f"nornflow.device.{host}", {"host": host})
        manual = [server.create_run(backup["id"], {"hosts": {"names": [h]}})["id"] for h in sorted(lab.devices)[1:]]
        failing = server.create_run(health["id"], {"commands": []})["id"]
        yield {"server": server, "cli": cli, "lab": lab, "receiver": receiver, "backups": backups,
               "backup": backup, "health": health, "drift_host": host, "manual": manual, "failing": failing,
               "base": base, "t0": server_proc_started, "deploy_file": deploy_file}
    finally:
        cli.stop_worker()
        server.stop()
        lab.stop()
        receiver.close()


def sys_python() -> str:
    return str(BIN / "python")


def finished(server: Server, run_id: str) -> dict[str, Any] | None:
    run: dict[str, Any] = server.api("GET", f"/flow_runs/{run_id}")
    return run if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None


def test_cron_schedule_runs_by_itself_and_backs_up_the_lab(stack):
    server, backup = stack["server"], stack["backup"]
    schedules = server.api("GET", f"/deployments/{backup['id']}/schedules")
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in schedules] == [("* * * * *", "Europe/Berlin")]

    def scheduled_done() -> list[dict[str, Any]]:
        return [r for r in server.runs(backup["id"]) if r["auto_scheduled"] and r["state_type"] == "COMPLETED"]

    run = wait_for("a completed scheduled backup run", scheduled_done, timeout=150, every=3)[0]
    assert "3/3 hosts ok" in run["state"]["message"]
    saved = sorted(p.stem for p in stack["backups"].glob("*.cfg"))
    assert saved == sorted(stack["lab"].devices)
    assert (stack["backups"] / ".git").is_dir()


def test_drift_event_runs_backup_for_exactly_that_device(stack):
    server, host = stack["server"], stack["drift_host"]

    def event_run() -> list[dict[str, Any]]:
        return [r for r in server.runs(stack["backup"]["id"])
                if r["parameters"].get("hosts") == {"names": [host]} and r["state_type"] == "COMPLETED"]

    run = wait_for(f"the backup run started by the drift event for {host}", event_run, timeout=150, every=3)[0]
    assert run["created_by"] is None or run["created_by"].get("type") in (None, "AUTOMATION")
    assert run["state"]["message"].startswith("backup_configs: 1/1 hosts ok")
    assert run["parameters"]["inventory"] == str(stack["lab"].inventory_dir)  # merged from the deployment


def test_overlapping_runs_of_a_change_flow_wait_their_turn(stack):
    server = stack["server"]
    runs = [wait_for("a manual backup run to finish", lambda i=i: finished(server, i), timeout=180, every=3)
            for i in stack["manual"]]
    assert [r["state_type"] for r in runs] == ["COMPLETED", "COMPLETED"]
    everything = [r for r in server.runs(stack["backup"]["id"]) if r["start_time"] and r["end_time"]]
    spans = sorted((r["start_time"], r["end_time"]) for r in everything)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans)), spans
    waited = {s["name"] for r in stack["manual"] for s in server.states(r)}
    assert "AwaitingConcurrencySlot" in waited, waited
    limit = server.api("GET", f"/deployments/{stack['backup']['id']}")
    assert limit["concurrency_options"]["collision_strategy"] == "ENQUEUE"


def test_notifications_arrive_for_drift_and_for_a_failed_run(stack):
    server, receiver = stack["server"], stack["receiver"]
    failed = wait_for("the failing run", lambda: finished(server, stack["failing"]), timeout=150, every=3)
    assert failed["state_type"] == "FAILED"

    def subjects() -> list[str]:
        return [b.get("subject", "") for b in receiver.bodies]

    wait_for("both notifications", lambda: any("drift on" in s for s in subjects())
             and any("run failed" in s for s in subjects()), timeout=90, every=2)
    drift = next(b for b in receiver.bodies if "drift on" in b.get("subject", ""))
    assert stack["drift_host"] in drift["subject"] and drift["source"] == "nornflow"
    failure = next(b for b in receiver.bodies if "run failed" in b.get("subject", ""))
    assert "show_commands" in failure["subject"] and "Failed" in failure["body"]


def test_doctor_checks_pools_blocks_and_device_locks_on_the_server(stack):
    server, cli = stack["server"], stack["cli"]
    out = cli.run(sys_python(), "-m", "nornflow.cli", "doctor", "--file", str(stack["deploy_file"]),
                  "--automations", "deployments/automations.yaml")
    assert "doctor ok" in out
    limits = {limit["name"] for limit in server.api("POST", "/v2/concurrency_limits/filter", {})}
    assert {f"device:{h}" for h in stack["lab"].devices} <= limits  # created by doctor --fix
    broken = yaml.safe_load(stack["deploy_file"].read_text())
    first = broken["deployments"][0]
    first["work_pool"] = {"name": "no-such-pool"}
    first["parameters"]["backup_dir"] = "{{ prefect.blocks.secret.no-such-block }}"
    broken["deployments"][1]["entrypoint"] = "flows/show_commands.py:no_such_flow"
    broken["deployments"][1]["schedules"] = [{"cron": "0 0 2 * * *"}]
    bad_file = stack["base"] / "broken.yaml"
    bad_file.write_text(yaml.safe_dump(broken, sort_keys=False))
    import subprocess

    proc = subprocess.run([sys_python(), "-m", "nornflow.cli", "doctor", "--file", str(bad_file)],
                          cwd=ROOT, env=cli.env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ERROR work pool 'no-such-pool': does not exist on the server" in proc.stdout
    assert "prefect work-pool create no-such-pool --type process" in proc.stdout
    assert "ERROR block secret/no-such-block: does not exist on the server" in proc.stdout
    assert "cannot load 'flows/show_commands.py:no_such_flow'" in proc.stdout
    assert "cron '0 0 2 * * *' is ambiguous" in proc.stdout


def test_restart_keeps_deployments_schedules_and_history(stack):
    server, cli, backup = stack["server"], stack["cli"], stack["backup"]
    before = {r["id"] for r in server.runs(backup["id"]) if r["state_type"] == "COMPLETED"}
    server.stop()
    restarted_at = time.time()
    server.start()
    assert server.deployment(*BACKUP)["id"] == backup["id"]
    assert server.deployment(*HEALTH)["id"] == stack["health"]["id"]
    schedules = server.api("GET", f"/deployments/{backup['id']}/schedules")
    assert [s["schedule"]["cron"] for s in schedules] == ["* * * * *"]
    after = {r["id"] for r in server.runs(backup["id"]) if r["state_type"] == "COMPLETED"}
    assert before <= after
    automations = server.api("POST", "/automations/filter", {})
    assert {"nornflow-flow-run-failed", "nornflow-compliance-drift"} <= {a["name"] for a in automations}
    if not cli.worker_alive():
        cli.start_worker(POOL)

    def next_scheduled() -> list[dict[str, Any]]:
        from datetime import datetime

        return [r for r in server.runs(backup["id"]) if r["auto_scheduled"] and r["state_type"] == "COMPLETED"
                and datetime.fromisoformat(r["start_time"]).timestamp() > restarted_at]

    wait_for("a scheduled run after the restart", next_scheduled, timeout=150, every=3)
