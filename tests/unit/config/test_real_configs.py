"""Plan -> apply -> verify -> roll back on real public configurations (tests/fixtures/real_configs, see NOTICE).

Each scenario edits a real running config into an intended one (multi-section, order-sensitive),
plans the lines, applies them to the text the way the device would (:mod:`.devicetext`), and
checks that the result verifies exactly, that planning again finds nothing, that the inverse plan
restores the original, and that verification does NOT pass when the order-fixing lines are left
out. The configs were written by other people for other tools: the engine must take them as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nornflow.config.exact import differences
from nornflow.config.remediation import remediation
from nornflow.tasks.backup import clean_config
from tests.unit.config.devicetext import LiveText, SetText

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "real_configs"


def real(name: str, platform: str) -> str:
    return clean_config((CORPUS / name).read_text(encoding="utf-8"), platform)


def _after(text: str, anchor: str, new: str) -> str:
    assert anchor in text, anchor
    return text.replace(anchor, anchor + new, 1)


def ios_change(running: str) -> str:
    """ACL entry into the middle, a remark, a prefix-list entry, a community list reordered with a new
    first entry, a route-map set, a BGP neighbour's inbound route-map, NTP: seven sections."""
    text = _after(running, " deny   ip any host 2.128.1.101\n", " deny   tcp any any eq 23\n remark the rest\n")
    text = _after(text, "ip prefix-list inbound_route_filter seq 5 deny 2.0.0.0/8 le 32\n",
                  "ip prefix-list inbound_route_filter seq 7 deny 10.0.0.0/8 le 32\n")
    text = text.replace("ip community-list expanded as1_community permit _1:\n",
                        "ip community-list expanded as1_community deny _1:666\n"
                        "ip community-list expanded as1_community permit _1:\n")
    text = text.replace("access-list 103 permit ip host 3.0.2.0 host 255.255.255.0\n", "")
    text = text.replace(" match ip address prefix-list outbound_routes\n set metric 50\n set community 2:1",
                        " match ip address prefix-list outbound_routes\n set metric 60\n set community 2:1", 1)
    text = text.replace("  neighbor as3 route-map as3_to_as2 in\n", "  neighbor as3 route-map as3_filtered in\n")
    return text.replace("ntp server 23.23.23.23\n", "ntp server 23.23.23.24\n")


def eos_change(running: str) -> str:
    """Entries into the middle of a numbered ACL, a new prefix-list and route-map, a change in ``router bgp``."""
    text = running.replace("   neighbor SOME_GROUP route-map SOME_ROUTE_MAP in\n",
                           "   neighbor SOME_GROUP route-map SOME_ROUTE_MAP_V2 in\n")
    text = text.replace("   10 permit tcp any any eq 22\n",
                        "   10 permit tcp any any eq 22\n   15 remark web\n   20 permit tcp any any eq 443\n")
    return text + ("ip prefix-list LOOPBACKS\n   seq 10 permit 192.0.2.0/24 le 32\n   seq 20 deny 0.0.0.0/0 le 32\n"
                   "route-map SOME_ROUTE_MAP_V2 permit 10\n   match ip address prefix-list LOOPBACKS\n")


def eos_base(running: str) -> str:
    return running + "ip access-list EDGE\n   10 permit tcp any any eq 22\n   30 deny ip any any\n"


def nxos_change(running: str) -> str:
    """An entry into the middle of a numbered ACL, an interface description, NTP, SNMP location."""
    text = running.replace("   20 deny ip any any\n", "   15 permit udp any any eq 123\n   20 deny ip any any\n")
    text = _after(text, "interface Ethernet2/1\n", "  description uplink to core!\n")
    text = text.replace("ntp server 152.2.21.1\n", "ntp server 152.2.21.2\n")
    return text.replace("snmp-server location Freemont, CA\n", "snmp-server location Fremont, CA\n")


def nxos_base(running: str) -> str:
    return running + "ip access-list EDGE\n  10 permit tcp any any eq 22\n  20 deny ip any any\n"


def junos_change(running: str) -> str:
    """A term into the middle of a policy, a new prefix-list entry, an import chain reordered, a community."""
    text = running.replace(
        "set policy-options policy-statement as1_to_as3 term as3 from prefix-list as2_prefixes\n",
        "set policy-options policy-statement as1_to_as3 term blackhole from community as1_to_as4_community\n"
        "set policy-options policy-statement as1_to_as3 term blackhole then reject\n"
        "set policy-options policy-statement as1_to_as3 term as3 from prefix-list as2_prefixes\n")
    text = text.replace("set protocols bgp group as3 import as3_to_as1\n",
                        "set protocols bgp group as3 import as4_to_as1\n"
                        "set protocols bgp group as3 import as3_to_as1\n")
    text = _after(text, "set policy-options prefix-list original_prefixes 1.0.2.0/24\n",
                  "set policy-options prefix-list original_prefixes 1.0.3.0/24\n")
    return text.replace("members 1:3\n", "members 1:33\n")


