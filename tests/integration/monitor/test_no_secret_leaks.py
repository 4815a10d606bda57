"""No resolved secret reaches a device event, a progress artifact or the fleet report.

As in tests/integration/secrets/test_no_secret_leaks.py, the credentials are secret references
and the devices echo them back; one device also rejects them, so its failure text (which
the event and the report carry as "why") is built from an authentication error.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import yaml
from prefect import tags
from prefect.blocks.system import Secret

from nornflow.flows import backup_configs, fleet_report, show_commands
from nornflow.monitor import progress as monitor_progress
from tests.integration.monitor.conftest import read_events, unique_site, wait_for_events
from tests.support.prefect_api import artifacts, flow_run_id

PASSWORD = "Zq9-monitor-canary-5512"
USERNAME = "netops-monitor-canary"
ECHO = "show tech-support secrets"


def test_device_events_progress_and_fleet_report_never_carry_a_secret(tmp_path):
    from nornflow.lab import Lab

    echo = {ECHO: {"output": f"enable secret {PASSWORD}\nuser {USERNAME}", "help": "echo",
                   "prompt": ["{base_prompt}#"]}}
    tag = f"leak-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC)
    with Lab(size=3, directory=tmp_path / "lab", sites=[unique_site()], username=USERNAME, password=PASSWORD,
             extra_commands=echo) as lab:
        Secret(value={"username": USERNAME, "password": PASSWORD}).save("monitor-leak-canary", overwrite=True)
        path = lab.inventory_dir / "defaults.yaml"
        defaults = yaml.safe_load(path.read_text())
        defaults["username"] = "secret:secret/monitor-leak-canary#username"
        defaults["password"] = "secret:secret/monitor-leak-canary#password"
        defaults["connection_options"]["scrapli"]["extras"]["auth_secondary"] = defaults["password"]
        path.write_text(yaml.safe_dump(defaults))
        rejecting = sorted(lab.devices)[0]
        lab.set_password(rejecting, "something-else-entirely")
        inventory = str(lab.inventory_dir)
        with tags(tag):
            runs = [backup_configs(inventory=inventory, backup_dir=str(tmp_path / "b"), return_state=True),
                    show_commands(inventory=inventory, commands=[ECHO], return_state=True)]
    report = fleet_report(window_days=1, inventory=inventory, tags=[tag], key=f"leak-{tag}", return_state=True)

    events = wait_for_events(6, prefix="nornflow.device.run.", related=f"prefect.tag.{tag}", since=since)
    failed = [e for e in events if e.event == "nornflow.device.run.failed"]
    assert {e.resource.id for e in failed} == {f"nornflow.device.{rejecting}"}
    assert failed[0].payload["error"]                            # the reason is there, masked where needed
    assert monitor_progress.flush()
    texts = [json.dumps(e.payload) for e in read_events(prefix="nornflow.device.run.", since=since)]
    for state in (*runs, report):
        for key, artifact in artifacts(flow_run_id(state)).items():
            texts.append(f"{key}: {artifact.data} {artifact.description}")
    assert any("-progress:" in t for t in texts) and any("-devices:" in t for t in texts)
    for text in texts:
        assert PASSWORD not in text and USERNAME not in text, text[:300]
