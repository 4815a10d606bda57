"""deploy_config on the lab over real SSH: apply+verify, stale plans, rollbacks, approvals, dry runs."""

from __future__ import annotations

import pytest

from nornflow.config.events import APPLIED, PLAN_REJECTED, ROLLED_BACK
from nornflow.flows import check_compliance, deploy_config
from tests.integration.config.conftest import TEMPLATES, names
from tests.support.approvals import InThread, answer, plan_hash_of, wait_for_paused
from tests.support.prefect_api import artifacts, flow_run_id

pytestmark = pytest.mark.integration


def _deploy(lab, tmp_path, **options):
    options.setdefault("approval_poll_interval", 1)
    return deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, backup_dir=str(tmp_path / "bk"),
                         return_state=True, **options)


def _configs(lab) -> dict[str, str]:
    return {name: lab.running_config(name) for name in lab.devices}


def _paused_deploy(lab, tmp_path, **options):
    runner = InThread(lambda: _deploy(lab, tmp_path, **options))
    run = wait_for_paused(lambda r: r.parameters.get("inventory") == str(lab.inventory_dir))
    return runner, run


def test_change_is_applied_verified_and_announced(lab, tmp_path, emitted):
    state = _deploy(lab, tmp_path, auto_approve=True, post_checks={"show version": ""})
    result = state.result()
    assert state.is_completed(), state.message
    assert [r.data["outcome"] for r in result.records] == ["applied"] * 3
    assert "ntp server 10.1.0.1" in lab.running_config("fra-spine-01")
    assert "description spine to core 1" in lab.running_config("fra-spine-01")
    assert "snmp-server location Amsterdam DC2" in lab.running_config("ams-spine-01")
    assert names(emitted, APPLIED) == sorted(lab.devices)
    assert all(e["resource"]["prefect.resource.id"] == f"nornflow.device.{e['payload']['host']}" for e in emitted)
    found = artifacts(flow_run_id(state))
    assert "auto_approve=True" in found["deploy-config-approval"].data
    assert "+ntp server 10.1.0.1" in found["deploy-config-plan"].data
    backups = sorted(p.name for p in (tmp_path / "bk").glob("*.cfg"))
    assert backups == sorted(f"{h}.cfg" for h in lab.devices)  # the pre-change configs, committed
    assert "ntp server 10.1.0.1" not in (tmp_path / "bk" / "fra-spine-01.cfg").read_text()

    again = _deploy(lab, tmp_path, auto_approve=True)
    assert again.is_completed() and "nothing to change" in again.message
    assert {r.data["outcome"] for r in again.result().records} == {"compliant"}
    check = check_compliance(inventory=str(lab.inventory_dir), templates=TEMPLATES, return_state=True)
    assert check.message.startswith("3 compliant, 0 drifted")


def test_rejected_line_is_rolled_back_and_verified(lab, tmp_path, emitted):
    before = _configs(lab)
    lab.reject_line("fra-spine-01", "description spine to core 2")
    state = _deploy(lab, tmp_path, auto_approve=True)
    result = state.result(raise_on_failure=False)
    assert state.is_failed() and "fra-spine-01" in state.message
    record = result["fra-spine-01"]
    assert record.data["outcome"] == "rolled-back"
    assert "rejected config line 'description spine to core 2'" in record.error
    assert "rolled back to the pre-change config" in record.error and "verified" in record.error
    assert lab.running_config("fra-spine-01") == before["fra-spine-01"]
    assert result["ams-spine-01"].data["outcome"] == "applied"
    assert names(emitted, ROLLED_BACK) == ["fra-spine-01"]
    assert names(emitted, APPLIED) == ["ams-spine-01", "nyc-spine-01"]


def test_session_dropped_mid_push_is_rolled_back(lab, tmp_path, emitted):
    before = lab.running_config("ams-spine-01")
    lab.drop_session_after("ams-spine-01", 2)
    state = _deploy(lab, tmp_path, auto_approve=True, timeout_ops=3, hosts={"names": ["ams-spine-01"]})
    record = state.result(raise_on_failure=False)["ams-spine-01"]
    assert record.data["outcome"] == "rolled-back", record.error
    assert lab.running_config("ams-spine-01") == before
    assert names(emitted, ROLLED_BACK) == ["ams-spine-01"]


def test_approved_in_the_ui_with_a_stale_device(lab, tmp_path, emitted):
    """Paused for approval; meanwhile someone edits one device; the approval applies the others only."""
    runner, run = _paused_deploy(lab, tmp_path)
    plan_hash = plan_hash_of(run)
    edited = lab.running_config("nyc-spine-01").replace("ntp server 10.0.0.1", "ntp server 192.0.2.9")
    lab.set_running_config("nyc-spine-01", edited)
    answer(run, approve=True, plan_hash=plan_hash, comment="CHG-42", approver="alice")
    state = runner.result()
    result = state.result(raise_on_failure=False)
    assert result["nyc-spine-01"].data["outcome"] == "stale"
    assert "stale plan" in result["nyc-spine-01"].error
    assert lab.running_config("nyc-spine-01") == edited
    assert {result[h].data["outcome"] for h in ("fra-spine-01", "ams-spine-01")} == {"applied"}
    approval = artifacts(run.id)["deploy-config-approval"].data
    assert "alice" in approval and "CHG-42" in approval and plan_hash in approval and "approved" in approval
    assert names(emitted, PLAN_REJECTED) == ["nyc-spine-01"]


def test_rejected_approval_changes_nothing(lab, tmp_path, emitted):
    before = _configs(lab)
    runner, run = _paused_deploy(lab, tmp_path)
    answer(run, approve=False, plan_hash=plan_hash_of(run), comment="not in the window", approver="bob")
    state = runner.result()
    assert state.is_cancelled() and "rejected" in state.message
    assert _configs(lab) == before
    assert names(emitted, PLAN_REJECTED) == sorted(lab.devices)
    assert not (tmp_path / "bk").exists() or not list((tmp_path / "bk").glob("*.cfg"))


def test_approval_for_another_plan_hash_is_refused(lab, tmp_path, emitted):
    before = _configs(lab)
    runner, run = _paused_deploy(lab, tmp_path)
    answer(run, approve=True, plan_hash="0123456789abcdef", approver="mallory")
    state = runner.result()
    assert state.is_failed()
    assert "refused" in state.message and "0123456789abcdef" in state.message
    assert _configs(lab) == before
    assert not names(emitted, APPLIED)


def test_dry_run_stops_after_the_plan(lab, tmp_path):
    before = _configs(lab)
    state = _deploy(lab, tmp_path, dry_run=True)
    assert state.is_completed() and state.message.startswith("dry run: plan ")
    assert _configs(lab) == before
    plan = artifacts(flow_run_id(state))["deploy-config-plan"].data
    assert "fra-spine-01" in plan and "Lines to send" in plan