SCENARIOS: dict[str, tuple[str, Callable[[str], str], Callable[[str], str], Callable[[str], object]]] = {
    "cisco_iosxe": ("ios_as2border1.cfg", lambda t: t, ios_change, LiveText),
    "arista_eos": ("eos_bgp_show_run_all_2.cfg", eos_base, eos_change, lambda t: LiveText(t, 3, True)),
    "cisco_nxos": ("nxos_napalm_show_running_config.txt", nxos_base, nxos_change, lambda t: LiveText(t, 2, True)),
    "juniper_junos": ("junos_as1border2.set", lambda t: t, junos_change, SetText),
}


def _apply(platform: str, text: str, lines: list[str]) -> str:
    device = SCENARIOS[platform][3](text)
    device.apply(lines)  # type: ignore[attr-defined]
    return str(device.text())  # type: ignore[attr-defined]


@pytest.mark.parametrize("platform", sorted(SCENARIOS))
def test_a_real_config_compares_equal_to_itself(platform):
    running = SCENARIOS[platform][1](real(SCENARIOS[platform][0], platform))
    assert remediation(running, running, platform) == []
    assert differences(running, running, platform, strict_order=True) == []
    assert differences(_apply(platform, running, []), running, platform) == []  # the model reads it back


@pytest.mark.parametrize("platform", sorted(SCENARIOS))
def test_plan_apply_verify_rollback_on_a_real_config(platform):
    name, base, change, _ = SCENARIOS[platform]
    running = base(real(name, platform))
    intended = change(running)
    lines = remediation(running, intended, platform)
    assert lines and not any(ln.lstrip().startswith(("#", "!")) for ln in lines)
    after = _apply(platform, running, lines)
    assert differences(after, intended, platform) == []
    assert remediation(after, intended, platform) == []  # planning again: nothing left
    back = remediation(after, running, platform)
    restored = _apply(platform, after, back)
    assert differences(restored, running, platform) == []


def test_ios_plan_on_the_real_config_is_what_an_operator_would_type():
    running = real("ios_as2border1.cfg", "cisco_iosxe")
    lines = remediation(running, ios_change(running), "cisco_iosxe")
    acl = lines.index("ip access-list extended OUTSIDE_TO_INSIDE")
    assert lines[acl + 1:acl + 5] == ["  no 30 permit ip any any", "  30 deny tcp any any eq 23",
                                      "  remark the rest", "  40 permit ip any any"]
    # numbered ACLs and community lists cannot be edited in place: removed, then typed in order
    text = "\n".join(lines) + "\n"
    assert "no access-list 103\naccess-list 103 permit ip host 3.0.1.0 host 255.255.255.0\n" in text
    assert ("no ip community-list expanded as1_community\nip community-list expanded as1_community deny _1:666\n"
            "ip community-list expanded as1_community permit _1:") in text
    assert not any(ln.startswith("no access-list 103 permit") for ln in lines)  # would drop the whole list


def test_without_the_order_fixing_lines_a_real_change_is_not_verified():
    running = real("junos_as1border2.set", "juniper_junos")
    intended = junos_change(running)
    lines = remediation(running, intended, "juniper_junos")
    inserts = [ln for ln in lines if ln.startswith("insert ")]
    assert sorted(inserts) == ["insert policy-options policy-statement as1_to_as3 term blackhole before term as3",
                       "insert protocols bgp group as3 import as4_to_as1 before as3_to_as1"]
    after = _apply("juniper_junos", running, [ln for ln in lines if not ln.startswith("insert ")])
    problems = differences(after, intended, "juniper_junos")
    assert len(problems) == 2 and all("another order" in p for p in problems)


def test_junos_load_file_with_comments_plans_without_them():
    """A real load file: ``#`` lines alone and comments holding whole ``set`` statements."""
    load_file = (CORPUS / "junos_policy_statement_term.set").read_text(encoding="utf-8")
    running = "set system host-name juniper-policy-statement-term\n"
    lines = remediation(running, load_file, "juniper_junos")
    assert lines and all(ln.startswith("set ") for ln in lines)
    assert not any("COLOR_POLICY" in ln for ln in lines)  # commented out in the file: not sent
    after = _apply("juniper_junos", running, lines)
    assert differences(after, load_file, "juniper_junos") == []


@pytest.mark.parametrize("platform", sorted(SCENARIOS))
def test_whole_text_parsing_reads_what_hier_config_reads_line_by_line(platform):
    """The fast parse (substitutions over the whole text) and hier-config's own give the same tree."""
    from hier_config import get_hconfig

    from nornflow.config.remediation import _driver, hier_platform, parse, text_of, without_comments

    text = without_comments(SCENARIOS[platform][1](real(SCENARIOS[platform][0], platform)), platform)
    assert text_of(parse(text, platform)) == text_of(get_hconfig(_driver(hier_platform(platform)), text))
