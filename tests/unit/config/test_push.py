"""How a change lands: live lines on IOS-like platforms, configure -> lines -> commit on Junos, and
the apply-verify-rollback task on a pretend Junos device (no I/O)."""

from __future__ import annotations

import pytest

from nornflow.config.exceptions import ConfigRejected, RolledBack
from nornflow.config.plan import DevicePlan
from nornflow.config.push import push
from nornflow.config.remediation import config_hash, remediation
from nornflow.config.tasks import apply_config, rollback
from nornflow.tasks.platforms import device_platform
from tests.unit.config.fakes import FakeIOS, FakeJunos, fake_task, fixture

JUNOS = device_platform("juniper_junos")
RUNNING = [ln for ln in fixture("juniper_junos_show_configuration_display_set.txt").splitlines()
           if ln.startswith("set ")]  # the config, without the "## Last commit" header
NTP = "set system ntp server 10.1.0.1"
SNMP = 'set snmp location "Frankfurt DC1"'
SHOW = "show configuration | display set"


def test_junos_push_is_configure_lines_commit_check_commit_exit():
    device = FakeJunos(active=list(RUNNING))
    push(device, "r1", JUNOS, [NTP, "delete system ntp server 10.0.0.1"])
    assert device.sent == ["configure", NTP, "delete system ntp server 10.0.0.1", "commit check", "commit",
                           "exit configuration-mode"]
    assert NTP in device.active and "set system ntp server 10.0.0.1" not in device.active


def test_junos_rejected_line_discards_the_candidate_and_commits_nothing():
    device = FakeJunos(active=list(RUNNING), syntax_errors={"set snmp locaton x"})
    with pytest.raises(ConfigRejected, match=r"r1 rejected config line 'set snmp locaton x': \^ / syntax error\.; "
                                             r"the candidate was discarded, nothing was committed"):
        push(device, "r1", JUNOS, [NTP, "set snmp locaton x", SNMP])
    assert device.sent == ["configure", NTP, "set snmp locaton x", "rollback 0", "exit configuration-mode"]
    assert device.active == RUNNING and device.candidate == RUNNING


def test_junos_failed_commit_check_discards_the_candidate():
    device = FakeJunos(active=list(RUNNING), commit_errors={SNMP})
    with pytest.raises(ConfigRejected, match=r"r1 refused 'commit check': 'set snmp location \"Frankfurt DC1\"' / "
                                             r"error: statement refused / error: configuration check-out failed; "
                                             r"the candidate was discarded, the active config is unchanged"):
        push(device, "r1", JUNOS, [NTP, SNMP])
    assert device.sent == ["configure", NTP, SNMP, "commit check", "rollback 0", "exit configuration-mode"]
    assert "commit" not in device.sent and device.active == RUNNING


JUNOS_CHECK_FAILED = """
[edit protocols bgp group EXT neighbor 192.0.2.1]
  'peer-as'
    Missing mandatory statement: 'peer-as'
error: configuration check-out failed

[edit]"""


def test_junos_commit_check_failure_keeps_the_lines_that_say_why():
    device = FakeJunos(active=list(RUNNING))
    device._line = lambda line: JUNOS_CHECK_FAILED if line == "commit check" else ""  # type: ignore[method-assign]
    with pytest.raises(ConfigRejected) as caught:
        push(device, "r1", JUNOS, ["set protocols bgp group EXT neighbor 192.0.2.1"])
    assert ("refused 'commit check': [edit protocols bgp group EXT neighbor 192.0.2.1] / 'peer-as' / "
            "Missing mandatory statement: 'peer-as' / error: configuration check-out failed;") in str(caught.value)


def test_ios_rejected_line_keeps_the_marker_and_the_reason():
    """IOS answers a bad word with a caret under it and the reason on the next line; both are kept."""
    device = FakeIOS(rejects={"ip ospf cost high"})
    device.answer = "                 ^\n% Invalid input detected at '^' marker.\n"
    with pytest.raises(ConfigRejected) as caught:
        push(device, "r1", device_platform("cisco_iosxe"), ["interface Ethernet0/1", "  ip ospf cost high"])
    assert str(caught.value) == ("r1 rejected config line 'ip ospf cost high': "
                                 "^ / % Invalid input detected at '^' marker.")


def test_junos_commit_without_commit_complete_counts_as_failed():
    device = FakeJunos(active=list(RUNNING))
    device._line = lambda line: "" if line != "commit check" else "configuration check succeeds"  # type: ignore[method-assign]
    with pytest.raises(ConfigRejected, match="refused 'commit'"):
        push(device, "r1", JUNOS, [NTP])


