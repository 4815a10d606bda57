"""The rules on a route's body and query, and :func:`authorize`: may this principal make this request?

The route table (:mod:`.routes`) names the permission a route needs; a few routes also depend on the
body or the query, because a plain route gate is easy to get around there: ``include_secrets`` on
block reads, overrides on ``create_flow_run``, the target state of ``set_state`` (moving a paused run
on skips its approval; retrying a finished ``deploy_config`` run resumes its change under the old
approval) and ``*-response`` run inputs (which answer an approval).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from nornflow.gateway.policy.roles import Perm, roles_holding
from nornflow.gateway.policy.routes import RouteMatch, match_route

_BOOL: TypeAdapter[bool] = TypeAdapter(bool)


class _Malformed(ValueError):
    """The body or query a rule needs cannot be read; the gateway answers 400."""


@dataclass(frozen=True)
class Verdict:
    """What the gateway does with one request; ``reason`` is shown to the caller and audited."""

    allowed: bool
    status: int  # 200 allowed, 403 denied, 400 malformed
    reason: str
    route: str  # e.g. "POST /flow_runs/{id}/set_state"; "" when unclassified
    action: str | None  # audit action; None for reads and a worker's high-volume writes
    # A flow run id: GET the run and deny if its state is PAUSED (set_state to RUNNING/PENDING/SCHEDULED
    # by a principal without APPROVE: moving a paused run on would skip its approval).
    check_not_paused: str | None = None
    # A work pool name: GET the pool and deny unless its base_job_template is empty. Set when a worker
    # (WORK without DEVELOP) sets the template of a pool it just created, as prefect/workers do.
    check_empty_job_template: str | None = None
    # A flow run id: deny when the run is a finished deploy_config run (set_state SCHEDULED, a retry,
    # by a principal without APPROVE): its retry resumes the change under the earlier approval.
    check_change_retry: str | None = None


@dataclass(frozen=True)
class _Need:
    """What a request needs: every group must meet at least one permission the principal holds."""

    groups: tuple[frozenset[Perm], ...]
    what: str
    action: str | None
    check_not_paused: str | None = None
    check_empty_job_template: str | None = None
    check_change_retry: str | None = None


_Rule = Callable[[str, Mapping[str, str], Any, frozenset[Perm]], _Need]


def _as_bool(value: Any, name: str) -> bool:
    """Read ``value`` the way FastAPI/pydantic would ("on", "1", "TRUE", 1 ... are true)."""
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        raise _Malformed(f"{name}={value!r} is not a boolean") from None


def _secrets_requested(query: Sequence[tuple[str, str]], body: Any) -> bool:
    """Any truthy include_secrets, or an ambiguous duplicate, counts as asking for secrets."""
    values = [value for name, value in query if name == "include_secrets"]
    flags = [_as_bool(value, "include_secrets") for value in values]
    if isinstance(body, dict) and "include_secrets" in body:
        flags.append(_as_bool(body["include_secrets"], "include_secrets"))
    return any(flags) or len(values) > 1


def _state_and_force(body: Any) -> tuple[str, bool]:
    state = body.get("state") if isinstance(body, dict) else None
    if not isinstance(state, dict) or not isinstance(state.get("type"), str):
        raise _Malformed('the body needs a "state" object with a "type"')
    return state["type"], _as_bool(body.get("force", False), "force")


_CANCEL = frozenset({"CANCELLING", "CANCELLED"})
_MOVES_ON = frozenset({"RUNNING", "PENDING", "SCHEDULED"})  # the ways out of PAUSED (core_policy.py)


def _flow_run_set_state(display: str, params: Mapping[str, str], body: Any, perms: frozenset[Perm]) -> _Need:
    target, force = _state_and_force(body)
    if target in _CANCEL | {"SCHEDULED"}:
        # Cancel and retry are a runner's. Prefect's UI sends them with force: true (ui-v2 flow-run
        # page), so force does not raise them; a retry of a paused run is caught by check_not_paused.
        groups = (frozenset({Perm.RUN, Perm.WORK}),)
    else:
        groups = (frozenset({Perm.WORK, Perm.DEVELOP}) if force else frozenset({Perm.WORK}),)
    run_id = str(uuid.UUID(params["id"]))
    paused_check = run_id if target in _MOVES_ON else None  # an approver's move is held to four-eyes
    retry_check = run_id if target == "SCHEDULED" and Perm.APPROVE not in perms else None
    what = f"{display} to {target}{' with force' if force else ''}"
    return _Need(groups, what, "flow_run.state", check_not_paused=paused_check, check_change_retry=retry_check)


def _bulk_set_state(display: str, params: Mapping[str, str], body: Any, perms: frozenset[Perm]) -> _Need:
    target, force = _state_and_force(body)
    groups: tuple[frozenset[Perm], ...] = (frozenset({Perm.DEVELOP}),)
    if target in _CANCEL and not force:
        groups = (frozenset({Perm.RUN}),)
    elif target in _MOVES_ON:  # a filter may match paused runs, which the gateway cannot check one by one
        groups = (frozenset({Perm.DEVELOP}), frozenset({Perm.APPROVE}))
    return _Need(groups, f"{display} to {target}{' with force' if force else ''}", "flow_run.state")


def _task_run_set_state(display: str, params: Mapping[str, str], body: Any, perms: frozenset[Perm]) -> _Need:
    target, force = _state_and_force(body)  # the UI's "change state" on a task run sends force: true
    groups = (frozenset({Perm.WORK, Perm.DEVELOP}) if force else frozenset({Perm.WORK}),)
    return _Need(groups, f"{display} to {target}{' with force' if force else ''}", None)


def _run_input(display: str, params: Mapping[str, str], body: Any, perms: frozenset[Perm]) -> _Need:
    key = body.get("key") if isinstance(body, dict) else None
    if not isinstance(key, str):
        raise _Malformed('the body needs a string "key"')
    if key.strip().lower().endswith("-response"):  # keyset_from_base_key in prefect/input/run_input.py
        return _Need((frozenset({Perm.APPROVE}),), f"{display} with the approval key {key!r}", "approval")
    return _Need((frozenset({Perm.WORK}),), display, "write")


# DeploymentFlowRunCreate (prefect/server/schemas/actions.py) fields a runner may set: they choose
# what the deployment's own code is called with and how the run is named and tagged, never where or
# how it runs. enforce_parameter_schema only checks the parameters' shape (the UI's quick run sends it).
_RUNNER_FIELDS = frozenset({"parameters", "name", "tags", "labels", "idempotency_key", "parent_task_run_id",
                            "enforce_parameter_schema"})
# Harmless only when empty (the Python client always sends context {} and job_variables null):
# job_variables, work_queue_name and infrastructure_document_id change what runs where (code on the
# workers); context is inert today but has no use a runner needs.
_EMPTY_OK = frozenset({"context", "job_variables", "work_queue_name", "infrastructure_document_id"})
# empirical_policy: retry counts are a runner's choice; pause_keys/resuming drive the pause machinery.
_RETRY_FIELDS = frozenset({"retries", "retry_delay", "max_retries", "retry_delay_seconds", "retry_jitter_factor"})
_EMPTY: tuple[Any, ...] = (None, False, "", [], {})


def _develop_fields(run: Any) -> list[str]:
    if not isinstance(run, dict):
        raise _Malformed("each flow run to create must be a JSON object")
    fields = []
    for key, value in run.items():
        if key in _RUNNER_FIELDS or (key in _EMPTY_OK and value in _EMPTY):
            continue
        if key == "state" and (value is None or (isinstance(value, dict) and value.get("type") == "SCHEDULED")):
            continue  # a run starts SCHEDULED; any other state would fake or skip its execution
        if key == "empirical_policy" and (value is None or (isinstance(value, dict) and all(
                k in _RETRY_FIELDS or v in _EMPTY for k, v in value.items()))):
            continue
        fields.append(key)
    return fields


def _create_runs(display: str, runs: list[Any]) -> _Need:
    fields = sorted({field for run in runs for field in _develop_fields(run)})
    if fields:
        return _Need((frozenset({Perm.DEVELOP}),), f"{display} with {', '.join(fields)}", "deployment.run")
    return _Need((frozenset({Perm.RUN}),), display, "deployment.run")


def _create_flow_run(display: str, params: Mapping[str, str], body: Any, perms: frozenset[Perm]) -> _Need:
    return _create_runs(display, [body])


def _create_flow_run_bulk(display: str, params: Mapping[str, str], body: Any, perms: frozenset[Perm]) -> _Need:
    if not isinstance(body, list):
        raise _Malformed("the body must be a JSON list of flow runs")
    return _create_runs(display, body)


def _work_pool_patch(display: str, params: Mapping[str, str], body: Any, perms: frozenset[Perm]) -> _Need:
    # A worker that created a missing pool sets its default base_job_template next
    # (prefect/workers/_worker_channel/_sync.py); anything else on a pool is a developer's.
    if Perm.DEVELOP not in perms and isinstance(body, dict) and set(body) == {"base_job_template"}:
        return _Need((frozenset({Perm.WORK}),), display, "write", check_empty_job_template=params["name"])
    return _Need((frozenset({Perm.DEVELOP}),), display, "write")


_RULES: Mapping[str, _Rule] = {
    "flow_run_set_state": _flow_run_set_state, "bulk_set_state": _bulk_set_state,
    "task_run_set_state": _task_run_set_state, "run_input": _run_input, "create_flow_run": _create_flow_run,
    "create_flow_run_bulk": _create_flow_run_bulk, "work_pool_patch": _work_pool_patch,
}


def _needs_text(group: frozenset[Perm]) -> str:
    perms = [perm.value for perm in Perm if perm in group]
    roles = [role.value for role in roles_holding(group)]
    return f"the {' or '.join(perms)} permission (roles: {', '.join(roles)})"


def authorize(method: str, path: str, query: Sequence[tuple[str, str]], body: Any,
              perms: frozenset[Perm], *, match: RouteMatch | None = None) -> Verdict:
    """Decide one API request; ``path`` is relative to the API root and percent-decoded once.
    ``match``: the caller's :func:`match_route` of the same request, so it is matched once."""
    found = match or match_route(method, path)
    if found is None:
        return Verdict(False, 403, f"route not classified by the NornFlow gateway: {method} {path}", "", None)
    route, params = found.route, found.params
    try:
        secrets = _secrets_requested(query, body)
        rule = _RULES[route.rule] if route.rule else None
        need = rule(route.display, params, body, perms) if rule else _Need((route.perms,), route.display, route.action)
    except _Malformed as exc:
        return Verdict(False, 400, f"malformed request to {route.display}: {exc}", route.display, None)
    if secrets:
        need = _Need((*need.groups, frozenset({Perm.SECRETS})), f"{need.what} with include_secrets",
                     "secret.read", need.check_not_paused, need.check_empty_job_template, need.check_change_retry)
    for group in need.groups:
        if not group & perms:
            return Verdict(False, 403, f"{need.what} needs {_needs_text(group)}", route.display, need.action)
    return Verdict(True, 200, f"{need.what} is allowed", route.display, need.action,
                   need.check_not_paused, need.check_empty_job_template, need.check_change_retry)
