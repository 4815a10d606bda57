"""Cisco NX-OS: login straight at ``#``, two-space indentation, sections set apart by blank lines."""

from __future__ import annotations

import time

from nornflow.lab.grammar import NXOS
from nornflow.lab.platforms import switch_show as show
from nornflow.lab.platforms.cisco import CiscoShell, interfaces
from nornflow.lab.platforms.replace import CheckpointShell
from nornflow.lab.running import parse
from nornflow.lab.shell import serial, uptime
from nornflow.lab.store import ConfigSyntax
from nornflow.lab.tree import Node


def render(root: Node) -> str:
    """``show running-config`` body as NX-OS prints it: no ``!`` and no ``end``, a blank line before sections."""
    lines: list[str] = []

    def walk(node: Node, depth: int) -> None:
        for child in node.children:
            lines.append("  " * depth + child.text)
            walk(child, depth + 1)

    for child in root.children:
        if child.children or child.text.startswith("interface "):
            lines.append("")
        lines.append(child.text)
        walk(child, 1)
    return "".join(f"{line}\n" for line in lines)


SYNTAX = ConfigSyntax(parse=lambda text: parse(text, NXOS), render=render)

VERSION = """\
Cisco Nexus Operating System (NX-OS) Software
TAC support: http://www.cisco.com/tac
Documents: http://www.cisco.com/en/US/products/ps9372/tsd_products_support_series_home.html
Copyright (c) 2002-2022, Cisco Systems, Inc. All rights reserved.
The copyrights to certain works contained herein are owned by
other third parties and are used and distributed under license.
Some parts of this software are covered under the GNU Public
License. A copy of the license is available at
http://www.gnu.org/licenses/gpl.html.

Nexus 9000v is a demo version of the Nexus Operating System

Software
  BIOS: version 07.69
  NXOS: version 9.3(10)
  BIOS compile time:  04/08/2021
  NXOS image file is: bootflash:///nxos.9.3.10.bin
  NXOS compile time:  3/30/2022 3:00:00 [03/30/2022 14:30:08]


Hardware
  cisco Nexus9000 C9300v Chassis
  Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz with 8161872 kB of memory.
  Processor Board ID {serial}

  Device name: {hostname}
  bootflash:    4287040 kB
Kernel uptime is {uptime}

Last reset
  Reason: Unknown
  System version:
  Service:

plugin
  Core Plugin, Ethernet Plugin

Active Package(s):

"""


def nxos_uptime(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days} day(s), {hours} hour(s), {minutes} minute(s), {secs} second(s)"


def stamp(when: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(when))


def _lldp(shell: CiscoShell, _: list[str]) -> str:
    if shell.state.config.find("feature lldp") is None:
        return "% LLDP is not enabled\n"
    return show.nxos_neighbors(shell.state.config, "lldp")


OPERATIONAL = {
    "interfaces": lambda shell, _: show.nxos_interfaces(shell.state.config, shell.state.index),
    "cdp_neighbors": lambda shell, _: show.nxos_neighbors(shell.state.config, "cdp"),
    "lldp_neighbors": _lldp,
    "ip_route": lambda shell, _: show.nxos_ip_route(shell.state.config),
    "ip_bgp_summary": lambda shell, _: show.nxos_ip_bgp_summary(shell.state.config),
    "inventory": lambda shell, _: show.nxos_inventory(serial(shell.state, "9N3K")),
    "access_lists": lambda shell, args: show.access_lists(shell.state.config, "".join(args[:1]), "IP access list", 8,
                                                          gap=False),
}


class NxosShell(CheckpointShell):
    default_hostname = "switch"
    grammar = NXOS
    operational = OPERATIONAL
    starts_privileged = True
    enable_secret = False
    show_in_config = True
    config_banner = "Enter configuration commands, one per line. End with CNTL/Z."

    def show_version(self) -> str:
        return VERSION.format(serial=serial(self.state, "9N3K"), hostname=self.hostname(),
                              uptime=nxos_uptime(uptime(self.state)))

    def running_header(self, body: str) -> str:
        return (f"\n!Command: show running-config\n!Running configuration last done at: {stamp(self.state.changed_at)}"
                f"\n!Time: {stamp(time.time())}\n\n{body}")

    def invalid(self, text: str, word: int) -> str:
        words = text.split()
        marker = " " * self.position(text, word) + "^\n"
        if word >= len(words) and words:
            return f"{marker}% Incomplete command at '^' marker.\n"
        return f"{marker}% Invalid command at '^' marker.\n"

    def show_clock(self) -> str:
        return time.strftime("%H:%M:%S.000 UTC %a %b %d %Y\nTime source is NTP\n", time.gmtime())

    def show_ip_interface_brief(self) -> str:
        with self.state.lock:
            found = [(n, a, up) for n, a, up in interfaces(self.state.config) if not n.startswith("mgmt")]
        lines = ['IP Interface Status for VRF "default"(1)', "Interface            IP Address      Interface Status"]
        for name, address, up in found:
            if not address:
                continue
            short = name.replace("Ethernet", "Eth").replace("loopback", "Lo")
            state = "protocol-up/link-up/admin-up" if up else "protocol-down/link-down/admin-down"
            lines.append(f"{short:<21}{address.split('/')[0]:<16}{state}")
        return "\n".join(lines) + "\n"
