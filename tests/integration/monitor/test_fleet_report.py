"""fleet_report against real runs on the lab: the counts in its tables are the runs the test made."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime

import yaml
from prefect import tags

from nornflow.flows import backup_configs, check_compliance, fleet_report
from nornflow.lab.lab import free_ports
from tests.integration.monitor.conftest import wait_for_events
from tests.support.prefect_api import artifacts, flow_run_id

HOSTNAME_ONLY = "hostname {{ host.name }}\n"


def add_ghost(inventory, site: str) -> str:
    """A host in the inventory that never answers (nothing listens on its port)."""
    path = inventory / "hosts.yaml"
    hosts = yaml.safe_load(path.read_text())
    ghost = f"{site}-leaf-09"
    template = next(iter(hosts.values()))
    hosts[ghost] = {**template, "port": free_ports(1)[0], "data": {**template["data"], "role": "leaf"}}
    path.write_text(yaml.safe_dump(hosts))
    return ghost


def test_a_device_failing_3_of_5_runs_shows_40_percent_and_the_report_names_why(site_lab, tmp_path):
    lab = site_lab(3)
    site = lab.sites[0]
    ghost = add_ghost(lab.inventory_dir, site)
    flaky, steady, drifting = sorted(lab.devices)
    inventory, backups, tag = str(lab.inventory_dir), str(tmp_path / "backups"), f"fleet-{uuid.uuid4().hex[:8]}"
    templates = tmp_path / "templates"
    for platform in ("cisco_iosxe", "arista_eos"):
        (templates / platform).mkdir(parents=True)
        (templates / platform / "default.j2").write_text(HOSTNAME_ONLY)
    since = datetime.now(UTC)

    states = []
    with tags(tag):
        for run in range(5):
            if run in (0, 2, 4):
                lab.stop_device(flaky)
            # the ghost fails every run; one more failure (the flaky device) exceeds the budget
            states.append(backup_configs(inventory=inventory, backup_dir=backups, retries=0, failure_budget=1,
                                         return_state=True))
            if run in (0, 2, 4):
                lab.start_device(flaky)
        config = lab.running_config(drifting)
        lab.set_running_config(drifting, config.replace(f"hostname {drifting}", "hostname someone-else"))
        compliance = check_compliance(inventory=inventory, templates=str(templates), sections=["hostname"],
                                      failure_budget=1, return_state=True)
    assert [s.is_failed() for s in states] == [True, False, True, False, True]
    assert compliance.message.startswith("2 compliant, 1 drifted, 1 failed")
    wait_for_events(20, prefix="nornflow.device.run.", related=f"prefect.tag.{tag}", since=since)
    wait_for_events(3, names=["nornflow.compliance.drift", "nornflow.compliance.compliant"],
                    resource_prefix=f"nornflow.device.{site}-", since=since)

    key = f"fleet-{tag}"
    state = fleet_report(window_days=1, stale_backup_days=1, inventory=inventory, flows=["backup_configs"],
                         tags=[tag], key=key, return_state=True)
    assert state.is_completed(), state.message
    found = artifacts(flow_run_id(state))

    flows = json.loads(found[f"{key}-flows"].data)
    assert len(flows) == 1
    assert {k: flows[0][k] for k in ("flow", "deployment", "runs", "failed", "success", "success_trend")} == {
        "flow": "backup_configs", "deployment": "", "runs": 5, "failed": 3, "success": "40%", "success_trend": "new"}
    assert flows[0]["p50"].endswith(" s") and flows[0]["p95"].endswith(" s")

    devices = {row["device"]: row for row in json.loads(found[f"{key}-devices"].data)}
    assert set(devices) == {flaky, steady, drifting, ghost}
    assert [row["device"] for row in json.loads(found[f"{key}-devices"].data)][:2] == [ghost, flaky]  # worst first
    assert (devices[flaky]["runs"], devices[flaky]["ok"], devices[flaky]["failed"]) == (5, 2, 3)
    assert devices[flaky]["success"] == "40%" and devices[steady]["success"] == "100%"
    assert devices[ghost]["success"] == "0%" and devices[ghost]["failed"] == 5
    assert "refused" in devices[flaky]["why"] and devices[flaky]["failed_in"] == "backup_configs"
    assert "refused" in devices[ghost]["why"] and devices[steady]["why"] == ""
    assert devices[ghost]["last_good_backup"] == "none in 30 d"
    assert re.fullmatch(r"\d+\.\d h", devices[flaky]["last_good_backup"])
    assert devices[steady]["last_config_change"] and not devices[ghost]["last_config_change"]
    assert (devices[steady]["compliance"], devices[drifting]["compliance"], devices[ghost]["compliance"]) == (
        "compliant", "drifted", "unknown")

    flaky_rows = json.loads(found[f"{key}-flaky"].data)
    assert [r["device"] for r in flaky_rows] == [flaky]
    assert [r["device"] for r in json.loads(found[f"{key}-stale-backups"].data)] == [ghost]

    summary = found[key].data
    assert "| 5 | 3 | 20 | 60% | 4 | 1 | 1 | 1 |" in summary     # 5 + 5 + 2 + 0 good of 20 device runs
    assert f"**{ghost}**: 5 of 5 failed" in summary
    images = re.findall(r"!\[([^\]]*)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", summary)
    assert [alt for alt, _ in images] == ["device runs per day", "success rate per flow", "p95 duration per flow",
                                          "flakiest devices", "backup ages"]
    flaky_chart = base64.b64decode(images[3][1]).decode()
    assert flaky in flaky_chart and "3/5 failed" in flaky_chart
    report = state.result()
    assert report.api_calls < 25
