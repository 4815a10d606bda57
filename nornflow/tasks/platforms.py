"""What differs between device platforms, as data: how to read the config, what churns, how a change lands.

One :class:`DevicePlatform` per Nornir (scrapli) platform name. The generic code reads the
running config with ``running_config``, drops the ``volatile`` lines, diffs with the
``hier_config`` driver, and pushes either line by line (IOS-like: the change is live as each
line is typed) or, when ``commit`` is set, into a candidate that a commit makes live (Junos).
A new platform is a new entry (:func:`register_platform`), not an ``if`` in the tasks.

Why Junos reads ``show configuration | display set``: the backup, the plan, the verification
and the rollback all diff that same text, and flat ``set`` lines are exactly what hier-config's
Junos driver compares and what a remediation sends (``set``/``delete``). Its converter for the
curly form assumes four-space indentation and turns comments and ``version`` into odd ``set``
lines; a ``set`` backup also diffs one line per change in git, each line with its full path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CommitStyle:
    """A candidate configuration that ``commit`` makes live (Junos): how to check, commit and abandon it."""

    #: Sent in order after the lines; each must answer with its ``confirms`` text (when given).
    commands: tuple[str, ...] = ("commit check", "commit")
    #: Text the answer of a command must contain, or the commit counts as failed.
    confirms: dict[str, str] = field(default_factory=lambda: {
        "commit check": "configuration check succeeds", "commit": "commit complete"})
    #: Answers that fail a line or a commit, on top of scrapli's own failure strings.
    failed_when: tuple[str, ...] = ("error:",)
    #: Abandon the candidate: the lines that throw away what was not committed.
    discard: tuple[str, ...] = ("rollback 0",)


@dataclass(frozen=True)
class DevicePlatform:
    """How NornFlow reads and changes one kind of device."""

    name: str
    #: The exec-mode command whose output is the backup and what every diff compares.
    running_config: str = "show running-config"
    #: Lines (regular expressions, matched at the line start) that differ between two reads
    #: of an unchanged config: clocks, byte counts, commit stamps.
    volatile: tuple[str, ...] = ()
    #: Lines the device shows but no template owns (Junos's ``set version``, written by the
    #: software): kept in the backup, left out of every diff, so a plan never deletes them.
    unmanaged: tuple[str, ...] = ()
    #: hier-config's ``Platform`` member that diffs and remediates this platform's config.
    hier_config: str | None = None
    #: ``None``: config lines are live as typed. Otherwise they edit a candidate that this commits.
    commit: CommitStyle | None = None

    def clean(self, text: str) -> str:
        """``text`` with CRLF, trailing spaces and the volatile lines removed, one newline at the end."""
        return _without(text, self.volatile)

    def managed(self, text: str) -> str:
        """``text`` without the lines no template owns (what a diff compares)."""
        return _without(text, self.unmanaged) if self.unmanaged else text


def _without(text: str, patterns: tuple[str, ...]) -> str:
    drop = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").splitlines() if not (drop and drop.match(ln))]
    return "\n".join(lines).strip("\n") + "\n"


IOS_VOLATILE = (r"! Time:", r"! Last configuration change", r"! NVRAM config last updated",
                r"Current configuration :", r"Building configuration", r"ntp clock-period")
NXOS_VOLATILE = (r"!Command:", r"!Time:", r"!Running configuration last done at:", r"!No configuration change since")
EOS_VOLATILE = (*IOS_VOLATILE, r"! Startup-config last modified")
JUNOS_VOLATILE = (r"## Last commit:", r"## Last changed:", r"#", r"\{master", r"\{backup", r"\{primary",
                  r"\{linecard", r"\[edit\]")

_PLATFORMS: dict[str, DevicePlatform] = {}


def register_platform(platform: DevicePlatform, *aliases: str) -> DevicePlatform:
    """Make ``platform`` (and its alias names) known; a later registration of a name replaces it."""
    for name in (platform.name, *aliases):
        _PLATFORMS[name] = platform
    return platform


def device_platform(name: str | None) -> DevicePlatform:
    """The profile of Nornir platform ``name``; an unknown one reads ``show running-config`` and has no
    remediation driver (the config flows then name the platform as unsupported)."""
    return _PLATFORMS.get(str(name)) or DevicePlatform(name=str(name), volatile=IOS_VOLATILE)


def known_platforms() -> list[str]:
    return sorted(_PLATFORMS)


register_platform(DevicePlatform("cisco_iosxe", volatile=IOS_VOLATILE, hier_config="CISCO_IOS"), "cisco_ios")
register_platform(DevicePlatform("arista_eos", volatile=EOS_VOLATILE, hier_config="ARISTA_EOS"))
register_platform(DevicePlatform("cisco_nxos", volatile=NXOS_VOLATILE, hier_config="CISCO_NXOS"))
register_platform(DevicePlatform("cisco_iosxr", volatile=IOS_VOLATILE, hier_config="CISCO_XR"))
register_platform(DevicePlatform(
    "juniper_junos", running_config="show configuration | display set", volatile=JUNOS_VOLATILE,
    unmanaged=(r"set version ",), hier_config="JUNIPER_JUNOS", commit=CommitStyle(),
))
