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

Where order is the meaning (first match wins: ACL entries, community lists, Junos policy and
filter terms, import/export policy chains), ``ordered`` and ``ordered_flat`` say so, and the
verification of a change counts that order (:mod:`nornflow.config.exact`); elsewhere the device
prints its own fixed order, whatever order the lines were typed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nornflow.exceptions import NornFlowError


class UnknownPlatform(NornFlowError, ValueError):
    """A host names a platform no :class:`DevicePlatform` is registered for (a typo, or another tool's name)."""


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
class Snapshots:
    """The device's own exact rollback: save the running config on the device, later make it the running one again.

    ``{name}`` in a command is the snapshot's name (``nornflow-<UTC time>-<config fingerprint>``, see
    :mod:`nornflow.config.snapshot`). A replace restores every line, its order and its duplicates in one
    step, where line remediation can only type what a diff of two texts says (and a diff cannot always
    say where a re-created line goes).
    """

    #: Exec command that saves the running config under ``{name}``.
    take: str
    #: Text the answer of ``take`` contains when the snapshot was written.
    taken: str
    #: Exec command (or candidate line, ``in_candidate``) that makes snapshot ``{name}`` the running config.
    restore: str
    #: Text the answer of ``restore`` contains on success ("": success is an answer without ``refused``).
    restored: str
    #: Exec command whose answer names the snapshots on the device.
    listing: str
    #: Exec command that deletes snapshot ``{name}``.
    delete: str
    #: A question ``take`` may ask (IOS: ``Destination filename [x]?`` unless ``file prompt quiet``): Enter.
    take_asks: str = ""
    #: Texts in an answer that mean the command failed (asked only where no success text is given).
    refused: tuple[str, ...] = ("% ", "%Error", "error:")
    #: ``restore`` is a line of the candidate, checked and committed like a change (Junos ``load override``).
    in_candidate: bool = False
    #: NornFlow's snapshots kept per device (newest first), for a rollback that comes later (a plan's undo).
    keep: int = 5
    #: Seconds a replace may take: the device diffs and applies a whole config (minutes on a big one).
    timeout: float = 300.0


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
    #: Comment lines (regular expressions, matched at the line start after indentation) of an intended
    #: config: never compared, never sent (a Junos load file's ``#`` lines).
    comments: tuple[str, ...] = ()
    #: Sections whose children are ordered (regular expressions matched against the section's line):
    #: the device evaluates them in order, so two orders are two configs.
    ordered: tuple[str, ...] = ()
    #: Top-level statements ordered among themselves (regular expressions, matched at the line start):
    #: group ``key`` names the list, group ``item`` (the whole line when absent) the ordered element.
    ordered_flat: tuple[str, ...] = ()
    #: The device's own save-and-replace (checkpoint, ``configure replace``, ``load override``); ``None``:
    #: a rollback types the line remediation back to the backup.
    snapshots: Snapshots | None = None

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
    """The profile of Nornir platform ``name``.

    A host without a platform reads ``show running-config`` (IOS-like) and has no remediation driver.
    A name nobody registered is refused (:class:`UnknownPlatform`) before any command is sent: typing
    ``show running-config`` at a device of another kind only earns a ``% Invalid input`` per host.
    """
    if name is None:
        return DevicePlatform(name="", volatile=IOS_VOLATILE)
    profile = _PLATFORMS.get(name)
    if profile is None:
        raise UnknownPlatform(f"unknown platform {name!r} (known: {', '.join(known_platforms())}); "
                              f"set the host's platform to one of these, or register_platform() a new one")
    return profile


def known_platforms() -> list[str]:
    return sorted(_PLATFORMS)


#: IOS-family sections whose entries are evaluated in order (named ACLs; EOS prefix-lists are sub-modes).
IOS_ORDERED = (r"(ip|ipv6|mac) access-list ",)
#: IOS-family lists typed one top-level line per entry, first match wins.
IOS_ORDERED_FLAT = (r"(?P<key>access-list \S+) ", r"(?P<key>ip community-list (standard |expanded )?\S+) ",
                    r"(?P<key>ip extcommunity-list (standard |expanded )?\S+) ",
                    r"(?P<key>ip as-path access-list \S+) ")
