"""Leaving out the top-level blocks two configs share changes no plan and no verification, only their cost."""

from __future__ import annotations

import pytest

from nornflow.config.blocks import reduce_pair, split_blocks
from nornflow.config.exact import compare_trees, differences, snapshot
from nornflow.config.exceptions import DuplicateLines
from nornflow.config.remediation import remediation, remediation_of, tree
from tests.unit.config.test_real_configs import SCENARIOS, _apply, real


def _full_remediation(running: str, intended: str, platform: str) -> list[str]:
    return remediation_of(tree(running, platform), tree(intended, platform), platform)


def _full_differences(actual: str, expected: str, platform: str) -> list[str]:
    return compare_trees(snapshot(actual, platform), snapshot(expected, platform), platform)


@pytest.mark.parametrize("platform", sorted(SCENARIOS))
def test_real_changes_plan_and_verify_as_on_the_whole_text(platform):
    name, base, change, _ = SCENARIOS[platform]
    running = base(real(name, platform))
    intended = change(running)
    lines = remediation(running, intended, platform)
    assert lines == _full_remediation(running, intended, platform)
    assert remediation(intended, running, platform) == _full_remediation(intended, running, platform)
    half = _apply(platform, running, lines[: len(lines) // 2])  # a change stopped half-way
    assert differences(half, intended, platform) == _full_differences(half, intended, platform) != []
    assert differences(_apply(platform, running, lines), intended, platform) == []


def test_only_the_changed_blocks_are_left_to_parse():
    running = real("ios_as2border1.cfg", "cisco_iosxe")
    intended = running.replace("ntp server", "ntp server 10.9.9.9\nntp server", 1) if "ntp server" in running \
        else running.replace("\nend", "\nntp server 10.9.9.9\nend")
    have, want = reduce_pair(running, intended, "cisco_iosxe")
    assert have == "" and want == "ntp server 10.9.9.9\n"
    assert len(split_blocks(running)) > 40


IOS = """hostname r1
ntp server 10.0.0.1
access-list 101 permit ip host 10.0.0.1 any
access-list 101 permit ip host 10.0.0.2 any
access-list 101 deny ip any any
interface Ethernet0/1
 description one
interface Ethernet0/2
 shutdown
"""


def test_a_changed_entry_keeps_its_whole_ordered_list_and_the_order_still_counts():
    swapped = IOS.replace("host 10.0.0.1 any\naccess-list 101 permit ip host 10.0.0.2",
                          "host 10.0.0.2 any\naccess-list 101 permit ip host 10.0.0.1")
    have, want = reduce_pair(swapped, IOS, "cisco_iosxe")
    assert have.count("access-list 101") == want.count("access-list 101") == 3
    assert "interface" not in have + want
    assert differences(swapped, IOS, "cisco_iosxe") == _full_differences(swapped, IOS, "cisco_iosxe") != []


def test_a_duplicate_block_still_counts_and_a_section_typed_twice_is_kept_whole():
    doubled = IOS + "ntp server 10.0.0.1\n"
    assert differences(doubled, IOS, "cisco_iosxe") and "duplicate" in differences(doubled, IOS, "cisco_iosxe")[0]
    split = IOS + "interface Ethernet0/1\n shutdown\n"  # a section typed twice: both copies stay in the comparison
    have, want = reduce_pair(split, IOS, "cisco_iosxe")
    assert have.count("interface Ethernet0/1") == 2 and want.count("interface Ethernet0/1") == 1
    for plan in (remediation, _full_remediation):  # refused alike: a set-based plan cannot say which to keep
        with pytest.raises(DuplicateLines, match="interface Ethernet0/1"):
            plan(IOS, split, "cisco_iosxe")


def test_junos_set_lines_are_compared_whole():
    running = "set snmp location x\nset snmp contact y\n"
    assert reduce_pair(running, "set snmp contact y\n", "juniper_junos") == (running, "set snmp contact y\n")
    assert remediation(running, "set snmp contact y\n", "juniper_junos") == ["delete snmp location x"]
