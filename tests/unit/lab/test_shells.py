"""The IOS, EOS and NX-OS shells line by line: prompts, enable, show commands that ntc-templates
parses, unknown commands answered like the real OS, config mode, and the faults a test sets."""

from __future__ import annotations

import pytest
from ntc_templates.parse import parse_output

from nornflow.lab.platforms.cisco import CiscoShell
from nornflow.lab.store import DeviceStore
from tests.unit.lab.conftest import Open, run

TEXTFSM = {"cisco_ios": "cisco_ios", "arista_eos": "arista_eos", "cisco_nxos": "cisco_nxos",
           "juniper_junos": "juniper_junos"}
VERSION_FIELD = {"cisco_ios": "version", "arista_eos": "image", "cisco_nxos": "os", "juniper_junos": "junos_version"}


def privileged(open_shell: Open, platform: str, **kw: object) -> CiscoShell:
    shell = open_shell(platform, **kw)
    assert isinstance(shell, CiscoShell)
    if not shell.privileged:
        run(shell, "enable", "s3cret")
    assert shell.prompt().endswith("#")
    return shell


@pytest.mark.parametrize(("platform", "login", "privileged_prompt"), [
    ("cisco_ios", "fra-leaf-01>", "fra-leaf-01#"),
    ("arista_eos", "fra-leaf-01>", "fra-leaf-01#"),
    ("cisco_nxos", "fra-leaf-01#", "fra-leaf-01#"),
    ("juniper_junos", "admin@fra-leaf-01> ", "admin@fra-leaf-01> "),
])
def test_login_prompts_and_parsed_show_version(open_shell: Open, platform: str, login: str,
                                               privileged_prompt: str) -> None:
    shell = open_shell(platform)
    assert shell.prompt() == login
    if platform in ("cisco_ios", "arista_eos"):
        run(shell, "enable", "s3cret" if platform == "cisco_ios" else "")
    assert shell.prompt() == privileged_prompt
    output = shell.handle("show version").output
    parsed = parse_output(platform=TEXTFSM[platform], command="show version", data=output)
    assert len(parsed) == 1 and parsed[0][VERSION_FIELD[platform]]
    assert "fra-leaf-01" in output or platform == "arista_eos"


def test_ios_enable_asks_for_the_secret_without_echo_and_refuses_a_wrong_one(open_shell: Open) -> None:
    shell = open_shell("cisco_ios")
    reply = shell.handle("enable")
    assert reply.secret and shell.prompt() == "Password: "
    assert "% Bad secrets" in shell.handle("wrong").output
    assert shell.prompt() == "fra-leaf-01>"
    assert "% Invalid input" in run(shell, "show running-config")  # not at user level
    run(shell, "enable", "s3cret")
    assert shell.prompt() == "fra-leaf-01#"
    assert "Current privilege level is 15" in run(shell, "show privilege")
    run(shell, "disable")
    assert shell.prompt() == "fra-leaf-01>"


@pytest.mark.parametrize(("platform", "command", "expected"), [
    ("cisco_ios", "show frobnicator", " " * 17 + "^\n% Invalid input detected at '^' marker."),  # under the word
    ("cisco_ios", "frob", "% Unknown command or computer name"),
    ("cisco_ios", "show", "% Incomplete command."),
    ("arista_eos", "show frobnicator", "% Invalid input (at token 1: 'frobnicator')"),
    ("cisco_nxos", "show frobnicator", " " * 17 + "^\n% Invalid command at '^' marker."),
])
def test_unknown_commands_answered_like_the_real_os(open_shell: Open, platform: str, command: str,
                                                    expected: str) -> None:
    shell = privileged(open_shell, platform)
    assert expected in shell.handle(command).output


def test_abbreviations_and_output_filters(open_shell: Open) -> None:
    shell = privileged(open_shell, "cisco_ios")
    assert shell.handle("sh run | i hostname").output == "hostname fra-leaf-01\n"
    section = shell.handle("show running-config | section Ethernet0/0").output
    assert section == "interface Ethernet0/0\n description management\n ip address 192.168.0.1 255.255.255.0\n"
    assert "interface Loopback0\n ip address" in shell.handle("show running-config interface Loopback0").output
    rows = parse_output(platform="cisco_ios", command="show ip interface brief",
                        data=shell.handle("show ip int br").output)
    assert {r["interface"]: r["status"] for r in rows}["Ethernet0/1"] == "administratively down"
    assert parse_output(platform="cisco_ios", command="show clock", data=shell.handle("show clock").output)


