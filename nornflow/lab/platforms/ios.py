"""Cisco IOS (scrapli's ``cisco_iosxe`` driver): login at ``>``, ``enable`` asks for the secret."""

from __future__ import annotations

from nornflow.lab.grammar import IOS
from nornflow.lab.platforms import ios_show
from nornflow.lab.platforms.cisco import CiscoShell, interfaces
from nornflow.lab.platforms.replace import ReplacingShell
from nornflow.lab.running import parse, render
from nornflow.lab.shell import serial, uptime
from nornflow.lab.store import ConfigSyntax

SYNTAX = ConfigSyntax(parse=lambda text: parse(text, IOS), render=lambda root: render(root, 1, IOS))

VERSION = """\
Cisco IOS Software, IOSv Software (VIOS-ADVENTERPRISEK9-M), Version 15.8(3)M2, RELEASE SOFTWARE (fc2)
Technical Support: http://www.cisco.com/techsupport
Copyright (c) 1986-2019 by Cisco Systems, Inc.
Compiled Thu 28-Mar-19 14:06 by prod_rel_team


ROM: Bootstrap program is IOSv

{hostname} uptime is {uptime}
System returned to ROM by reload
System image file is "flash0:/vios-adventerprisek9-m"
Last reload reason: Unknown reason



This product contains cryptographic features and is subject to United
States and local country laws governing import, export, transfer and
use. Delivery of Cisco cryptographic products does not imply
third-party authority to import, export, distribute or use encryption.

Cisco IOSv (revision 1.0) with  with 460137K/62464K bytes of memory.
Processor board ID {serial}
4 Gigabit Ethernet interfaces
DRAM configuration is 72 bits wide with parity disabled.
256K bytes of non-volatile configuration memory.
2097152K bytes of ATA System CompactFlash 0 (Read/Write)

Configuration register is 0x0
"""


def ios_uptime(seconds: int) -> str:
    """``1 week, 3 days, 16 hours, 11 minutes`` (units that are zero left out, as IOS does)."""
    parts = []
    for unit, size in (("year", 365 * 86400), ("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return ", ".join(parts) or "0 minutes"


def _lldp(shell: CiscoShell, _: list[str]) -> str:
    if shell.state.config.find("lldp run") is None:  # off by default on IOS
        return "% LLDP is not enabled\n"
    return ios_show.show_lldp_neighbors(shell.state.config)


def _cdp(shell: CiscoShell, _: list[str]) -> str:
    if shell.state.config.find("no cdp run") is not None:
        return "% CDP is not enabled\n"
    return ios_show.show_cdp_neighbors(shell.state.config)


def _logging(shell: CiscoShell, _: list[str]) -> str:
    boot = (shell.state.booted, "%SYS-5-RESTART: System restarted --")
    return ios_show.show_logging([boot, *shell.state.log])


OPERATIONAL = {
    "interfaces": lambda shell, _: ios_show.show_interfaces(shell.state.config, shell.state.index),
    "inventory": lambda shell, _: ios_show.show_inventory(shell.hostname(), serial(shell.state, "9LAB")),
    "cdp_neighbors": _cdp,
    "lldp_neighbors": _lldp,
    "ip_route": lambda shell, _: ios_show.show_ip_route(shell.state.config),
    "ip_bgp_summary": lambda shell, _: ios_show.show_ip_bgp_summary(shell.state.config),
    "logging": _logging,
    "access_lists": lambda shell, args: ios_show.show_access_lists(shell.state.config, *args[:1]),
}


class IosShell(ReplacingShell):
    default_hostname = "Router"
    operational = OPERATIONAL
    config_banner = "Enter configuration commands, one per line.  End with CNTL/Z."

    def copied(self, size: int) -> str:
        return f"{size} bytes copied in 0.052 secs ({size * 19} bytes/sec)\n"

    def show_version(self) -> str:
        return VERSION.format(hostname=self.hostname(), uptime=ios_uptime(uptime(self.state)),
                              serial=serial(self.state, "9LAB"))

    def running_header(self, body: str) -> str:
        return f"Building configuration...\n\nCurrent configuration : {len(body)} bytes\n!\n{body}"

    def invalid(self, text: str, word: int) -> str:
        words = text.split()
        if word >= len(words) and words:
            return "% Incomplete command.\n\n"
        if len(words) == 1 and word == 0 and self.session is None:
            return "% Unknown command or computer name, or unable to find computer address\n"
        return " " * self.position(text, word) + "^\n% Invalid input detected at '^' marker.\n\n"

    def show_ip_interface_brief(self) -> str:
        with self.state.lock:
            found = interfaces(self.state.config)
        lines = ["Interface                  IP-Address      OK? Method Status                Protocol"]
        for name, address, up in found:
            ip = address.split()[0] if address else "unassigned"
            status, proto = ("up", "up") if up else ("administratively down", "down")
            lines.append(f"{name:<27}{ip:<16}YES {'NVRAM' if address else 'unset':<7}{status:<22}{proto}")
        return "\n".join(lines) + "\n"
