"""check_compliance on the lab, and the bad inputs both flows must explain."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from nornflow.config.events import DRIFT
from nornflow.flows import check_compliance, deploy_config
from tests.integration.config.conftest import TEMPLATES, names
from tests.support.prefect_api import artifacts, flow_run_id

pytestmark = pytest.mark.integration


def _server_events(event: str, since: datetime, expect: int, timeout: float = 20) -> list[object]:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    deadline = time.monotonic() + timeout
    found: list[object] = []
    while time.monotonic() < deadline:
        query = EventFilter(event=EventNameFilter(name=[event]), occurred=EventOccurredFilter(since=since))
        with get_client(sync_client=True) as client:  # the server caps a page at 50
            found = list(client.read_events(filter=query, limit=50).events)
        if len(found) >= expect:
            break
        time.sleep(0.5)
    return found


@pytest.fixture
def lab4(tmp_path):
    from nornflow.lab import Lab

    with Lab(size=4, directory=tmp_path / "lab") as lab:
        deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, auto_approve=True,
                      backup_dir=str(tmp_path / "bk"))
        yield lab


def test_compliance_finds_exactly_the_devices_changed_behind_its_back(lab4, emitted):
    since = datetime.now(UTC) - timedelta(seconds=1)
    lab4.set_running_config("ams-spine-01", lab4.running_config("ams-spine-01").replace(
        "ntp server 10.2.0.1", "ntp server 198.51.100.7"))
    lab4.set_running_config("fra-spine-02", lab4.running_config("fra-spine-02").replace(
        "description spine uplink 1", "description someone was here"))
    state = check_compliance(inventory=str(lab4.inventory_dir), templates=TEMPLATES, return_state=True)
    assert state.is_completed()
    assert state.message.startswith("2 compliant, 2 drifted, 0 failed")
    result = state.result()
    assert sorted(r.host for r in result.records if not r.data["compliant"]) == ["ams-spine-01", "fra-spine-02"]
    assert names(emitted, DRIFT) == ["ams-spine-01", "fra-spine-02"]
    found = artifacts(flow_run_id(state))
    table = found["check-compliance-devices"].data
    assert table.count('"drifted"') == 2 and table.count('"compliant"') == 2
    drift = found["check-compliance-drift"].data
    assert "-ntp server 198.51.100.7" in drift and "+ntp server 10.2.0.1" in drift
    assert "+  description spine uplink 1" in drift and "nyc-spine-01" not in drift
    on_server = _server_events(DRIFT, since, expect=2)
    assert sorted(e.resource.id for e in on_server) == ["nornflow.device.ams-spine-01", "nornflow.device.fra-spine-02"]
    assert sorted(e.payload["host"] for e in on_server) == ["ams-spine-01", "fra-spine-02"]

    only_ntp = check_compliance(inventory=str(lab4.inventory_dir), templates=TEMPLATES, sections=["ntp"],
                                return_state=True)
    assert only_ntp.message.startswith("3 compliant, 1 drifted")


def test_template_that_does_not_render_names_template_line_and_host(lab, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "arista_eos" / "default.j2").write_text("hostname {{ host.name }}\nntp server {{ ntp_server }}\n")
    (templates / "cisco_iosxe" / "spine.j2").write_text("hostname {{ host.name }}\n{% for x in %}\n")
    state = deploy_config(inventory=str(lab.inventory_dir), templates=str(templates), auto_approve=True,
                          backup_dir=str(tmp_path / "bk"), return_state=True)
    result = state.result(raise_on_failure=False)
    assert state.is_failed()
    eos = result["ams-spine-01"].error
    assert "arista_eos/default.j2:2" in eos and "'ams-spine-01'" in eos and "ntp_server" in eos
    ios = result["fra-spine-01"].error
    assert "cisco_iosxe/spine.j2:2" in ios and "does not parse" in ios and "'fra-spine-01'" in ios
    assert lab.running_config("fra-spine-01").count("ntp server") == 1  # nothing was applied


def test_host_without_the_data_its_template_needs_fails_alone(lab, tmp_path):
    hosts_file = lab.inventory_dir / "hosts.yaml"
    hosts = yaml.safe_load(hosts_file.read_text())
    del hosts["nyc-spine-01"]["data"]["loopback_ip"]
    hosts_file.write_text(yaml.safe_dump(hosts))
    state = deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, auto_approve=True,
                          backup_dir=str(tmp_path / "bk"), return_state=True)
    result = state.result(raise_on_failure=False)
    assert result.failed_hosts == ["nyc-spine-01"]
    error = result["nyc-spine-01"].error
    assert "cisco_iosxe/default.j2" in error and "loopback_ip" in error and "'nyc-spine-01'" in error
    assert {result[h].data["outcome"] for h in ("fra-spine-01", "ams-spine-01")} == {"applied"}
    plan = artifacts(flow_run_id(state))["deploy-config-plan"].data
    assert "could not be planned" in plan and "nyc-spine-01" in plan
