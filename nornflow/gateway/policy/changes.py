"""Change-window parameters of a run being started: who may override a window, and who did.

``deploy_config`` refuses to push outside a device's change window unless the run carries an
``override_reason`` (recorded with ``override_by``). Through the gateway, an override needs the
approver role, ``override_by`` is always the authenticated person (never what was typed), and
``change_calendar`` (which calendar decides) is a developer's setting: a runner pointing a run at
a permissive calendar would skip the windows. ``resume_of`` reuses an earlier approval, so it
takes an approver.

The same parameters can also be set as a deployment's defaults (its ``parameters``, or a
``default`` in its ``parameter_openapi_schema``), which Prefect merges into every run it starts
and which the run's own request never shows; :func:`guard_deployment_defaults` holds those to the
same rule when a deployment is created or changed.
"""

from __future__ import annotations

from typing import Any

from nornflow.gateway.policy.roles import Perm

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


#: Parameters that, as a deployment's default, would apply to every run of it without an approver.
_APPROVER_DEFAULTS = ("override_reason", "resume_of")


def schema_defaults(schema: Any) -> dict[str, Any]:
    """The ``default`` of each property of a deployment's ``parameter_openapi_schema``."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {name: spec["default"] for name, spec in properties.items()
            if isinstance(spec, dict) and "default" in spec}


def guard_deployment_defaults(payload: Any, user: str,
                              perms: frozenset[Perm]) -> tuple[str | None, list[dict[str, Any]]]:
    """Check (and stamp in place) a deployment create or update body's change-window defaults.

    A default ``override_reason`` (or ``resume_of``) needs the approver role; when an approver sets
    one, ``override_by`` becomes that approver and the override is returned for the audit.
    Returns a refusal (or None) and the overrides set.
    """
    if not isinstance(payload, dict):
        return None, []
    parameters = payload.get("parameters")
    found: dict[str, Any] = dict(schema_defaults(payload.get("parameter_openapi_schema")))
    if isinstance(parameters, dict):
        found.update({k: v for k, v in parameters.items() if k in (*_APPROVER_DEFAULTS, "override_by")})
    wanted = [name for name in _APPROVER_DEFAULTS if found.get(name) not in (None, "") and
              not (isinstance(found.get(name), str) and not found[name].strip())]
    if not wanted:
        if isinstance(parameters, dict):
            parameters.pop("override_by", None)  # nobody may claim an override they did not make
        return None, []
    if Perm.APPROVE not in perms:
        return (f"{' and '.join(wanted)} as a deployment default would apply to every run of it without an "
                "approver: only an approver may set it; pass it when starting a run instead"), []
    overrides = []
    if found.get("override_reason") not in (None, ""):
        if isinstance(parameters, dict):
            parameters["override_by"] = user
        overrides.append({"reason": str(found["override_reason"])[:_MAX_REASON], "override_by": user,
                          "as": "deployment default"})
    if found.get("resume_of") not in (None, ""):
        overrides.append({"resume_of": str(found["resume_of"])[:80], "as": "deployment default"})
    return None, overrides
