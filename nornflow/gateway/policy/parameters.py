"""Who may set which flow parameters when a run starts: an allow-list per deployment, decided on
the parameters Prefect will run with.

A runner may change only the parameters a developer declared runner-settable for that
deployment, with a tag ``runner-sets:<parameter>`` in the deployment file (``tags:`` in
``prefect.yaml``; the gateway reads them off the deployment, which only developers write).
A parameter the runner sends with the value the run would have anyway (the UI's custom-run form
sends every field) is no change. The parameters that govern approval, change windows and
overrides are never runner-settable, whatever a tag says:

* ``auto_approve`` skips the approval: it works only in a workspace marked ``lab: true`` in
  the gateway's settings, for nobody anywhere else (and ``deploy_config`` itself refuses it
  unless the server carries the ``nornflow_lab`` variable, which only the gateway of a lab
  workspace lets an owner write);
* ``override_reason`` / ``override_by`` (an approver's, stamped by the gateway),
  ``change_calendar`` (a developer's), ``resume_of`` (an approver's): see :mod:`.changes`;
* ``approval_timeout`` and ``approval_poll_interval``: how an approval is waited for.

Every decision here is on effective values: the deployment's defaults merged with what was sent
and hydrated by Prefect's own code (:mod:`nornflow.gateway.proxy.request`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from nornflow.gateway.proxy.request import KIND, has_kind
from nornflow.settings import GOVERNED, LAB_VARIABLE, RUNNER_TAG

__all__ = ["GOVERNED", "LAB_VARIABLE", "RUNNER_TAG", "auto_approve_refusal", "runner_refusal", "runner_settable"]

AUTO_APPROVE = "auto_approve"
_BOOL: TypeAdapter[bool] = TypeAdapter(bool)


def runner_settable(tags: Iterable[Any]) -> frozenset[str]:
    """The parameters a deployment's ``runner-sets:<name>`` tags open to runners (governed ones never)."""
    names = {tag[len(RUNNER_TAG):].strip() for tag in tags if isinstance(tag, str) and tag.startswith(RUNNER_TAG)}
    return frozenset(name for name in names if name and name not in GOVERNED)


def governed_tags(tags: Iterable[Any]) -> list[str]:
    """``runner-sets:`` tags that name a governed parameter (refused when a deployment is written)."""
    return sorted(tag for tag in tags if isinstance(tag, str) and tag.startswith(RUNNER_TAG)
                  and tag[len(RUNNER_TAG):].strip() in GOVERNED)


def truthy(value: Any) -> bool:
    """``value`` as the flow's ``bool`` parameter would take it (pydantic: "yes", 1, "on"... are true);
    a value pydantic would not take as a boolean counts as true (the safe side)."""
    if value is None:
        return False
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        return True


def same(a: Any, b: Any) -> bool:
    """JSON equality (``1 == True == 1.0`` in Python, not in a flow's parameters)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _differs(name: str, effective: Mapping[str, Any], baseline: Mapping[str, Any]) -> bool:
    if (name in effective) != (name in baseline):
        return True
    return name in effective and not same(effective[name], baseline[name])


def auto_approve_refusal(effective: Mapping[str, Any], *, lab: bool, workspace: str) -> str | None:
    if lab or not truthy(effective.get(AUTO_APPROVE)):
        return None
    return (f"auto_approve skips the approval of a change: workspace {workspace!r} is not a lab "
            "(mark it `lab: true` in the gateway's settings only if its devices are a lab)")


def runner_refusal(names: Iterable[str], effective: Mapping[str, Any], baseline: Mapping[str, Any],
                   allowed: frozenset[str]) -> str | None:
    """Refuse a runner's run whose effective parameters differ from the baseline outside ``allowed``.

    ``names``: the parameters to compare; ``baseline``: what each would be had the runner sent
    nothing (the deployment's hydrated defaults over the flow's schema defaults).
    """
    changed = sorted(name for name in names if _differs(name, effective, baseline))
    changed = [name for name in changed if name not in allowed or name in GOVERNED]
    if not changed:
        return None
    governed = [name for name in changed if name in GOVERNED]
    if governed:
        return (f"{', '.join(governed)} decide(s) how a change is approved or windowed: a runner never sets "
                "them (an approver or a developer starts such a run)")
    settable = ", ".join(sorted(allowed)) or "none"
    return (f"a runner may set only the parameters this deployment declares runner-settable ({settable}); "
            f"not {', '.join(changed)}: ask a developer to add `runner-sets:<parameter>` to its tags")


def plain_governed(parameters: Mapping[str, Any], where: str) -> str | None:
    """Governed parameters must be plain JSON values: no hydration to read two ways."""
    if KIND in parameters:  # a wrapper around the whole mapping: hydrated later into any parameters at all
        return f"the parameters in {where} must be a plain mapping of names, not a __prefect_kind object"
    wrapped = sorted(name for name in GOVERNED if name in parameters and has_kind(parameters[name]))
    if wrapped:
        return f"{', '.join(wrapped)} in {where} must be a plain value, not a __prefect_kind object"
    return None
