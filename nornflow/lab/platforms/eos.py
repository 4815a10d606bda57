"""Arista EOS: login at ``>``, ``enable`` without a secret, three-space indentation, ``show`` in config mode."""

from __future__ import annotations

import time

from nornflow.lab.grammar import EOS
from nornflow.lab.platforms import switch_show as show
from nornflow.lab.platforms.cisco import interfaces
from nornflow.lab.platforms.replace import SessionShell
from nornflow.lab.running import parse, render
from nornflow.lab.shell import Reply, mac, serial, uptime
from nornflow.lab.store import ConfigSyntax

SYNTAX = ConfigSyntax(parse=lambda text: parse(text, EOS), render=lambda root: render(root, 3, EOS))

VERSION = """\
Arista vEOS-lab
Hardware version:
Serial number: {serial}
Hardware MAC address: {mac}
System MAC address: {mac}

Software image version: 4.29.2F
Architecture: x86_64
Internal build version: 4.29.2F-30640700.4292F
Internal build ID: 2ad1e3a5-2ef1-4fe7-9f6f-4b1b1a8d7c1e
Image format version: 1.0
Image optimization: None

Kernel version: 5.10.165-2232672.4292FEosKernel

Uptime: {uptime}
Total memory: 2006876 kB
Free memory: 1196208 kB

"""


def eos_uptime(seconds: int) -> str:
    """``3 days, 4 hours and 12 minutes``, as EOS words it."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in ((days, "day"), (hours, "hour")) if n]
    last = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{', '.join(parts)} and {last}" if parts else last


OPERATIONAL = {
    "interfaces": lambda shell, _: show.eos_interfaces(shell.state.config, shell.state.index),
    "inventory": lambda shell, _: show.eos_inventory(serial(shell.state, "SSJ"),
                                                     len(interfaces(shell.state.config))),
    "lldp_neighbors": lambda shell, _: show.eos_lldp_neighbors(shell.state.config),
    "ip_route": lambda shell, _: show.eos_ip_route(shell.state.config),
    "ip_bgp_summary": lambda shell, _: show.eos_ip_bgp_summary(shell.state.config),
    "access_lists": lambda shell, args: show.access_lists(shell.state.config, "".join(args[:1]), "IP Access List", 8),
}


class EosShell(SessionShell):
    default_hostname = "localhost"
    grammar = EOS
    operational = OPERATIONAL
    enable_secret = False
    show_in_config = True

    def show_version(self) -> str:
        return VERSION.format(serial=serial(self.state, "SSJ"), mac=mac(self.state),
                              uptime=eos_uptime(uptime(self.state)))

    def running_header(self, body: str) -> str:
        return f"! Command: show running-config\n! device: {self.hostname()} (vEOS-lab, EOS-4.29.2F)\n!\n{body}"

    def invalid(self, text: str, word: int) -> str:
        words = text.split()
        if word >= len(words) and words:
            return "% Incomplete command\n"
        return f"% Invalid input (at token {word}: '{words[word] if word < len(words) else ''}')\n"

    def do_terminal_length(self, args: list[str]) -> Reply:
        return Reply("Pagination disabled.\n" if args == ["0"] else f"Pagination set to {args[0]} lines.\n")

    def do_terminal_width(self, args: list[str]) -> Reply:
        return Reply(f"Width set to {args[0]} columns.\n")

    def show_clock(self) -> str:
        return time.strftime("%a %b %d %H:%M:%S %Y\nTimezone: UTC\nClock source: local\n", time.gmtime())

    def show_ip_interface_brief(self) -> str:
        with self.state.lock:
            found = interfaces(self.state.config)
        lines = ["                                                                        Address",
                 "Interface         IP Address            Status       Protocol           MTU    Owner",
                 "----------------- --------------------- ------------ -------------- ---------- -------"]
        for name, address, up in found:
            mtu = 65535 if name.startswith("Loopback") else 1500
            status, proto = ("up", "up") if up else ("adminDown", "down")
            lines.append(f"{name:<18}{address or 'unassigned':<22}{status:<13}{proto:<15}{mtu:>10}")
        return "\n".join(lines) + "\n"