@pytest.mark.parametrize("platform", ["cisco_ios", "arista_eos", "cisco_nxos"])
def test_config_mode_sub_modes_and_edits_seen_by_the_next_session(open_shell: Open, platform: str) -> None:
    shell = privileged(open_shell, platform)
    interface = {"cisco_ios": "Ethernet0/1", "arista_eos": "Ethernet2", "cisco_nxos": "Ethernet1/2"}[platform]
    run(shell, "configure terminal")
    assert shell.prompt() == "fra-leaf-01(config)#"
    run(shell, f"interface {interface}")
    assert shell.prompt() == "fra-leaf-01(config-if)#"
    run(shell, "description uplink", "no shutdown", "exit")
    assert shell.prompt() == "fra-leaf-01(config)#"
    assert "description uplink" in shell.handle("do show running-config").output
    run(shell, "hostname core-1")
    assert shell.prompt() == "core-1(config)#"  # the prompt follows the configured hostname
    run(shell, "end")
    assert shell.prompt() == "core-1#"
    again = privileged(open_shell, platform)
    text = again.handle("show running-config").output
    assert f"interface {interface}\n" in text and "description uplink" in text and "hostname core-1" in text


def test_nxos_running_config_looks_like_nxos(open_shell: Open) -> None:
    shell = privileged(open_shell, "cisco_nxos")
    text = shell.handle("show running-config").output
    assert text.startswith("\n!Command: show running-config\n!Running configuration last done at: ")
    assert "\nversion 9.3(10)" in text and "\nfeature lldp\n" in text
    assert "\ninterface Ethernet1/1\n  description management\n  no switchport\n" in text
    assert "\nend" not in text and "\n!\n" not in text
    assert "Enter configuration commands" in shell.handle("configure terminal").output
    run(shell, "router bgp 65001")
    assert shell.prompt() == "fra-leaf-01(config-router)#"
    run(shell, "vrf context blue")
    assert shell.prompt() == "fra-leaf-01(config-vrf)#"
    assert "Time source is NTP" in shell.handle("show clock").output  # show works in config mode on NX-OS


def test_ios_refuses_show_in_config_mode_and_eos_answers_it(open_shell: Open) -> None:
    ios = privileged(open_shell, "cisco_ios")
    run(ios, "configure terminal")
    assert "% Invalid input detected" in ios.handle("show version").output
    eos = privileged(open_shell, "arista_eos", name="ams-leaf-01")
    run(eos, "configure")
    assert "Arista vEOS-lab" in eos.handle("show version").output
    assert eos.prompt() == "ams-leaf-01(config)#"


def test_faults_reject_drop_and_hold(open_shell: Open, store: DeviceStore) -> None:
    shell = privileged(open_shell, "cisco_ios")
    state = store.get("fra-leaf-01")
    state.rejects.add("ntp server 9.9.9.9")
    state.delays["ntp server 8.8.8.8"] = 5.0
    state.drop_after = 2
    run(shell, "configure terminal")
    assert "% Invalid input detected" in shell.handle("ntp  server 9.9.9.9").output
    held = shell.handle("ntp server 8.8.8.8")
    assert held.hold == 5.0 and "ntp server 8.8.8.8" in state.text()  # applied, then the answer waits
    assert shell.handle("ntp server 7.7.7.7").drop
    assert "ntp server 7.7.7.7" not in state.text()
    assert state.received == ["ntp server 9.9.9.9", "ntp server 8.8.8.8", "ntp server 7.7.7.7"]
    assert "ntp server 9.9.9.9" not in state.text()


def test_extra_commands_answer_in_any_mode(open_shell: Open) -> None:
    shell = open_shell("arista_eos", **{"show tech-support secrets": {"output": "enable secret x", "help": "echo"}})
    assert shell.handle("show tech-support secrets").output == "enable secret x\n"


def test_exit_at_exec_closes_the_session(open_shell: Open) -> None:
    for platform in ("cisco_ios", "cisco_nxos", "juniper_junos"):
        assert open_shell(platform, name=f"x-{platform}").handle("exit").close