#: Junos "ordered-by user" lists: terms of policies and filters, security policies, policy chains.
JUNOS_ORDERED_FLAT = (
    r"(?P<key>set policy-options policy-statement \S+) term (?P<item>\S+)",
    r"(?P<key>set firewall (family \S+ )?filter \S+) term (?P<item>\S+)",
    r"(?P<key>set security policies from-zone \S+ to-zone \S+) policy (?P<item>\S+)",
    r"(?P<key>set (.* )?(import|export)) (?P<item>\S+)$",
)

#: IOS (Cisco's "Configuration Replace and Configuration Rollback"): the running config copied to flash, and
#: ``configure replace <file> force`` (no question), which answers ``Rollback Done``.
IOS_SNAPSHOTS = Snapshots(
    take="copy running-config flash:{name}.cfg", taken="bytes copied", take_asks="Destination filename [",
    restore="configure replace flash:{name}.cfg force", restored="Rollback Done", listing="dir flash:",
    delete="delete /force flash:{name}.cfg")
#: EOS: the same copy; ``configure replace <file>`` asks nothing and answers nothing unless it fails.
EOS_SNAPSHOTS = Snapshots(
    take="copy running-config flash:{name}.cfg", taken="Copy completed successfully",
    restore="configure replace flash:{name}.cfg", restored="", listing="dir flash:", delete="delete flash:{name}.cfg")
#: NX-OS (Cisco's "Configuring the Rollback Feature"): a named checkpoint, and an atomic rollback to it.
NXOS_SNAPSHOTS = Snapshots(
    take="checkpoint {name}", taken="Done", restore="rollback running-config checkpoint {name}",
    restored="completed successfully", listing="show checkpoint summary", delete="no checkpoint {name}")
#: Junos: the active config saved to a file, loaded back with ``load override`` and committed (check first).
JUNOS_SNAPSHOTS = Snapshots(
    take="show configuration | save /var/tmp/{name}.conf", taken="Wrote", restore="load override /var/tmp/{name}.conf",
    restored="load complete", listing="file list /var/tmp/", delete="file delete /var/tmp/{name}.conf",
    refused=("error:",), in_candidate=True)

register_platform(DevicePlatform("cisco_iosxe", volatile=IOS_VOLATILE, hier_config="CISCO_IOS", comments=(r"!",),
                                 ordered=IOS_ORDERED, ordered_flat=IOS_ORDERED_FLAT, snapshots=IOS_SNAPSHOTS),
                  "cisco_ios")
register_platform(DevicePlatform("arista_eos", volatile=EOS_VOLATILE, hier_config="ARISTA_EOS", comments=(r"!",),
                                 ordered=(*IOS_ORDERED, r"ip prefix-list ", r"ipv6 prefix-list "),
                                 ordered_flat=IOS_ORDERED_FLAT, snapshots=EOS_SNAPSHOTS))
register_platform(DevicePlatform("cisco_nxos", volatile=NXOS_VOLATILE, hier_config="CISCO_NXOS", comments=(r"!",),
                                 ordered=IOS_ORDERED, ordered_flat=IOS_ORDERED_FLAT, snapshots=NXOS_SNAPSHOTS))
#: IOS-XR: no snapshots yet (its commit database and ``rollback configuration to <id>`` are not modelled in the
#: lab, so nothing here is tested against them): a rollback types the line remediation.
register_platform(DevicePlatform("cisco_iosxr", volatile=IOS_VOLATILE, hier_config="CISCO_XR", comments=(r"!",),
                                 ordered=(*IOS_ORDERED, r"(prefix-set|community-set|as-path-set) ")))
register_platform(DevicePlatform(
    "juniper_junos", running_config="show configuration | display set", volatile=JUNOS_VOLATILE,
    unmanaged=(r"set version ",), hier_config="JUNIPER_JUNOS", commit=CommitStyle(),
    comments=(r"#", r"/\*"), ordered_flat=JUNOS_ORDERED_FLAT, snapshots=JUNOS_SNAPSHOTS,
))
