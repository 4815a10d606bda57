"""show_commands per platform: which ntc-template parses what, and what stays text (captured outputs)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nornflow.tasks.show import commands_for, parse_output, show_commands, template_for
from tests.unit.config.fakes import fake_task, fixture

#: scrapli's TextFSM platform per Nornir platform (IOS-XE's matches the cisco_ios templates).
TEXTFSM = {"cisco_iosxe": "cisco_iosxe", "arista_eos": "arista_eos", "cisco_nxos": "cisco_nxos",
           "juniper_junos": "juniper_junos"}


@pytest.mark.parametrize(("platform", "field", "value"), [
    ("cisco_iosxe", "version", "15.8(3)M2"),
    ("arista_eos", "image", "4.29.2F"),
    ("cisco_nxos", "os", "9.3(10)"),
    ("juniper_junos", "junos_version", "21.4R3.15"),
])
def test_show_version_parses_on_every_platform(platform, field, value):
    rows = parse_output(TEXTFSM[platform], "show version", fixture(f"{platform}_show_version.txt"))
    assert rows is not None and rows[0][field] == value


@pytest.mark.parametrize(("platform", "template"), [
    ("cisco_iosxe", "cisco_ios_show_ip_interface_brief.textfsm"),
    ("arista_eos", "arista_eos_show_ip_interface_brief.textfsm"),
    ("cisco_nxos", "cisco_nxos_show_ip_interface_brief.textfsm"),
    ("juniper_junos", None),
])
def test_ip_interface_brief_has_a_template_except_on_junos(platform, template):
    assert template_for(TEXTFSM[platform], "show ip interface brief") == template


def test_nxos_ip_interface_brief_parses():
    rows = parse_output("cisco_nxos", "show ip interface brief", fixture("cisco_nxos_show_ip_interface_brief.txt"))
    assert rows is not None and {r["interface"] for r in rows} == {"Eth1/1", "Lo0"}


def test_output_without_a_template_or_a_match_stays_text():
    assert parse_output("juniper_junos", "show system uptime", "Current time: 2025-03-04") is None
    terse = fixture("juniper_junos_show_interfaces_terse.txt")
    assert parse_output("juniper_junos", "show interfaces terse", terse) is None  # no terse template


def test_a_platform_can_have_its_own_commands():
    own = {"juniper_junos": ["show version", "show interfaces terse"]}
    assert commands_for("juniper_junos", ["show version", "show ip interface brief"], own) == own["juniper_junos"]
    assert commands_for("cisco_nxos", ["show version"], own) == ["show version"]
    assert commands_for("cisco_nxos", ["show version"], None) == ["show version"]


class _Session:
    def __init__(self, textfsm_platform: str, outputs: dict[str, str]) -> None:
        self.textfsm_platform, self.outputs, self.sent = textfsm_platform, outputs, []

    def send_commands(self, commands: list[str]) -> list[SimpleNamespace]:
        self.sent.extend(commands)
        return [SimpleNamespace(channel_input=c, result=self.outputs[c], failed=False,
                                textfsm_platform=self.textfsm_platform) for c in commands]


def test_the_task_parses_where_it_can_and_keeps_every_output():
    outputs = {"show version": fixture("juniper_junos_show_version.txt"),
               "show interfaces terse": fixture("juniper_junos_show_interfaces_terse.txt")}
    session = _Session("juniper_junos", outputs)
    result = show_commands(fake_task("nyc-spine-01", "juniper_junos", session), ["show version", "show ip int brief"],
                           parse=True, platform_commands={"juniper_junos": list(outputs)})
    assert session.sent == list(outputs)
    data = result.result
    assert data["show version"]["parsed"][0]["hostname"] == "nyc-spine-01"
    assert data["show interfaces terse"] == {"output": outputs["show interfaces terse"], "parsed": None}
