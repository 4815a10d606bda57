"""What "verified" means: duplicates, order where it is the meaning, remarks; comments never sent;
unknown platforms refused (no devices: pretend sessions that print real configs)."""

from __future__ import annotations

import pytest

from nornflow.config.exact import differences
from nornflow.config.exceptions import RollbackFailed, VerificationFailed
from nornflow.config.remediation import remediation
from nornflow.config.tasks import plan_config, rollback, verify
from nornflow.tasks.backup import get_running_config
from nornflow.tasks.platforms import UnknownPlatform, device_platform
from tests.unit.config.devicetext import LiveText, SetText
from tests.unit.config.fakes import FakeIOS, fake_task

ACL = """hostname r1
ip access-list extended EDGE-IN
 permit tcp any host 10.0.0.1 eq 22
 deny ip any any log
"""
STRAY = ACL + " permit tcp any host 10.0.0.1 eq 22\n deny ip any any log\n"  # left by a half-failed change


def test_an_acl_with_two_stray_duplicate_entries_is_not_verified():
    problems = differences(STRAY, ACL, "cisco_iosxe")
    assert problems and "'no 30 permit tcp any host 10.0.0.1 eq 22' (a duplicate)" in problems[0]
    device = FakeIOS(reads=[STRAY])
    with pytest.raises(VerificationFailed, match=r"r1 still differs .* \(a duplicate\), .*\(a duplicate\)"):
        verify(fake_task("r1", "cisco_iosxe", device), ACL, None, None)
    assert differences(ACL, ACL, "cisco_iosxe") == []


@pytest.mark.parametrize("platform", ["arista_eos", "cisco_nxos"])
def test_numbered_acl_duplicates_count_on_eos_and_nxos(platform):
    acl = "ip access-list EDGE\n   10 permit tcp any any eq 22\n   20 deny ip any any\n"
    assert differences(acl + "   30 permit tcp any any eq 22\n", acl, platform)
    assert differences(acl, acl, platform) == []


def test_top_level_duplicates_count():
    lines = "access-list 101 permit ip any any\n"
    assert differences(lines * 2, lines, "cisco_iosxe")
    assert differences("set snmp location x\n" * 2, "set snmp location x\n", "juniper_junos")


REORDERED_BGP = """router bgp 2
 neighbor as1 peer-group
 address-family ipv4
  neighbor as1 route-map as1_to_as2 in
  neighbor as1 route-map as2_to_as1 out
"""


def test_a_rollback_that_put_route_map_in_after_out_is_not_verified():
    """The device prints ``in`` before ``out``; a rollback leaving them the other way round is not the backup."""
    backup = REORDERED_BGP
    after = backup.replace("  neighbor as1 route-map as1_to_as2 in\n", "") + "  neighbor as1 route-map as1_to_as2 in\n"
    assert differences(after, backup, "cisco_iosxe") == []  # the same set of lines...
    assert differences(after, backup, "cisco_iosxe", strict_order=True)  # ...not the same config text
    device = FakeIOS(reads=[backup.replace("  neighbor as1 route-map as1_to_as2 in\n", ""), after])
    with pytest.raises(RollbackFailed, match=r"another order: .*'neighbor as1 route-map as1_to_as2 in'"):
        rollback(fake_task("r1", "cisco_iosxe", device), backup)


def test_a_rollback_that_restores_the_text_is_verified():
    device = FakeIOS(reads=[ACL + "ntp server 10.0.0.9\n", ACL])
    assert rollback(fake_task("r1", "cisco_iosxe", device), ACL) == 1
    # no snapshot feature answers on this device: it says so to the listing, and the lines restore it
    assert device.sent == ["show running-config", "dir flash:", "no ntp server 10.0.0.9", "show running-config"]


def test_acl_entries_in_another_order_are_not_verified():
    swapped = ("hostname r1\nip access-list extended EDGE-IN\n deny ip any any log\n"
               " permit tcp any host 10.0.0.1 eq 22\n")
    assert differences(swapped, ACL, "cisco_iosxe")
    eos = "ip access-list EDGE\n   10 permit tcp any any eq 22\n   20 deny ip any any\n"
    assert differences("ip access-list EDGE\n   20 deny ip any any\n   10 permit tcp any any eq 22\n", eos,
                       "arista_eos")


def test_community_list_order_counts_and_is_planned_by_rewriting_the_list():
    running = "ip community-list standard C permit 65000:1\nip community-list standard C permit 65000:2\n"
    intended = ("ip community-list standard C permit 65000:3\nip community-list standard C permit 65000:1\n"
                "ip community-list standard C permit 65000:2\n")
    assert differences(running.splitlines()[1] + "\n" + running.splitlines()[0] + "\n", running, "cisco_iosxe")
    lines = remediation(running, intended, "cisco_iosxe")
    assert lines == ["no ip community-list standard C", *intended.splitlines()]
    device = LiveText(running)
    device.apply(lines)
    assert differences(device.text(), intended, "cisco_iosxe") == []


