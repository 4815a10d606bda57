"""The platforms a lab can simulate, as data: one entry per platform key a :class:`~nornflow.lab.Lab` takes.

Each entry names the Nornir/scrapli platform a client uses, the inventory group its devices
join, the shell that answers a session, and the syntax its configuration is written in. A
new platform is a new module in :mod:`nornflow.lab.platforms` and an entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from nornflow.lab.platforms import eos, ios, junos, nxos
from nornflow.lab.shell import Shell, Terminal
from nornflow.lab.store import ConfigSyntax


@dataclass(frozen=True)
class LabPlatform:
    nornir: str  # the Nornir (scrapli) platform of the inventory group
    group: str  # the inventory group its devices join
    short: str
    shell: type[Shell]
    syntax: ConfigSyntax
    commits: bool = False  # a candidate configuration and a commit history (Junos)

    def open(self, terminal: Terminal) -> Shell:
        return self.shell(terminal)


PLATFORMS: dict[str, LabPlatform] = {
    "cisco_ios": LabPlatform("cisco_iosxe", "ios", "ios", ios.IosShell, ios.SYNTAX),
    "arista_eos": LabPlatform("arista_eos", "eos", "eos", eos.EosShell, eos.SYNTAX),
    "juniper_junos": LabPlatform("juniper_junos", "junos", "junos", junos.JunosShell, junos.SYNTAX, commits=True),
    "cisco_nxos": LabPlatform("cisco_nxos", "nxos", "nxos", nxos.NxosShell, nxos.SYNTAX),
}
