"""Nornir tasks of the config workflow: plan, check, and apply-verify-rollback, one host each.

``apply_config`` never trusts the plan blindly: it re-reads the running config and refuses a
device whose config changed since the plan (stale plan). Just before the first line it saves the
running config on the device (a checkpoint, a file on flash; :mod:`nornflow.config.snapshot`). When
the push or the verification fails, it restores the pre-change config with the device's own replace
of that snapshot (line remediation where the platform has none or the replace fails, saying why),
verifies the restore exactly, then fails the host saying so. Everything raises into the engine, which turns
it into a per-host record; other hosts carry on. With a change-window ``window`` guard, the
device's window is checked once more just before its first line (after the stale check), and a
device whose window closed meanwhile is not sent anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nornir.core.inventory import Host
from nornir.core.task import Result, Task

from nornflow.config import snapshot
from nornflow.config.exact import differences
from nornflow.config.exceptions import MaskedPlan, RollbackFailed, RolledBack, StalePlan, VerificationFailed
from nornflow.config.ledger import Ledger
from nornflow.config.plan import DevicePlan
from nornflow.config.push import push
from nornflow.config.remediation import changed_trees, config_hash, diff_of, remediation, remediation_of
from nornflow.config.render import Renderer
from nornflow.engine.explain import describe_error
from nornflow.secrets.redaction import MASK, redact_text
from nornflow.tasks.backup import get_running_config
from nornflow.tasks.platforms import device_platform


class PushWindow(Protocol):
    """What ``apply_config`` asks just before a device's first line (:class:`nornflow.change.windows.WindowGuard`)."""

    def refusal(self, host: Host) -> BaseException | None:
        """``None`` when ``host`` may change now, else the error saying why not and when it may."""


def read_running(task: Task) -> str:
    return str(get_running_config(task).result)


def _plan(task: Task, templates: str, sections: Sequence[str] | None) -> tuple[DevicePlan, str]:
    host = task.host
    device_platform(host.platform)  # an unknown platform is refused before anything else
    intended = Renderer(templates).render(host)  # before touching the device: a bad template costs no session
    running = read_running(task)
    # each config parsed once, for the lines and the diff, and only its blocks the other does not hold alike
    have, want = changed_trees(running, intended, host.platform, sections)
    plan = DevicePlan(
        host=host.name, platform=host.platform, lines=remediation_of(have, want, host.platform),
        diff=diff_of(have, want, host.name),
        running_hash=config_hash(running), intended_hash=config_hash(intended), intended=intended,
    )
    return plan, running


def plan_config(task: Task, templates: str, sections: Sequence[str] | None = None) -> Result:
    """Render the intended config, read the running one; data is ``{"plan": DevicePlan dump, "running"}``."""
    plan, running = _plan(task, templates, sections)
    return Result(host=task.host, result={"plan": plan.model_dump(), "running": running})


def check_config(task: Task, templates: str, sections: Sequence[str] | None = None) -> Result:
    """Compliance of one host: ``{"compliant", "lines", "diff"}`` against its intended config."""
    plan, _ = _plan(task, templates, sections)
    return Result(host=task.host, result={"compliant": plan.empty, "lines": plan.lines, "diff": plan.diff})


def send_lines(task: Task, lines: Sequence[str], timeout_ops: float | None = None, discard_first: bool = False) -> None:
    """Send config lines the way the host's platform takes a change (typed live, or committed on Junos),
    stopping at the first the device rejects (named in the error). See :mod:`nornflow.config.push`."""
    conn = task.host.get_connection("scrapli", task.nornir.config)
    push(conn, task.host.name, device_platform(task.host.platform), lines, timeout_ops, discard_first)


def reset_connection(task: Task) -> None:
    """Forget a session the device may have dropped, so the next call opens a fresh one."""
    with contextlib.suppress(Exception):
        task.host.close_connection("scrapli")
    task.host.connections.pop("scrapli", None)


def verify(task: Task, intended: str, sections: Sequence[str] | None,
           post_checks: Mapping[str, str] | None) -> None:
    """Re-read the running config; it must match ``intended`` (in scope) exactly, duplicates, remarks and
    the order of ordered lists included (:mod:`nornflow.config.exact`), and every post-check pass."""
    running = read_running(task)
    problems = differences(running, intended, task.host.platform, sections)
    if problems:
        raise VerificationFailed(
            f"{task.host.name} still differs from its intended config after the push: {'; '.join(problems)}")
    if not post_checks:
        return
    conn = task.host.get_connection("scrapli", task.nornir.config)
    for command, expect in post_checks.items():
        response = conn.send_command(command)
        if response.failed:
            raise VerificationFailed(f"post-check {command!r} was rejected: {response.result.strip()[:200]}")
        if expect and expect not in response.result:
            raise VerificationFailed(f"post-check {command!r} does not show {expect!r}")


