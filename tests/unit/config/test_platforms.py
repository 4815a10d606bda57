"""Per platform (IOS-XE, EOS, NX-OS, Junos): which command reads the config, what churns, what a plan sends.

The running configs are outputs captured from a 4-device lab (fixtures/); the intended ones
are the example templates (examples/templates/<platform>/) rendered for the same hosts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nornir.core.inventory import Host

from nornflow.config.exceptions import UnsupportedPlatform
from nornflow.config.remediation import hier_platform, remediation, unified_diff
from nornflow.config.render import Renderer
from nornflow.tasks.backup import clean_config, get_running_config, running_config_command
from nornflow.tasks.platforms import DevicePlatform, device_platform, register_platform
from tests.unit.config.fakes import FakeJunos, fake_task, fixture

TEMPLATES = Path(__file__).resolve().parents[3] / "examples" / "templates"

#: platform -> (host, site, role, index, captured running config)
HOSTS = {
    "cisco_iosxe": ("fra-spine-01", "fra", "spine", 1, "cisco_iosxe_show_running_config.txt"),
    "arista_eos": ("ams-spine-01", "ams", "spine", 2, "arista_eos_show_running_config.txt"),
    "juniper_junos": ("nyc-spine-01", "nyc", "spine", 3, "juniper_junos_show_configuration_display_set.txt"),
    "cisco_nxos": ("fra-spine-02", "fra", "spine", 4, "cisco_nxos_show_running_config.txt"),
}

EXPECTED = {
    "cisco_iosxe": ["ntp server 10.1.0.1", "snmp-server location Frankfurt DC1",
                    "interface Ethernet0/1", "  description spine to core 1",
                    "interface Ethernet0/2", "  description spine to core 2"],
    "arista_eos": ["ntp server 10.2.0.1", "snmp-server location Amsterdam DC2",
                   "interface Ethernet2", "  description spine uplink 1",
                   "interface Ethernet3", "  description spine uplink 2"],
    "juniper_junos": ['delete snmp location "nyc lab"', "set system ntp server 10.3.0.1",
                      'set interfaces ge-0/0/1 description "spine uplink 1"',
                      'set interfaces ge-0/0/2 description "spine uplink 2"', 'set snmp location "New York DC3"'],
    "cisco_nxos": ["ntp server 10.1.0.1 use-vrf management", "snmp-server location Frankfurt DC1",
                   "interface Ethernet1/2", "  description spine uplink 1",
                   "interface Ethernet1/3", "  description spine uplink 2"],
}


def _host(platform: str) -> Host:
    name, site, role, index, _ = HOSTS[platform]
    return Host(name=name, platform=platform, data={
        "site": site, "role": role, "mgmt_ip": f"192.168.0.{index}", "loopback_ip": f"10.255.0.{index}"})


def _running(platform: str) -> str:
    return clean_config(fixture(HOSTS[platform][4]), platform)


@pytest.mark.parametrize(("platform", "command"), [
    ("cisco_iosxe", "show running-config"), ("cisco_ios", "show running-config"),
    ("arista_eos", "show running-config"), ("cisco_nxos", "show running-config"),
    ("juniper_junos", "show configuration | display set"), (None, "show running-config"),
])
def test_backup_command_per_platform(platform, command):
    assert running_config_command(platform) == command


def test_volatile_lines_are_dropped_per_platform():
    nxos = _running("cisco_nxos")
    assert "!Time:" not in nxos and "!Running configuration last done" not in nxos and "!Command" not in nxos
    assert nxos.startswith("version 9.3(10)") and nxos.endswith("line console\nline vty\n")
    ios = _running("cisco_iosxe")
    assert "Current configuration" not in ios and "Building configuration" not in ios
    junos = clean_config("## Last commit: 2025-03-04 09:12:44 UTC by admin\r\nset system host-name r1   \r\n"
                         "\r\n{master:0}\r\n", "juniper_junos")
    assert junos == "set system host-name r1\n"


def test_get_running_config_sends_the_platform_command():
    device = FakeJunos(active=["set version 21.4R3.15", "set system host-name nyc-spine-01"])
    result = get_running_config(fake_task("nyc-spine-01", "juniper_junos", device))
    assert device.sent == ["show configuration | display set"]
    assert result.result == "set version 21.4R3.15\nset system host-name nyc-spine-01\n"


@pytest.mark.parametrize("platform", sorted(HOSTS))
def test_first_plan_from_the_example_templates(platform):
    intended = Renderer(TEMPLATES).render(_host(platform))
    running = _running(platform)
    assert remediation(running, intended, platform) == EXPECTED[platform]
    assert remediation(intended, intended, platform) == []  # after the push: nothing left
    diff = unified_diff(running, intended, platform, HOSTS[platform][0])
    assert f"+{EXPECTED[platform][1].strip()}\n" in diff


def test_junos_template_is_set_lines_and_version_is_never_deleted():
    intended = Renderer(TEMPLATES).render(_host("juniper_junos"))
    assert all(line.startswith("set ") for line in intended.splitlines())
    running = _running("juniper_junos")
    assert running.startswith("set version 21.4R3.15\n")  # "## Last commit" gone, version kept in the backup...
    assert not any("version" in line for line in remediation(running, intended, "juniper_junos"))  # ...not diffed


def test_junos_remediation_deletes_what_the_intended_config_lacks():
    running = _running("juniper_junos") + 'set system ntp server 10.9.9.9\nset interfaces ge-0/0/1 description "old"\n'
    intended = Renderer(TEMPLATES).render(_host("juniper_junos"))
    lines = remediation(running, intended, "juniper_junos")
    assert set(lines[:3]) == {"delete system ntp server 10.9.9.9", 'delete interfaces ge-0/0/1 description "old"',
                              'delete snmp location "nyc lab"'}  # deletions first
    assert "set system ntp server 10.3.0.1" in lines
    assert all(line.startswith(("set ", "delete ")) for line in lines)


def test_junos_sections_match_with_or_without_set():
    running, intended = _running("juniper_junos"), Renderer(TEMPLATES).render(_host("juniper_junos"))
    expected = ["set system ntp server 10.3.0.1"]
    assert remediation(running, intended, "juniper_junos", ["system ntp"]) == expected
    assert remediation(running, intended, "juniper_junos", ["set system ntp"]) == expected
    assert remediation(running, intended, "juniper_junos", ["snmp"]) == [
        'delete snmp location "nyc lab"', 'set snmp location "New York DC3"']


def test_nxos_replaces_a_description_with_no_then_the_new_line():
    running = _running("cisco_nxos").replace("interface Ethernet1/2\n", "interface Ethernet1/2\n  description old\n")
    intended = Renderer(TEMPLATES).render(_host("cisco_nxos"))
    lines = remediation(running, intended, "cisco_nxos", ["interface Ethernet1/2"])
    assert lines == ["interface Ethernet1/2", "  no description old", "  description spine uplink 1"]


def test_a_platform_is_data(monkeypatch):
    from nornflow.tasks import platforms

    monkeypatch.setattr(platforms, "_PLATFORMS", dict(platforms._PLATFORMS))
    with pytest.raises(UnsupportedPlatform, match=r"'vyos'.*juniper_junos"):
        hier_platform("vyos")
    register_platform(DevicePlatform("vyos", running_config="show configuration commands", hier_config="VYOS"))
    assert device_platform("vyos").running_config == "show configuration commands"
    assert remediation("set system host-name a\n", "set system host-name b\n", "vyos") == [
        "delete system host-name a", "set system host-name b"]