def test_nothing_to_send_sends_nothing_unless_a_candidate_must_be_emptied():
    device = FakeJunos(active=list(RUNNING))
    push(device, "r1", JUNOS, [])
    assert device.sent == []
    device.candidate = [*RUNNING, "set system ntp server 192.0.2.1"]  # left by a session that died mid-push
    push(device, "r1", JUNOS, [], discard_first=True)
    assert device.sent == ["configure", "rollback 0", "exit configuration-mode"]
    assert device.candidate == RUNNING


@pytest.mark.parametrize("platform", ["cisco_iosxe", "arista_eos", "cisco_nxos"])
def test_live_platforms_type_the_lines_and_stop_at_the_first_rejected(platform):
    device = FakeIOS(rejects={"description leaf uplink 1"})
    lines = ["interface Ethernet1/1", "  description leaf uplink 1", "interface Ethernet1/2"]
    with pytest.raises(ConfigRejected, match=r"r1 rejected config line 'description leaf uplink 1': % Invalid input"):
        push(device, "r1", device_platform(platform), lines)
    assert device.calls == [{"configs": lines, "stop_on_failed": True}]
    assert device.sent == lines[:2]  # no commit, nothing after the rejected line


def _plan(device: FakeJunos, intended: str) -> dict[str, dict[str, object]]:
    running = device.text()
    return {"r1": DevicePlan(host="r1", platform="juniper_junos", lines=remediation(running, intended, "juniper_junos"),
                             running_hash=config_hash(running), intended_hash=config_hash(intended),
                             intended=intended).model_dump()}


INTENDED = "\n".join([*(ln for ln in RUNNING if ln), NTP, SNMP]) + "\n"


def test_junos_apply_commits_once_and_verifies():
    device = FakeJunos(active=list(RUNNING))
    result = apply_config(fake_task("r1", "juniper_junos", device), _plan(device, INTENDED), {"r1": device.text()})
    assert result.result == {"outcome": "applied", "lines": 2}
    assert [ln for ln in device.sent if "nornflow-" not in ln] == [
        SHOW, "configure", NTP, SNMP, "commit check", "commit", "exit configuration-mode", SHOW]
    assert device.sent[1].startswith("show configuration | save /var/tmp/nornflow-")  # the snapshot, tried first
    assert NTP in device.active and SNMP in device.active


def test_junos_failed_commit_leaves_the_active_config_and_says_rolled_back():
    device = FakeJunos(active=list(RUNNING), commit_errors={SNMP})
    backup = device.text()
    with pytest.raises(RolledBack, match=r"refused 'commit check'.*rolled back to the pre-change config "
                                         r"\(0 line\(s\) differed; restored by nothing"):
        apply_config(fake_task("r1", "juniper_junos", device), _plan(device, INTENDED), {"r1": backup})
    assert device.text() == backup
    assert device.sent.count("commit") == 0 and device.candidate == device.active


def test_junos_failed_verification_is_undone_by_a_second_commit():
    device = FakeJunos(active=list(RUNNING), ignored={SNMP})  # commits, but the SNMP line never shows up
    backup = device.text()
    with pytest.raises(RolledBack, match=r"still differs.*rolled back to the pre-change config \(1 line"):
        apply_config(fake_task("r1", "juniper_junos", device), _plan(device, INTENDED), {"r1": backup})
    assert device.text() == backup
    after_verify = device.sent[device.sent.index("commit") + 3:]  # exit, show (verify), then the rollback
    assert after_verify == [SHOW, "file list /var/tmp/", "configure", "rollback 0",
                            f"delete {NTP.removeprefix('set ')}", "commit check", "commit", "exit configuration-mode",
                            SHOW]


def test_rollback_restores_the_device_text_not_a_redacted_backup_copy():
    """The backups the engine hands over went through result redaction (``admin`` is the lab's login)."""
    device = FakeJunos(active=list(RUNNING), ignored={SNMP})
    backup = device.text()
    redacted = backup.replace("admin", "***")
    assert redacted != backup
    with pytest.raises(RolledBack, match=r"\(1 line"):
        apply_config(fake_task("r1", "juniper_junos", device), _plan(device, INTENDED), {"r1": redacted})
    assert device.text() == backup


def test_junos_rollback_of_an_unchanged_device_only_empties_the_candidate():
    device = FakeJunos(active=list(RUNNING), candidate=[*RUNNING, NTP])
    assert rollback(fake_task("r1", "juniper_junos", device), device.text()) == 0
    assert device.sent == [SHOW, "configure", "rollback 0", "exit configuration-mode"]