@dataclass(frozen=True)
class Restored:
    """How a rollback went: how many lines differed from the backup, what restored them, why a fallback."""

    lines: int
    method: str
    fallback: str = ""

    def sentence(self) -> str:
        why = f"; line remediation because {self.fallback}" if self.fallback else ""
        return f"({self.lines} line(s) differed; restored by {self.method}{why})"


def _exact(task: Task, backup: str) -> list[str]:
    return differences(read_running(task), backup, task.host.platform, strict_order=True)


def _replace(task: Task, backup: str) -> tuple[str, str, bool]:
    """Restore the device's snapshot of ``backup``: ``(command, "", True)`` when exact, else ``("", why not,
    whether the device may have been touched)``."""
    profile = device_platform(task.host.platform)
    if profile.snapshots is None:
        platform = profile.name or "a host without a platform"
        return "", f"{platform} has no replace or checkpoint feature NornFlow uses", False
    try:
        conn = task.host.get_connection("scrapli", task.nornir.config)
        name = snapshot.find(conn, profile, config_hash(backup))
    except Exception as exc:
        reset_connection(task)
        return "", f"the device's snapshots could not be listed: {describe_error(exc, task.host)}", False
    if name is None:
        return "", f"the device holds no snapshot of its pre-change config ({config_hash(backup)})", False
    try:
        command = snapshot.restore(conn, task.host.name, profile, name)
    except Exception as exc:
        reset_connection(task)
        return "", f"the device's own restore failed: {describe_error(exc, task.host)}", True
    problems = _exact(task, backup)
    if problems:
        return "", f"{command!r} left the device unlike its backup: {'; '.join(problems)}", True
    return command, "", True


def rollback_to(task: Task, backup: str, timeout_ops: float | None = None) -> Restored:
    """Restore ``backup`` (the full pre-change config) and verify it exactly; how it went.

    The device's own feature first (:mod:`nornflow.config.snapshot`: ``configure replace``, a checkpoint
    rollback, ``load override`` + commit), which restores every line where it was; then, where the
    platform has none or it failed, the remediation from what the device runs now back to the backup,
    sent like any change (on Junos into a candidate emptied first of what a dead session left, then
    committed). Neither uses Junos's ``rollback 1``: that is right only when the failed change is the
    device's last commit, and a resume or an undo of earlier waves runs after an unknown number of
    commits. Either way the result is compared with the backup line for line, order and duplicates
    included, or :class:`RollbackFailed` says what is still different.
    """
    reset_connection(task)
    platform = task.host.platform
    current = read_running(task)
    if not differences(current, backup, platform, strict_order=True):
        if device_platform(platform).commit is not None:  # a dead session's uncommitted candidate
            send_lines(task, [], timeout_ops, discard_first=True)
        return Restored(0, "nothing: the device already ran it")
    lines = remediation(current, backup, platform)
    differing = len(lines)
    command, fallback, touched = _replace(task, backup)
    if command:
        return Restored(differing, command)
    if touched:
        lines = remediation(read_running(task), backup, platform)
    if lines or device_platform(platform).commit is not None:
        send_lines(task, lines, timeout_ops, discard_first=True)
    problems = _exact(task, backup)
    if problems:
        raise RollbackFailed(f"{task.host.name} does not match its pre-change backup after the rollback "
                             f"({fallback}; then {len(lines)} remediation line(s)): {'; '.join(problems)}")
    return Restored(differing, f"line remediation ({len(lines)} line(s))", fallback)


def rollback(task: Task, backup: str, timeout_ops: float | None = None) -> int:
    """:func:`rollback_to`; how many lines differed from the backup (0: nothing needed restoring)."""
    return rollback_to(task, backup, timeout_ops).lines


