"""backup_configs and show_commands on the lab: files, git history, artifacts, failures."""

from __future__ import annotations

import subprocess

import pytest

from nornflow.flows import backup_configs, show_commands
from tests.support.prefect_api import artifacts, flow_run_id, flow_run_name


def _git_log(path) -> list[str]:
    return subprocess.run(["git", "-C", str(path), "log", "--format=%s"], capture_output=True, text=True,
                          check=True).stdout.splitlines()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from nornflow.lab import Lab

    with Lab(size=5, directory=tmp_path_factory.mktemp("flows-lab")) as lab:
        yield lab


def test_backup_writes_commits_and_rewrites_nothing_unchanged(lab, tmp_path):
    backups = tmp_path / "backups"
    first = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(backups), return_state=True)
    assert first.is_completed()
    files = sorted(p.name for p in backups.glob("*.cfg"))
    assert files == sorted(f"{h}.cfg" for h in lab.devices)
    assert "hostname fra-spine-01" in (backups / "fra-spine-01.cfg").read_text()
    log = _git_log(backups)
    assert len(log) == 1 and flow_run_name(first) in log[0] and "5 changed" in log[0]
    mtimes = {p.name: p.stat().st_mtime_ns for p in backups.glob("*.cfg")}

    second = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(backups), return_state=True)
    assert second.is_completed()
    assert len(_git_log(backups)) == 1, "an unchanged run must not commit"
    assert {p.name: p.stat().st_mtime_ns for p in backups.glob("*.cfg")} == mtimes
    assert not list(backups.glob(".*.tmp"))
    diff = artifacts(flow_run_id(second))["backup-configs-diff"]
    assert "No configuration changed" in diff.data


def test_changed_device_gets_a_diff_artifact_and_a_commit(lab, tmp_path):
    backups = tmp_path / "backups"
    backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(backups))
    stored = backups / "nyc-spine-01.cfg"
    stored.write_text(stored.read_text().replace("hostname nyc-spine-01", "hostname old-name"))
    subprocess.run(["git", "-C", str(backups), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam",
                    "pretend the device had another config"], check=True)
    state = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(backups), return_state=True)
    result = state.result()
    assert result.changed_hosts == ["nyc-spine-01"]
    assert _git_log(backups)[0].startswith(f"backup_configs run {flow_run_name(state)}")
    found = artifacts(flow_run_id(state))
    assert "-hostname old-name" in found["backup-configs-diff"].data
    assert "+hostname nyc-spine-01" in found["backup-configs-diff"].data
    rows = found["backup-configs-hosts"].data
    assert '"nyc-spine-01"' in rows and '"site"' in rows and '"duration_s"' in rows


def test_failed_device_keeps_its_old_backup_and_others_are_committed(tmp_path):
    from nornflow.lab import Lab

    backups = tmp_path / "backups"
    with Lab(size=3, directory=tmp_path / "lab") as lab:
        backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(backups))
        before = (backups / "ams-spine-01.cfg").read_text()
        (backups / "fra-spine-01.cfg").write_text("stale\n")  # so the next run has a change to commit
        subprocess.run(["git", "-C", str(backups), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam",
                        "stale"], check=True)
        lab.stop_device("ams-spine-01")
        state = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(backups), retries=0,
                               return_state=True)
    assert state.is_failed()
    assert "ams-spine-01" in state.message
    assert (backups / "ams-spine-01.cfg").read_text() == before
    assert "hostname fra-spine-01" in (backups / "fra-spine-01.cfg").read_text()
    assert "1 changed, 1 failed" in _git_log(backups)[0]
    summary = artifacts(flow_run_id(state))["backup-configs-summary"].data
    assert "ams-spine-01" in summary and "connection refused" in summary


def test_show_commands_parses_with_ntc_templates(lab):
    state = show_commands(inventory=str(lab.inventory_dir), commands=["show ip interface brief", "show clock"],
                          hosts={"platforms": ["cisco_iosxe"]}, parse=True, return_state=True)
    result = state.result()
    assert state.is_completed()
    assert result.ok_hosts and all(r.platform == "cisco_iosxe" for r in result.records)
    entry = result.records[0].data["show ip interface brief"]
    assert "Ethernet" in entry["output"]
    assert {"interface", "ip_address", "status"} <= set(entry["parsed"][0])
    assert result.records[0].data["show clock"]["parsed"][0]["timezone"]


def test_show_commands_without_parse_returns_text_only(lab):
    result = show_commands(inventory=str(lab.inventory_dir), commands=["show version"],
                           hosts={"names": ["ams-spine-01"]}, return_state=True).result()
    assert set(result.records[0].data["show version"]) == {"output"}
