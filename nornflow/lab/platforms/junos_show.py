"""What a Junos device prints: ``show version``, the commit history, interfaces, and commit-check errors."""

from __future__ import annotations

import time

from nornflow.lab.platforms import junos_tree as tree
from nornflow.lab.store import ConfigSyntax, DeviceState
from nornflow.lab.tree import Node

#: The lab stores the active configuration as a tree; ``running_config()`` shows it in braces.
SYNTAX = ConfigSyntax(parse=tree.parse, render=tree.render_curly)

BUILD = "20220526.103220_builder_junos_214_r3"
OS_BUILD = "20220509.1c6d7d9_builder_stable_12_214"
PACKAGES = (
    ("JUNOS OS Kernel 64-bit ", OS_BUILD), ("JUNOS OS libs", OS_BUILD), ("JUNOS OS runtime", OS_BUILD),
    ("JUNOS OS time zone information", OS_BUILD), ("JUNOS network stack and utilities", BUILD),
    ("JUNOS libs", BUILD), ("JUNOS OS libs compat32", OS_BUILD), ("JUNOS OS 32-bit compatibility", OS_BUILD),
    ("JUNOS libs compat32", BUILD), ("JUNOS runtime", BUILD),
    ("JUNOS Packet Forwarding Engine Simulation Package", BUILD),
    ("JUNOS Routing Software Suite", BUILD), ("JUNOS Online Documentation", BUILD), ("JUNOS py base", BUILD),
)


def show_version(state: DeviceState, hostname: str) -> str:
    lines = [f"Hostname: {hostname}", "Model: vmx", "Junos: 21.4R3.15",
             *(f"{name} [{build}]" for name, build in PACKAGES)]
    return "\n".join(lines) + "\n"


def show_system_commit(state: DeviceState) -> str:
    with state.lock:
        commits = list(state.commits)
    lines = []
    for i, entry in enumerate(commits):
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.at))
        lines.append(f"{i}   {when} by {entry.user} via cli")
        if entry.comment:
            lines.append(f"    {entry.comment}")
    return "\n".join(lines) + "\n"


def show_interfaces_terse(state: DeviceState) -> str:
    with state.lock:
        root = tree.subtree(state.config, ["interfaces"]) or Node("")
        lines = ["Interface               Admin Link Proto    Local                 Remote"]
        for ifd in root.children:
            admin = "down" if ifd.find("disable") else "up"
            lines.append(f"{ifd.text:<24}{admin:<6}{admin}")
            for unit in (c for c in ifd.children if c.text.startswith("unit ")):
                name = f"{ifd.text}.{unit.text.split()[1]}"
                for family in (c for c in unit.children if c.text.startswith("family ")):
                    proto = family.text.split()[1]
                    addresses = [c.text.split()[1] for c in family.children if c.text.startswith("address ")]
                    local = addresses[0] if addresses else ""
                    lines.append(f"{name:<24}{admin:<6}{admin:<5}{proto:<9}{local}")
    return "\n".join(lines) + "\n"


def validate(candidate: Node) -> str:
    """What ``commit check`` finds wrong: external BGP neighbors without a peer AS (as Junos refuses)."""
    errors = []
    bgp = tree.subtree(candidate, ["protocols", "bgp"])
    for group in (bgp.children if bgp is not None else []):
        if not group.text.startswith("group "):
            continue
        internal = any(c.text == "type internal" for c in group.children)
        if internal or any(c.text.startswith("peer-as ") for c in group.children):
            continue
        for neighbor in (c for c in group.children if c.text.startswith("neighbor ")):
            if not any(c.text.startswith("peer-as ") for c in neighbor.children):
                address = neighbor.text.split()[1]
                errors.append(f"[edit protocols bgp {group.text}]\n  '{neighbor.text}'\n"
                              f"    Error in neighbor {address} of {group.text}:\n"
                              "    peer AS number must be configured for an external peer\n")
    return "".join(errors)