def restore(task: Task, backup: str, problem: str, timeout_ops: float | None = None,
            journal: Ledger | None = None) -> RolledBack:
    """Roll back to ``backup`` after ``problem``; the error to raise (RollbackFailed is raised here)."""
    name = task.host.name
    if journal is not None:
        journal.mark(name, "rolling-back", problem)
    try:
        restored = rollback_to(task, backup, timeout_ops)
    except Exception as again:
        error = RollbackFailed(f"{problem}; the rollback failed as well ({describe_error(again, task.host)}): "
                               f"{name} may be half-changed and needs a person")
        if journal is not None:
            journal.mark(name, "rollback-failed", str(error))
        raise error from again
    if journal is not None:
        journal.mark(name, "rolled-back", problem, rollback_lines=restored.lines, rollback_method=restored.method,
                     rollback_fallback=restored.fallback or None)
    return RolledBack(f"{problem}; rolled back to the pre-change config {restored.sentence()} and verified")


def take_snapshot(task: Task, fingerprint: str) -> tuple[str, str]:
    """Save the pre-change config on the device: ``(name, "")``, or ``("", why not)`` (the push goes on,
    and a rollback would type the line remediation)."""
    profile = device_platform(task.host.platform)
    if profile.snapshots is None:
        return "", f"{profile.name or 'a host without a platform'} has no snapshot feature NornFlow uses"
    try:
        conn = task.host.get_connection("scrapli", task.nornir.config)
        return snapshot.take(conn, task.host.name, profile, fingerprint), ""
    except Exception as exc:
        return "", describe_error(exc, task.host)


def apply_config(task: Task, plans: Mapping[str, dict[str, Any]], backups: Mapping[str, str],
                 sections: Sequence[str] | None = None, post_checks: Mapping[str, str] | None = None,
                 timeout_ops: float | None = None, ledger: str | None = None,
                 window: PushWindow | None = None) -> Result:
    """Apply this host's planned lines, verify them, and roll back to its backup on failure.

    ``plans`` and ``backups`` map host names to the :class:`DevicePlan` dump and the pre-change
    config saved in this run; the engine passes the same mappings to every host. The rollback
    target is the config read at the stale check, which the plan's fingerprint proves equal to
    the backup before redaction (see below). ``ledger`` (a
    :class:`~nornflow.config.ledger.Ledger` path) records each step, so a crashed run can resume.
    ``window`` is asked last, just before the first line: a refusal is journalled ``outside-window``
    (the device can be resumed in its next window) and raised; nothing is sent.
    """
    name = task.host.name
    device = DevicePlan.model_validate(plans[name])
    journal = Ledger(ledger) if ledger else None
    current = read_running(task)
    now = config_hash(current)
    if now != device.running_hash:
        stale = StalePlan(
            f"stale plan: {name}'s running config changed since the plan (fingerprint "
            f"{device.running_hash} then, {now} now); nothing was sent, plan again"
        )
        if journal is not None:
            journal.mark(name, "stale", str(stale))
        raise stale
    # Unchanged since the plan, so ``current`` is the pre-change config itself: roll back to it
    # rather than to ``backups[name]``, a copy that went through the engine's result redaction,
    # which masks every text equal to a secret (a lab whose login is ``admin`` would lose its
    # ``username admin`` line). The plan's fingerprint was taken on the device's own text.
    backup = current
    masked = [ln.strip() for ln in [*device.lines, *device.intended.splitlines()] if MASK in ln]
    if masked and redact_text(current) != current:
        # The device's config holds a secret's value (a username kept as a secret, say), so the plan
        # went through redaction: its lines would type "***" into the device, its intended config
        # can never verify. Refuse before the first line rather than push and roll back.
        refused = MaskedPlan(
            f"{name}'s configuration contains the value of a secret this run resolved, so the plan shows it "
            f"masked ({masked[0]!r}) and cannot be sent as approved; nothing was sent. Keep values that "
            f"appear in device configs (usernames, say) out of secret references"
        )
        if journal is not None:
            journal.mark(name, "stale", str(refused))
        raise refused
    closed = window.refusal(task.host) if window is not None else None
    if closed is not None:
        if journal is not None:
            journal.mark(name, "outside-window", str(closed))
        raise closed
    saved, unsaved = take_snapshot(task, now)
    if journal is not None:
        journal.mark(name, "pushing", lines=len(device.lines), snapshot=saved or None, snapshot_missing=unsaved or None)
    try:
        send_lines(task, device.lines, timeout_ops)
        if journal is not None:
            journal.mark(name, "pushed")
        verify(task, device.intended, sections, post_checks)
    except Exception as exc:
        raise restore(task, backup, describe_error(exc, task.host), timeout_ops, journal) from exc
    if journal is not None:
        journal.mark(name, "verified")
    return Result(host=task.host, changed=True, result={"outcome": "applied", "lines": len(device.lines)})
