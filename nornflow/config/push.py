"""Send remediation lines to a device the way its platform takes a change.

Live platforms (IOS, EOS, NX-OS): scrapli's ``send_configs`` enters ``configure terminal``,
types the lines (stopping at the first the device rejects) and leaves with ``end``; each
line is live as it is typed, so a half-sent change is undone by the rollback.

Commit platforms (Junos, :class:`~nornflow.tasks.platforms.CommitStyle`): ``configure``,
the ``set``/``delete`` lines into the candidate, then ``commit check`` and ``commit``. Any
rejected line or failed commit abandons the candidate (``rollback 0``) and leaves
configuration mode, so the active configuration never holds half a change. The lines go one
``send_configs`` call at a time instead of one call with ``stop_on_failed``: on that path
scrapli's Junos driver abandons with ``rollback 0`` + ``exit``, and ``exit`` only leaves
configuration mode from the top level; here the abandon is ours and ends with scrapli's own
de-escalation (``exit configuration-mode``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from nornflow.config.exceptions import ConfigRejected
from nornflow.tasks.platforms import CommitStyle, DevicePlatform

CONFIGURATION = "configuration"  # scrapli's privilege level of (shared) configuration mode


#: Longest device answer kept in an error (a commit check can list every statement it refuses).
MAX_REASON = 1500


def device_reason(text: str, sent: str = "") -> str:
    """The device's whole answer to a refused line or commit, as one readable string.

    Every line counts: IOS's caret line says where the word went wrong and the next one why
    (``% Invalid input detected at '^' marker.``); a Junos ``commit check`` names the statement
    (``[edit protocols bgp group EXT neighbor 192.0.2.1]``) and the reason (``Missing mandatory
    statement: 'peer-as'``) before its final ``error: configuration check-out failed``. Blank lines
    and the bare ``[edit]`` prompt banner are left out, and so is an echo of the ``sent`` line; lines
    are joined with `` / ``.
    """
    echo = " ".join(sent.split())
    lines = [" ".join(ln.split()) for ln in text.splitlines()]
    kept = [ln for ln in lines if ln and ln != "[edit]" and ln != echo]
    reason = " / ".join(kept)
    return reason if len(reason) <= MAX_REASON else reason[:MAX_REASON] + " ..."


def push_live(conn: Any, host: str, lines: Sequence[str], timeout_ops: float | None = None) -> None:
    """Type ``lines`` in configuration mode, stopping at the first the device rejects (named in the error)."""
    responses = conn.send_configs(list(lines), stop_on_failed=True, timeout_ops=timeout_ops)
    for response in responses:
        if response.failed:
            raise ConfigRejected(
                f"{host} rejected config line {response.channel_input.strip()!r}: "
                f"{device_reason(response.result, response.channel_input)}")


def discard_candidate(conn: Any, style: CommitStyle) -> None:
    """Throw away an uncommitted candidate and leave configuration mode (best effort: it runs after a failure)."""
    with contextlib.suppress(Exception):
        for line in style.discard:
            conn.send_configs([line], privilege_level=CONFIGURATION)
    with contextlib.suppress(Exception):
        conn.acquire_priv(conn.default_desired_privilege_level)


def push_commit(conn: Any, host: str, lines: Sequence[str], style: CommitStyle,
                timeout_ops: float | None = None, discard_first: bool = False) -> None:
    """Put ``lines`` in the candidate and commit it; on any refusal abandon the candidate and raise.

    ``discard_first`` starts from the active config, dropping what an earlier session left in
    the candidate (a rollback after a session that died mid-push does this).
    """
    failed_when = [*getattr(conn, "failed_when_contains", []), *style.failed_when]
    conn.acquire_priv(CONFIGURATION)
    try:
        if discard_first:
            for line in style.discard:
                conn.send_configs([line], privilege_level=CONFIGURATION, timeout_ops=timeout_ops)
        for line in lines:
            response = conn.send_configs([line], privilege_level=CONFIGURATION, failed_when_contains=failed_when,
                                         timeout_ops=timeout_ops)[0]
            if response.failed:
                raise ConfigRejected(f"{host} rejected config line {line.strip()!r}: "
                                     f"{device_reason(response.result, line)}; the candidate was discarded, "
                                     f"nothing was committed")
        for command in style.commands if lines else ():
            response = conn.send_configs([command], privilege_level=CONFIGURATION, failed_when_contains=failed_when,
                                         timeout_ops=timeout_ops)[0]
            expect = style.confirms.get(command)
            if response.failed or (expect and expect not in response.result):
                raise ConfigRejected(f"{host} refused {command!r}: {device_reason(response.result)}; "
                                     f"the candidate was discarded, the active config is unchanged")
    except ConfigRejected:
        discard_candidate(conn, style)
        raise
    conn.acquire_priv(conn.default_desired_privilege_level)


def push(conn: Any, host: str, platform: DevicePlatform, lines: Sequence[str], timeout_ops: float | None = None,
         discard_first: bool = False) -> None:
    """Send ``lines`` the way ``platform`` takes a change (see the module docstring)."""
    if platform.commit is not None and (lines or discard_first):
        push_commit(conn, host, lines, platform.commit, timeout_ops, discard_first)
    elif lines:
        push_live(conn, host, lines, timeout_ops)
