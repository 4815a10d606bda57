"""Change-window parameters of a run being started: who may override a window, and who did.

``deploy_config`` refuses to push outside a device's change window unless the run carries an
``override_reason`` (recorded with ``override_by``). Through the gateway, an override needs the
approver role, ``override_by`` is always the authenticated person (never what was typed), and
``change_calendar`` (which calendar decides) is a developer's setting: a runner pointing a run at
a permissive calendar would skip the windows. ``resume_of`` reuses an earlier approval, so it
takes an approver.
"""

from __future__ import annotations

from typing import Any

from nornflow.gateway.roles import Perm

_MAX_REASON = 300


def guard_change_parameters(payload: Any, user: str, perms: frozenset[Perm], *,
                            deployment: bool) -> tuple[str | None, list[dict[str, Any]]]:
    """Check and stamp the runs in ``payload`` (one run, or a list for ``/bulk``) in place.

    ``deployment``: the run starts from a deployment (a person or CI chose its parameters), as
    opposed to a flow run creating its own subflow (a plan passes its calendar down that way).
    Returns a refusal (or None) and, for the audit, one entry per override requested.
    """
    runs = payload if isinstance(payload, list) else [payload]
    overrides: list[dict[str, Any]] = []
    for run in runs:
        parameters = run.get("parameters") if isinstance(run, dict) else None
        if not isinstance(parameters, dict):
            continue
        if deployment and "change_calendar" in parameters and Perm.DEVELOP not in perms:
            return ("change_calendar decides which change windows apply: only a developer may set it "
                    "when starting a run"), []
        if deployment and parameters.get("resume_of") and Perm.APPROVE not in perms:
            return ("resume_of pushes under an earlier run's approval: only an approver may resume a crashed "
                    "change (nornflow resume, or a retry of the crashed run)"), []
        reason = parameters.get("override_reason")
        if reason is None or (isinstance(reason, str) and not reason.strip()):
            parameters.pop("override_by", None)  # nobody may claim an override they did not make
            continue
        if Perm.APPROVE not in perms:
            return ("an emergency override of a change window needs the approver role in this workspace; "
                    "start the run without override_reason, or ask an approver"), []
        parameters["override_by"] = user
        overrides.append({"reason": str(reason)[:_MAX_REASON], "override_by": user})
    return None, overrides