def test_a_remark_is_planned_and_verified():
    """hier-config's IOS driver drops remarks; ours keeps them, so adding one is a change."""
    intended = ACL + " remark web from anywhere\n permit tcp any any eq 443\n"
    lines = remediation(ACL, intended, "cisco_iosxe")
    assert lines == ["ip access-list extended EDGE-IN", "  remark web from anywhere", "  30 permit tcp any any eq 443"]
    device = LiveText(ACL)
    device.apply(lines)
    assert differences(device.text(), intended, "cisco_iosxe") == []
    assert differences(ACL, ACL + " remark x\n", "cisco_iosxe")  # a missing remark is a difference


def test_a_remark_meant_for_the_middle_of_an_ios_acl_is_placed_by_retyping_what_follows():
    """IOS numbers entries, not remarks: a remark typed into an ACL lands last. So the entries from the
    remark's place on are taken out and typed again after it (each lands last, the head is untouched)."""
    intended = ACL.replace(" deny ip", " remark the rest is dropped\n deny ip")
    lines = remediation(ACL, intended, "cisco_iosxe")
    assert lines == ["ip access-list extended EDGE-IN", "  no deny ip any any log", "  remark the rest is dropped",
                     "  deny ip any any log"]
    device = LiveText(ACL)
    device.apply(lines)
    assert differences(device.text(), intended, "cisco_iosxe") == []
    top = ACL.replace(" permit tcp", " remark ssh from the jump host\n permit tcp")  # before every entry
    device = LiveText(ACL)
    device.apply(remediation(ACL, top, "cisco_iosxe"))
    assert differences(device.text(), top, "cisco_iosxe") == []
    remark = " remark ssh from the jump host\n"
    moved = top.replace(remark, "").replace(" deny ip", remark + " deny ip")
    device.apply(remediation(top, moved, "cisco_iosxe"))  # a remark moved further down: taken out, typed again
    assert differences(device.text(), moved, "cisco_iosxe") == []
    assert remediation(device.text(), moved, "cisco_iosxe") == []


def test_a_changed_description_and_remark_count_on_nxos():
    running = "interface Ethernet1/1\n  description core!\n"
    assert remediation(running, "interface Ethernet1/1\n  description core\n", "cisco_nxos")
    assert differences(running, "interface Ethernet1/1\n  description core\n", "cisco_nxos")


POLICY = """set policy-options policy-statement EXPORT term A from protocol direct
set policy-options policy-statement EXPORT term A then accept
set policy-options policy-statement EXPORT term Z then reject
"""


def test_junos_term_order_is_planned_with_insert_and_verified():
    intended = POLICY.replace("set policy-options policy-statement EXPORT term Z",
                              "set policy-options policy-statement EXPORT term B from protocol static\n"
                              "set policy-options policy-statement EXPORT term B then accept\n"
                              "set policy-options policy-statement EXPORT term Z", 1)
    lines = remediation(POLICY, intended, "juniper_junos")
    assert lines[-1] == "insert policy-options policy-statement EXPORT term B before term Z"
    device = SetText(POLICY)
    device.apply(lines[:-1])  # without the insert, B would land after Z: not verified
    assert differences(device.text(), intended, "juniper_junos")
    device.apply(lines[-1:])
    assert differences(device.text(), intended, "juniper_junos") == []


def test_junos_comments_are_never_planned_nor_compared():
    running = "set system host-name r1\n"
    intended = "#\n## managed by nornflow\nset system host-name r1\n#\n/* a note */\nset system ntp server 10.0.0.1\n"
    assert remediation(running, intended, "juniper_junos") == ["set system ntp server 10.0.0.1"]
    assert remediation(running, "# one comment alone\n" + running, "juniper_junos") == []
    assert differences(running, "#\n" + running + "#\n", "juniper_junos") == []


def test_an_unknown_platform_is_refused_before_anything_is_sent(tmp_path):
    with pytest.raises(UnknownPlatform, match=r"unknown platform 'junos' \(known: .*juniper_junos"):
        device_platform("junos")
    device = FakeIOS(reads=["hostname r1\n"])
    with pytest.raises(UnknownPlatform, match="'junos'"):
        plan_config(fake_task("r1", "junos", device), str(tmp_path))
    with pytest.raises(UnknownPlatform, match="'junos'"):
        get_running_config(fake_task("r1", "junos", device))
    assert device.sent == []
