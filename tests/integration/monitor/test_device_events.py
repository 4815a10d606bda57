"""One event per device per run, read back from the real Prefect server, per device."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import tags

from nornflow.flows import backup_configs
from nornflow.monitor import progress as monitor_progress
from nornflow.monitor.resources import FLOW_ROLE
from tests.integration.monitor.conftest import read_events, wait_for_events
from tests.support.prefect_api import flow_run_id


def test_every_run_emits_one_event_per_device_with_outcome_duration_and_run(site_lab, tmp_path):
    lab = site_lab(3)
    down = sorted(lab.devices)[0]
    since = datetime.now(UTC)
    first = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(tmp_path / "b"), return_state=True)
    lab.stop_device(down)
    with tags("monitor-events"):
        second = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(tmp_path / "b"), retries=0,
                                return_state=True)
    runs = {str(flow_run_id(first)), str(flow_run_id(second))}

    events = wait_for_events(6, prefix="nornflow.device.run.", resource_prefix=f"nornflow.device.{lab.sites[0]}-",
                             since=since)
    assert len(events) == 6                                            # 3 devices x 2 runs, no more
    for host in lab.devices:                                           # a device's feed is its history
        history = read_events(resource=f"nornflow.device.{host}", prefix="nornflow.device.run.", since=since)
        assert len(history) == 2
        assert {e.payload["flow_run_id"] for e in history} == runs
        newest, oldest = history                                       # newest first
        assert oldest.event == "nornflow.device.run.changed"           # the first backup stored a new config
        assert newest.event == ("nornflow.device.run.failed" if host == down else "nornflow.device.run.ok")
        for event in history:
            body = event.payload
            assert body["host"] == host and body["flow"] == "backup_configs" and body["task"] == "backup_configs"
            assert body["outcome"] == event.event.rsplit(".", 1)[1]
            assert body["changed"] is (body["outcome"] == "changed")
            assert body["site"] == lab.sites[0] and body["platform"]
            related = {(r.id, r.role) for r in event.related}
            assert ("nornflow.flow.backup_configs", FLOW_ROLE) in related
            assert (f"prefect.flow-run.{body['flow_run_id']}", "flow-run") in related   # linked in the UI
        failed = newest if host == down else None
        if failed is not None:
            assert "refused" in failed.payload["error"] and failed.payload["duration"] >= 0
            assert ("prefect.tag.monitor-events", "tag") in {(r.id, r.role) for r in failed.related}
        else:
            assert newest.payload["error"] is None and newest.payload["duration"] > 0


def test_monitor_off_emits_no_device_event_and_no_progress(site_lab, tmp_path, monkeypatch):
    from tests.support.prefect_api import artifacts

    lab = site_lab(2)
    monkeypatch.setenv("NORNFLOW_MONITOR", "off")
    since = datetime.now(UTC)
    state = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(tmp_path / "b"), return_state=True)
    monkeypatch.setenv("NORNFLOW_MONITOR", "on")
    on = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(tmp_path / "b"), return_state=True)
    wait_for_events(2, prefix="nornflow.device.run.", resource_prefix=f"nornflow.device.{lab.sites[0]}-",
                    since=since)
    found = read_events(prefix="nornflow.device.run.", resource_prefix=f"nornflow.device.{lab.sites[0]}-",
                        since=since)
    assert {e.payload["flow_run_id"] for e in found} == {str(flow_run_id(on))}
    assert "backup-configs-progress" not in artifacts(flow_run_id(state))
    assert monitor_progress.flush()     # the final update is sent after the flow returns, not before
    progress = artifacts(flow_run_id(on))["backup-configs-progress"]
    assert progress.type == "progress" and progress.data == 100
    assert progress.description == "backup_configs: 2 of 2 hosts (100%): 2 ok, 0 failed (finished)"
