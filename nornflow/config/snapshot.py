"""The device's own exact rollback: a snapshot of the pre-change config on the device, and a replace back to it.

Before the first line of a change, the running config is saved on the device
(:class:`~nornflow.tasks.platforms.Snapshots`: IOS and EOS copy it to flash, NX-OS takes a checkpoint, Junos
saves it to ``/var/tmp``). A rollback makes that saved config the running one in one step (``configure
replace``, ``rollback running-config checkpoint``, ``load override`` + commit): the device itself
restores every line where it was, duplicates and order included, as the tools engineers use do (NAPALM's
``rollback``). Line remediation stays the fallback, where a platform has no such feature or the feature
fails, and the caller records which way it went and why.

A snapshot is named ``nornflow-<UTC yyyymmddHHMMSS>-<fingerprint>``: the fingerprint
(:func:`~nornflow.config.remediation.config_hash`) is the one the plan, the ledger and the git backup carry,
so any later rollback to that backup (a resumed crash, a plan's all-or-nothing undo) finds it on the device
by name, and the time keeps the newest ``keep`` of them when older ones are pruned. The snapshot is taken
one round trip after the read that proved the device unchanged since the plan; what it holds is checked
after every replace by the exact comparison against the backup, never assumed.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

from nornflow.config.exceptions import ConfigRejected
from nornflow.config.push import device_reason, push_commit
from nornflow.exceptions import NornFlowError
from nornflow.tasks.platforms import DevicePlatform, Snapshots

NAME = re.compile(r"nornflow-(?P<stamp>\d{14})-(?P<fingerprint>[0-9a-f]{12})")


class SnapshotFailed(NornFlowError, RuntimeError):
    """The device did not save, list or restore a snapshot; the device's answer says why."""


@dataclass(frozen=True)
class Snapshot:
    """One snapshot on a device."""

    name: str
    fingerprint: str
    stamp: str


def snapshot_name(fingerprint: str, when: float | None = None) -> str:
    return f"nornflow-{time.strftime('%Y%m%d%H%M%S', time.gmtime(when))}-{fingerprint[:12]}"


def _ok(answer: str, success: str, snaps: Snapshots) -> bool:
    return success in answer if success else not any(marker in answer for marker in snaps.refused)


def exec_command(conn: Any, command: str, asks: str = "", timeout_ops: float | None = None) -> str:
    """Send exec ``command``; when the device asks ``asks`` (a prompt it may or may not show), answer Enter."""
    if not asks:
        options = {"timeout_ops": timeout_ops} if timeout_ops else {}
        return str(conn.send_command(command, **options).result)
    prompt = conn.privilege_levels[conn.default_desired_privilege_level].pattern
    response = conn.send_interactive([(command, asks, False), ("", prompt, False)], timeout_ops=timeout_ops,
                                     interaction_complete_patterns=[prompt])
    return str(response.result)


def listed(conn: Any, snaps: Snapshots) -> list[Snapshot]:
    """NornFlow's snapshots on the device, newest first."""
    answer = exec_command(conn, snaps.listing)
    found = {m.group(0): Snapshot(m.group(0), m.group("fingerprint"), m.group("stamp")) for m in NAME.finditer(answer)}
    return sorted(found.values(), key=lambda s: (s.stamp, s.name), reverse=True)


def take(conn: Any, host: str, platform: DevicePlatform, fingerprint: str) -> str:
    """Save the running config (whose fingerprint is ``fingerprint``) on the device; its name.

    Older snapshots of the same config, and any beyond the platform's ``keep`` newest, are deleted.
    """
    snaps = platform.snapshots
    if snaps is None:
        raise SnapshotFailed(f"{platform.name or 'a host without a platform'} has no snapshot feature")
    name = snapshot_name(fingerprint)
    command = snaps.take.format(name=name)
    answer = exec_command(conn, command, snaps.take_asks)
    if not _ok(answer, snaps.taken, snaps):  # a name taken this same second (NX-OS will not overwrite): once more
        exec_command(conn, snaps.delete.format(name=name))
        answer = exec_command(conn, command, snaps.take_asks)
    if not _ok(answer, snaps.taken, snaps):
        raise SnapshotFailed(f"{host} did not save its running config ({command!r}): {device_reason(answer, command)}")
    with contextlib.suppress(Exception):  # pruning is housekeeping: the snapshot is taken either way
        kept = 0
        for old in listed(conn, snaps):
            if old.name == name or (old.fingerprint != fingerprint[:12] and kept < snaps.keep - 1):
                kept += old.name != name
                continue
            exec_command(conn, snaps.delete.format(name=old.name))
    return name


def find(conn: Any, platform: DevicePlatform, fingerprint: str) -> str | None:
    """The newest snapshot on the device of the config with ``fingerprint``, if any."""
    if platform.snapshots is None:
        return None
    return next((s.name for s in listed(conn, platform.snapshots) if s.fingerprint == fingerprint[:12]), None)


def restore(conn: Any, host: str, platform: DevicePlatform, name: str) -> str:
    """Make snapshot ``name`` the running config; the command that did it (raises :class:`SnapshotFailed`)."""
    snaps = platform.snapshots
    if snaps is None:
        raise SnapshotFailed(f"{platform.name} has no snapshot feature")
    command = snaps.restore.format(name=name)
    if snaps.in_candidate and platform.commit is not None:
        try:  # a candidate line: checked and committed like a change, discarded on any refusal
            push_commit(conn, host, [command], platform.commit, snaps.timeout, discard_first=True)
        except ConfigRejected as exc:
            raise SnapshotFailed(str(exc)) from exc
        return f"{command} + {' + '.join(platform.commit.commands)}"
    answer = exec_command(conn, command, timeout_ops=snaps.timeout)
    if not _ok(answer, snaps.restored, snaps):
        raise SnapshotFailed(f"{host} refused {command!r}: {device_reason(answer, command)}")
    return command
