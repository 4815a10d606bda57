"""The lab behaves like the real devices where flows rely on it: ACL sequence numbers, flat lines
leaving a sub-mode, the device's print order, Junos values and classes, and show commands whose
output ntc-templates parses. Real outputs: tests/fixtures/lab_outputs (see its NOTICE)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ntc_templates.parse import parse_output

from nornflow.lab.platforms import ios
from nornflow.lab.platforms.cisco import CiscoShell
from tests.unit.lab.conftest import Open, run

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "lab_outputs"


def configured(open_shell: Open, platform: str, *lines: str) -> CiscoShell:
    shell = open_shell(platform)
    assert isinstance(shell, CiscoShell)
    if not shell.privileged:
        run(shell, "enable", "s3cret" if platform == "cisco_ios" else "")
    run(shell, "configure terminal", *lines, "end")
    return shell


def running(shell: CiscoShell) -> str:
    return shell.handle("show running-config").output


def test_a_real_ios_config_round_trips_byte_for_byte() -> None:
    text = (REAL / "batfish_as2border2.cfg").read_text()
    assert ios.SYNTAX.render(ios.SYNTAX.parse(text)) == text  # `deny   ip`, no `!` between ACLs or lines


def test_ios_acl_entries_are_numbered_edited_by_number_and_hidden_in_running_config(open_shell: Open) -> None:
    shell = configured(open_shell, "cisco_ios", "ip access-list extended EDGE", "permit tcp any any eq 22",
                       "deny ip any any", "no 20", "15 permit udp any any eq 53", "deny ip any any log")
    assert " permit tcp any any eq 22\n permit udp any any eq 53\n deny   ip any any log\n" in running(shell)
    assert "20 deny" not in running(shell) and "no 20" not in running(shell)
    listed = shell.handle("show ip access-lists EDGE").output
    assert listed == ("Extended IP access list EDGE\n    10 permit tcp any any eq 22\n"
                      "    15 permit udp any any eq 53\n    25 deny ip any any log\n")  # last + 10
    parsed = parse_output(platform="cisco_ios", command="show ip access-lists", data=listed)
    assert [(e["line_num"], e["action"]) for e in parsed if e["line_num"]] == [
        ("10", "permit"), ("15", "permit"), ("25", "deny")]
    assert "% Duplicate sequence number" in run(shell, "configure terminal", "ip access-list extended EDGE",
                                                 "10 deny ip any any")
    run(shell, "no deny ip any any log", "end")
    assert "deny" not in shell.handle("show ip access-lists EDGE").output


def test_ios_no_access_list_with_an_entry_deletes_the_whole_numbered_list(open_shell: Open) -> None:
    shell = configured(open_shell, "cisco_ios", "access-list 101 permit ip any host 10.0.0.1",
                       "access-list 101 permit ip any host 10.0.0.2", "no access-list 101 permit ip any host 10.0.0.2")
    assert "access-list 101" not in running(shell)


@pytest.mark.parametrize(("platform", "shown"), [
    ("arista_eos", "ip access-list EDGE\n   10 remark ssh\n   20 permit tcp any any eq 22\n   25 deny ip any any\n"),
    ("cisco_nxos", "ip access-list EDGE\n  10 remark ssh\n  20 permit tcp any any eq 22\n  25 deny ip any any\n"),
])
def test_eos_and_nxos_show_acl_sequence_numbers_in_running_config(open_shell: Open, platform: str,
                                                                  shown: str) -> None:
    shell = configured(open_shell, platform, "ip access-list EDGE", "remark ssh", "permit tcp any any eq 22",
                       "permit ip any any", "no permit ip any any", "25 deny ip any any")
    assert shown in running(shell)
    command = "show ip access-lists" if platform == "arista_eos" else "show access-lists"
    parsed = parse_output(platform=platform, command=command, data=shell.handle("show ip access-lists").output)
    assert {e["sn"] for e in parsed} >= {"20", "25"}


def test_an_unindented_line_goes_to_the_mode_that_has_it(open_shell: Open) -> None:
    shell = configured(open_shell, "cisco_ios", "interface Ethernet0/1", "description uplink",
                       "spanning-tree portfast", "ip route 10.9.0.0 255.255.0.0 192.168.0.254", "ip mtu 1400",
                       "line vty 0 4", "logging synchronous", "logging host 10.0.0.9")
    text = running(shell)
    assert "interface Ethernet0/1\n description uplink\n shutdown\n spanning-tree portfast\n!" in text
    assert "\nip route 10.9.0.0 255.255.0.0 192.168.0.254\n" in text and "\nip mtu 1400" in text
    assert " logging synchronous\n" in text and "\nlogging host 10.0.0.9\n" in text
    assert shell.prompt() == "fra-leaf-01#"


def test_recreated_lines_go_where_the_device_prints_them(open_shell: Open) -> None:
    shell = configured(open_shell, "cisco_ios", "interface Ethernet0/1", "duplex auto", "no shutdown",
                       "description back", "shutdown", "snmp-server community lab RO", "snmp-server host 10.0.0.5 lab",
                       "snmp-server location fra", "router bgp 65000", "neighbor 10.1.1.2 remote-as 65001",
                       "address-family ipv4", "neighbor 10.1.1.2 route-map OUT out", "neighbor 10.1.1.2 activate",
                       "neighbor 10.1.1.2 route-map IN in")
    text = running(shell)
    assert "interface Ethernet0/1\n description back\n shutdown\n duplex auto\n!" in text
    assert ("snmp-server community lab RO\nsnmp-server location fra\nsnmp-server host 10.0.0.5 lab\n") in text
    assert (" address-family ipv4\n  neighbor 10.1.1.2 activate\n  neighbor 10.1.1.2 route-map IN in\n"
            "  neighbor 10.1.1.2 route-map OUT out\n exit-address-family\n") in text
    run(shell, "configure terminal", "route-map RM permit 20", "route-map RM", "ip prefix-list PL permit 10.0.0.0/8",
        "ip prefix-list PL permit 11.0.0.0/8", "end")
    text = running(shell)
    assert text.index("route-map RM permit 10") < text.index("route-map RM permit 20")
    assert "ip prefix-list PL seq 5 permit 10.0.0.0/8\nip prefix-list PL seq 10 permit 11.0.0.0/8\n" in text


def test_nxos_bgp_neighbor_is_a_sub_mode(open_shell: Open) -> None:
    shell = configured(open_shell, "cisco_nxos", "feature bgp", "router bgp 65000", "neighbor 10.1.1.2",
                       "remote-as 65001", "address-family ipv4 unicast", "route-map IN in", "neighbor 10.1.1.3",
                       "remote-as 65002")
    assert ("router bgp 65000\n  neighbor 10.1.1.2\n    remote-as 65001\n    address-family ipv4 unicast\n"
            "      route-map IN in\n  neighbor 10.1.1.3\n    remote-as 65002\n") in running(shell)
    assert running(shell).index("feature bgp") < running(shell).index("username")


def test_ios_show_running_config_all_is_the_config(open_shell: Open) -> None:
    shell = configured(open_shell, "cisco_ios")
    everything = shell.handle("show running-config all").output
    assert "hostname fra-leaf-01\n" in everything and "interface Loopback0\n" in everything


def test_junos_classes_and_quotes_as_junos_shows_them(open_shell: Open) -> None:
    shell = open_shell("juniper_junos")
    run(shell, "configure", "set system login class ops permissions view",
        "set system login class ops permissions view-configuration", "set system login class noc permissions all",
        'set system login user admin full-name "admin"', 'set system login user bob full-name "Bob Smith"',
        "set system login user bob class ops", "set system login user bob class noc", "commit and-quit")
    shown = shell.handle("show configuration system login").output
    assert "class ops {\n    permissions [ view view-configuration ];\n}\nclass noc {\n" in shown
    assert "full-name admin;" in shown and 'full-name "Bob Smith";' in shown
    assert "    class noc;\n" in shown and "    class ops;\n" not in shown  # a user has one class
    listed = shell.handle("show configuration system login | display set").output
    assert "set system login class ops permissions view-configuration\n" in listed


COMMANDS = [
    ("cisco_ios", "show interfaces", "interface", {"Loopback0", "Ethernet0/0", "Ethernet0/1"}),
    ("cisco_ios", "show inventory", "sn", {"9LAB0000001"}),
    ("cisco_ios", "show cdp neighbors", "neighbor_name", {"fra-spine-01"}),
    ("cisco_ios", "show lldp neighbors", "neighbor_name", {"fra-spine-01"}),
    ("cisco_ios", "show ip route", "network", {"0.0.0.0", "10.1.1.0", "10.1.1.1", "192.168.0.0"}),
    ("cisco_ios", "show ip bgp summary", "bgp_neighbor", {"10.1.1.2"}),
    ("cisco_ios", "show logging", "mnemonic", {"RESTART", "CONFIG_I"}),
    ("arista_eos", "show interfaces", "interface", {"Ethernet1", "Ethernet2", "Loopback0"}),
    ("arista_eos", "show inventory", "sn", {"SSJ0000001"}),
    ("arista_eos", "show lldp neighbors", "neighbor_name", {"fra-spine-01"}),
    ("arista_eos", "show ip route", "network", {"0.0.0.0", "10.1.1.0", "192.168.0.0"}),
    ("arista_eos", "show ip bgp summary", "bgp_neigh", {"10.1.1.2"}),
    ("cisco_nxos", "show interface", "interface", {"Ethernet1/1", "Ethernet1/2", "loopback0"}),
    ("cisco_nxos", "show cdp neighbors", "neighbor_name", {"fra-spine-01"}),
    ("cisco_nxos", "show lldp neighbors", "neighbor_name", {"fra-spine-01"}),
    ("cisco_nxos", "show ip route", "network", {"0.0.0.0", "10.1.1.0", "10.1.1.1"}),
    ("cisco_nxos", "show ip bgp summary", "bgp_neigh", {"10.1.1.2"}),
    ("cisco_nxos", "show inventory", "name", {"Chassis"}),
]
SETUP = {
    "cisco_ios": ("lldp run", "interface Ethernet0/1", "description to fra-spine-01", "no shutdown",
                  "ip address 10.1.1.1 255.255.255.252", "ip route 0.0.0.0 0.0.0.0 10.1.1.2", "router bgp 65000",
                  "neighbor 10.1.1.2 remote-as 65001"),
    "arista_eos": ("interface Ethernet2", "description to fra-spine-01", "no shutdown", "no switchport",
                   "ip address 10.1.1.1/30", "ip route 0.0.0.0/0 10.1.1.2", "router bgp 65000",
                   "neighbor 10.1.1.2 remote-as 65001"),
    "cisco_nxos": ("interface Ethernet1/2", "description to fra-spine-01", "no shutdown", "no switchport",
                   "ip address 10.1.1.1/30", "ip route 0.0.0.0/0 10.1.1.2", "feature bgp", "router bgp 65000",
                   "neighbor 10.1.1.2", "remote-as 65001"),
}


@pytest.mark.parametrize(("platform", "command", "field", "expected"), COMMANDS)
def test_show_commands_derive_from_the_config_and_parse_with_ntc_templates(
        open_shell: Open, platform: str, command: str, field: str, expected: set[str]) -> None:
    shell = configured(open_shell, platform, *SETUP[platform])
    output = shell.handle(command).output
    assert "% Invalid" not in output
    parsed = parse_output(platform=platform, command=command, data=output)
    assert {str(row[field]) for row in parsed} >= expected, output


def test_show_commands_follow_the_config(open_shell: Open) -> None:
    shell = configured(open_shell, "cisco_ios", "router bgp 65000", "neighbor 10.1.1.2 remote-as 65001")
    assert "% LLDP is not enabled" in shell.handle("show lldp neighbors").output  # off by default on IOS
    assert "10.1.1.2" in shell.handle("show ip bgp summary").output
    run(shell, "configure terminal", "no router bgp 65000", "ip route 10.9.0.0 255.255.0.0 172.16.0.1", "end")
    assert shell.handle("show ip bgp summary").output == "% BGP not active\n\n"
    assert "10.9.0.0" not in shell.handle("show ip route").output  # next hop not on a connected subnet


def test_junos_insert_moves_a_term_where_the_policy_needs_it(open_shell: Open) -> None:
    shell = open_shell("juniper_junos")
    run(shell, "configure", "set policy-options policy-statement EXPORT term B then accept",
        "set policy-options policy-statement EXPORT term A then reject",
        "insert policy-options policy-statement EXPORT term A before term B", "commit and-quit")
    shown = shell.handle("show configuration policy-options").output
    assert shown.index("term A") < shown.index("term B")
    assert "statement not found" in run(shell, "configure", "insert policy-options policy-statement EXPORT term Z "
                                                "before term A")
