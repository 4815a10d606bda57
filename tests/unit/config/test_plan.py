"""Remediation, diffs, plan hashes and approval decisions (no devices)."""

from __future__ import annotations

import pytest

from nornflow.config.approval import PlanApproval, decide
from nornflow.config.exceptions import UnsupportedPlatform
from nornflow.config.plan import ConfigPlan, DevicePlan
from nornflow.config.remediation import config_hash, remediation, unified_diff

RUNNING = "hostname r1\nntp server 10.0.0.1\ninterface Ethernet0/1\n shutdown\nline vty 0 4\n transport input ssh\n"
INTENDED = "hostname r1\n!\nntp server 10.0.0.2\ninterface Ethernet0/1\n description up\n shutdown\n" \
           "line vty 0 4\n transport input ssh\n"


def test_remediation_and_unified_diff():
    assert remediation(RUNNING, INTENDED, "cisco_iosxe") == [
        "no ntp server 10.0.0.1", "ntp server 10.0.0.2", "interface Ethernet0/1", "  description up"]
    diff = unified_diff(RUNNING, INTENDED, "cisco_iosxe", "r1")
    assert diff.startswith("--- r1 running\n+++ r1 intended\n")
    assert "-ntp server 10.0.0.1\n+ntp server 10.0.0.2\n" in diff
    assert remediation(RUNNING, RUNNING + "!\n", "cisco_iosxe") == []


def test_sections_limit_what_is_compared():
    assert remediation(RUNNING, INTENDED, "cisco_iosxe", ["interface"]) == ["interface Ethernet0/1",
                                                                          "  description up"]
    assert remediation(RUNNING, INTENDED, "arista_eos", ["line"]) == []


def test_unknown_platform_is_named():
    with pytest.raises(UnsupportedPlatform, match="'frobos'"):
        remediation(RUNNING, INTENDED, "frobos")


def _plan(lines=("ntp server 10.0.0.2",), running=RUNNING) -> ConfigPlan:
    return ConfigPlan(devices=[
        DevicePlan(host="r1", lines=list(lines), running_hash=config_hash(running),
                   intended_hash=config_hash(INTENDED), intended=INTENDED),
        DevicePlan(host="r2", lines=[], running_hash="x", intended_hash="y", intended=""),
    ])


def test_plan_hash_is_stable_and_covers_lines_and_state():
    assert _plan().hash == _plan().hash
    assert _plan(lines=("ntp server 10.0.0.3",)).hash != _plan().hash
    assert _plan(running=RUNNING + "ntp server 1.1.1.1\n").hash != _plan().hash
    assert config_hash("a\n\nb  \n") == config_hash("a\nb\n")
    plan = _plan()
    assert [d.host for d in plan.changing] == ["r1"]
    text = plan.markdown("Plan")
    assert plan.hash in text and "Already compliant: r2" in text


def test_empty_plan_says_so():
    plan = _plan(lines=())
    assert plan.empty and "Nothing to change" in plan.markdown("Plan")


def test_approval_decisions():
    assert decide(PlanApproval(approve=True, plan_hash="abc", approver="al"), "abc").approved
    rejected = decide(PlanApproval(approve=False, plan_hash="abc", comment="no"), "abc")
    assert rejected.verdict == "rejected" and not rejected.approved
    other = decide(PlanApproval(approve=True, plan_hash="zzz"), "abc")
    assert other.verdict == "refused" and "'zzz'" in other.reason and "'abc'" in other.reason
    assert decide(None, "abc").verdict == "timed-out"
    assert "| al |" in decide(PlanApproval(approve=True, plan_hash="abc", approver="al"), "abc").markdown()
