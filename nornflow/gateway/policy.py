"""Which permission each Prefect API request needs: the gateway's authorization, as data and pure rules.

The gateway authenticates a principal, then asks :func:`authorize` about every request before
it reaches the workspace's Prefect server. Every route of the installed Prefect API is listed in
``_TABLE``; anything else is refused (fail closed). ``tests/unit/gateway/test_policy.py``
compares the table with the routes Prefect serves, so a Prefect upgrade that adds a route fails
the tests until the route is classified here.

A few routes also depend on the body or the query, because a plain route gate is easy to get
around there: ``include_secrets`` on block reads,
overrides on ``create_flow_run``, the target state of ``set_state`` (moving a paused run on
skips its approval; retrying a finished ``deploy_config`` run resumes its change under the old
approval) and ``*-response`` run inputs (which answer an approval).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.convertors import Convertor
from starlette.routing import compile_path

from nornflow.gateway.roles import Perm, roles_holding

# METHOD  Prefect's path template  permissions (any one suffices)  audit action ("-": none)  [body rule]
# Where a body rule is named, the rule decides (see below); the first permission is what classify()
# reports. "work|develop" on POST /flows/: flow runs register their flow, and so does `prefect deploy`;
# on POST /v2/concurrency_limits/ and /work_pools/: flow runs and workers create what is missing (a
# create cannot change an existing limit or pool: Prefect answers 409), as nornflow.plan.execute does.
# bulk_set_state takes a filter, so its paused runs cannot be checked one by one: a cancel needs run,
# anything else develop, and a target that moves a paused run on (RUNNING/PENDING/SCHEDULED) also approve.
# Order follows Prefect's router order (prefect/server/api/server.py API_ROUTERS): the first match wins,
# as in Starlette. Writes a worker repeats many times a minute (logs, events, task runs, heartbeats,
# slots, polling) carry no audit action, so the gateway streams them instead of auditing each one.
_TABLE = """
POST    /flows/                                                 work|develop  write
PATCH   /flows/{id:uuid}                                        develop   write
POST    /flows/count                                            read      -
GET     /flows/name/{name}                                      read      -
GET     /flows/{id:uuid}                                        read      -
POST    /flows/filter                                           read      -
DELETE  /flows/{id:uuid}                                        develop   write
POST    /flows/bulk_delete                                      develop   write
POST    /flows/paginate                                         read      -
POST    /flow_runs/                                             work      write
PATCH   /flow_runs/{id:uuid}                                    work|develop  write
POST    /flow_runs/count                                        read      -
POST    /flow_runs/lateness                                     read      -
POST    /flow_runs/history                                      read      -
GET     /flow_runs/{id:uuid}                                    read      -
GET     /flow_runs/{id:uuid}/graph                              read      -
GET     /flow_runs/{id:uuid}/graph-v2                           read      -
POST    /flow_runs/{id:uuid}/resume                             approve   approval
POST    /flow_runs/filter                                       read      -
DELETE  /flow_runs/{id:uuid}                                    develop   write
POST    /flow_runs/bulk_delete                                  develop   write
POST    /flow_runs/bulk_set_state                               run|develop  flow_run.state  bulk_set_state
POST    /flow_runs/{id:uuid}/set_state                          run|work  flow_run.state  flow_run_set_state
POST    /flow_runs/{id:uuid}/input                              work|approve  write  run_input
POST    /flow_runs/{id:uuid}/input/filter                       read      -
GET     /flow_runs/{id:uuid}/input/{key}                        read      -
DELETE  /flow_runs/{id:uuid}/input/{key}                        develop   write
POST    /flow_runs/paginate                                     read      -
GET     /flow_runs/{id:uuid}/logs/download                      read      -
PATCH   /flow_runs/{id:uuid}/labels                             work|develop  write
POST    /task_runs/                                             work      -
PATCH   /task_runs/{id:uuid}                                    work      -
POST    /task_runs/count                                        read      -
POST    /task_runs/history                                      read      -
GET     /task_runs/{id:uuid}                                    read      -
POST    /task_runs/filter                                       read      -
POST    /task_runs/paginate                                     read      -
DELETE  /task_runs/{id:uuid}                                    develop   write
POST    /task_runs/{id:uuid}/set_state                          work|develop  -  task_run_set_state
WS      /task_runs/subscriptions/scheduled                      work      -
GET     /flow_run_states/{id:uuid}                              read      -
GET     /flow_run_states/                                       read      -
GET     /task_run_states/{id:uuid}                              read      -
GET     /task_run_states/                                       read      -
GET     /observed-states                                        read      -
POST    /deployments/                                           develop   write
PATCH   /deployments/{id:uuid}                                  develop   write
GET     /deployments/name/{flow_name}/{deployment_name}         read      -
GET     /deployments/{id:uuid}                                  read      -
POST    /deployments/filter                                     read      -
POST    /deployments/paginate                                   read      -
POST    /deployments/get_scheduled_flow_runs                    work      -
POST    /deployments/count                                      read      -
DELETE  /deployments/{id:uuid}                                  develop   write
POST    /deployments/bulk_delete                                develop   write
POST    /deployments/{id:uuid}/schedule                         develop   write
POST    /deployments/{id:uuid}/resume_deployment                develop   write
POST    /deployments/{id:uuid}/pause_deployment                 develop   write
POST    /deployments/{id:uuid}/create_flow_run                  run|develop  deployment.run  create_flow_run
POST    /deployments/{id:uuid}/create_flow_run/bulk             run|develop  deployment.run  create_flow_run_bulk
GET     /deployments/{id:uuid}/work_queue_check                 read      -
GET     /deployments/{id:uuid}/schedules                        read      -
POST    /deployments/{id:uuid}/schedules                        develop   write
PATCH   /deployments/{id:uuid}/schedules/{schedule_id:uuid}     develop   write
DELETE  /deployments/{id:uuid}/schedules/{schedule_id:uuid}     develop   write
PUT     /saved_searches/                                        develop   write
GET     /saved_searches/{id:uuid}                               read      -
POST    /saved_searches/filter                                  read      -
DELETE  /saved_searches/{id:uuid}                               develop   write
POST    /logs/                                                  work      -
POST    /logs/filter                                            read      -
WS      /logs/out                                               read      -
POST    /concurrency_limits/                                    develop   write
GET     /concurrency_limits/{id:uuid}                           read      -
GET     /concurrency_limits/tag/{tag}                           read      -
POST    /concurrency_limits/filter                              read      -
POST    /concurrency_limits/tag/{tag}/reset                     develop   write
DELETE  /concurrency_limits/{id:uuid}                           develop   write
DELETE  /concurrency_limits/tag/{tag}                           develop   write
POST    /concurrency_limits/increment                           work      -
POST    /concurrency_limits/decrement                           work      -
POST    /v2/concurrency_limits/                                 work|develop  write
GET     /v2/concurrency_limits/{id_or_name}                     read      -
POST    /v2/concurrency_limits/filter                           read      -
PATCH   /v2/concurrency_limits/{id_or_name}                     develop   write
DELETE  /v2/concurrency_limits/{id_or_name}                     develop   write
POST    /v2/concurrency_limits/increment                        work      -
POST    /v2/concurrency_limits/increment-with-lease             work      -
POST    /v2/concurrency_limits/decrement                        work      -
POST    /v2/concurrency_limits/decrement-with-lease             work      -
POST    /v2/concurrency_limits/leases/{lease_id}/renew          work      -
POST    /block_types/                                           develop   write
GET     /block_types/{id:uuid}                                  read      -
GET     /block_types/slug/{slug}                                read      -
POST    /block_types/filter                                     read      -
PATCH   /block_types/{id:uuid}                                  develop   write
DELETE  /block_types/{id:uuid}                                  develop   write
GET     /block_types/slug/{slug}/block_documents                read      -
GET     /block_types/slug/{slug}/block_documents/name/{block_document_name}  read  -
POST    /block_types/install_system_block_types                 develop   write
POST    /block_documents/                                       develop   write
POST    /block_documents/filter                                 read      -
POST    /block_documents/count                                  read      -
GET     /block_documents/{id:uuid}                              read      -
DELETE  /block_documents/{id:uuid}                              develop   write
PATCH   /block_documents/{id:uuid}                              develop   write
POST    /work_pools/                                            work|develop  write
GET     /work_pools/{name}                                      read      -
POST    /work_pools/filter                                      read      -
POST    /work_pools/count                                       read      -
PATCH   /work_pools/{name}                                      develop|work  write  work_pool_patch
DELETE  /work_pools/{name}                                      develop   write
POST    /work_pools/{name}/concurrency_status                   read      -
POST    /work_pools/{name}/get_scheduled_flow_runs              work      -
POST    /work_pools/{work_pool_name}/queues                     develop   write
GET     /work_pools/{work_pool_name}/queues/{name}              read      -
POST    /work_pools/{work_pool_name}/queues/filter              read      -
PATCH   /work_pools/{work_pool_name}/queues/{name}              develop   write
DELETE  /work_pools/{work_pool_name}/queues/{name}              develop   write
WS      /work_pools/{work_pool_name}/workers/connect            work      -
POST    /work_pools/{work_pool_name}/workers/heartbeat          work      -
POST    /work_pools/{work_pool_name}/workers/filter             read      -
DELETE  /work_pools/{work_pool_name}/workers/{name}             develop   write
POST    /task_workers/filter                                    read      -
POST    /work_queues/                                           develop   write
PATCH   /work_queues/{id:uuid}                                  develop   write
GET     /work_queues/name/{name}                                read      -
GET     /work_queues/{id:uuid}                                  read      -
POST    /work_queues/{id:uuid}/get_runs                         work      -
POST    /work_queues/filter                                     read      -
DELETE  /work_queues/{id:uuid}                                  develop   write
POST    /work_queues/{id:uuid}/concurrency_status               read      -
GET     /work_queues/{id:uuid}/status                           read      -
POST    /artifacts/                                             work      write
GET     /artifacts/{id:uuid}                                    read      -
GET     /artifacts/{key}/latest                                 read      -
POST    /artifacts/filter                                       read      -
POST    /artifacts/latest/filter                                read      -
POST    /artifacts/count                                        read      -
POST    /artifacts/latest/count                                 read      -
PATCH   /artifacts/{id:uuid}                                    work      write
DELETE  /artifacts/{id:uuid}                                    develop   write
POST    /block_schemas/                                         develop   write
DELETE  /block_schemas/{id:uuid}                                develop   write
POST    /block_schemas/filter                                   read      -
GET     /block_schemas/{id:uuid}                                read      -
GET     /block_schemas/checksum/{checksum}                      read      -
GET     /block_capabilities/                                    read      -
GET     /collections/views/{view}                               read      -
POST    /variables/                                             develop   write
GET     /variables/{id:uuid}                                    read      -
GET     /variables/name/{name:str}                              read      -
POST    /variables/filter                                       read      -
POST    /variables/count                                        read      -
PATCH   /variables/{id:uuid}                                    develop   write
PATCH   /variables/name/{name:str}                              develop   write
DELETE  /variables/{id:uuid}                                    develop   write
DELETE  /variables/name/{name:str}                              develop   write
GET     /csrf-token                                             read      -
POST    /events                                                 work      -
WS      /events/in                                              work      -
WS      /events/out                                             read      -
POST    /events/filter                                          read      -
GET     /events/filter/next                                     read      -
POST    /events/count-by/{countable}                            read      -
POST    /automations/                                           develop   write
PUT     /automations/{id:uuid}                                  develop   write
PATCH   /automations/{id:uuid}                                  develop   write
DELETE  /automations/{id:uuid}                                  develop   write
POST    /automations/filter                                     read      -
POST    /automations/count                                      read      -
GET     /automations/{id:uuid}                                  read      -
GET     /automations/related-to/{resource_id:str}               read      -
DELETE  /automations/owned-by/{resource_id:str}                 develop   write
POST    /templates/validate                                     read      -
POST    /automations/templates/validate                         read      -
POST    /ui/flows/count-deployments                             read      -
POST    /ui/flows/next-runs                                     read      -
POST    /ui/flow_runs/history                                   read      -
POST    /ui/flow_runs/count-task-runs                           read      -
POST    /ui/schemas/validate                                    read      -
POST    /ui/task_runs/dashboard/counts                          read      -
POST    /ui/task_runs/count                                     read      -
GET     /ui/task_runs/{id:uuid}                                 read      -
GET     /admin/settings                                         admin     -
GET     /admin/version                                          read      -
GET     /admin/storage                                          read      -
PUT     /admin/storage                                          admin     write
DELETE  /admin/storage                                          admin     write
GET     /hello                                                  read      -
GET     /ready                                                  read      -
GET     /health                                                 read      -
GET     /version                                                read      -
GET     /openapi.json                                           read      -
GET     /docs                                                   read      -
GET     /docs/oauth2-redirect                                   read      -
GET     /redoc                                                  read      -
GET     /static/{path:path}                                     read      -
GET     /metrics                                                read      -
"""
# Admin split: GET /admin/version is the UI's login check and GET /admin/storage is read by every
# flow run that persists results (prefect/results.py), so both are reads. GET /admin/settings shows
# the server's own configuration, not workspace data (its only non-UI caller, the client's analytics
# probe, treats a refusal as "analytics off"), and PUT/DELETE /admin/storage redirect the results of
# every deployment: owner only. The last four GETs come from create_api_app/create_app, not a router.

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
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


@dataclass(frozen=True)
class _Route:
    method: str
    template: str  # Prefect's, converters included
    perms: frozenset[Perm]
    primary: Perm
    action: str | None
    rule: str | None
    pattern: re.Pattern[str]  # Starlette's, from compile_path: the regex Prefect's router matches with
    format: str  # "/flow_runs/{id}/resume": the path rebuilt from converted values
    convertors: Mapping[str, Convertor[Any]]

    @property
    def display(self) -> str:
        """The template as people write it: ``POST /flow_runs/{id}/set_state``."""
        return self.method + " " + _PARAM.sub(r"{\1}", self.template)


@dataclass(frozen=True)
class RouteMatch:
    """A request path matched the way Prefect's router matches it."""

    route: _Route
    params: Mapping[str, str]  # canonical text of each converted value (a UUID with dashes, lower case)
    path: str  # the canonical path, decoded: the template filled with ``params``

    @property
    def display(self) -> str:
        return self.route.display


def _parse_table(text: str) -> dict[str, list[_Route]]:
    by_method: dict[str, list[_Route]] = {}
    for line in text.strip().splitlines():
        method, template, perms, action, *rule = line.split()
        names = perms.split("|")
        pattern, format_, convertors = compile_path(template)
        route = _Route(method, template, frozenset(Perm(n) for n in names), Perm(names[0]),
                       None if action == "-" else action, rule[0] if rule else None, pattern, format_, convertors)
        by_method.setdefault(method, []).append(route)
    return by_method


_ROUTES = _parse_table(_TABLE)


def match_route(method: str, path: str) -> RouteMatch | None:
    """The route Prefect's router picks for ``path`` (decoded, relative to the API root), the first in
    router order, with its parameters converted by Starlette's convertors and the canonical path.

    A path that differs from a template only by its trailing slash matches it: Prefect's router
    redirects there, and the canonical path is the template's own form (no redirect to follow).
    """
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        return None  # Starlette's "$" would match before a final newline; no Prefect path holds controls
    # No case folding: Starlette compares the method as sent, so "post" matches no Prefect route.
    candidates = _ROUTES.get("GET" if method == "HEAD" else method, [])
    other = path[:-1] if path.endswith("/") and len(path) > 1 else path + "/"
    for candidate in (path, other):
        for route in candidates:
            found = route.pattern.match(candidate)
            if not found:
                continue
            params: dict[str, str] = {}
            for name, text in found.groupdict().items():
                convertor = route.convertors[name]
                params[name] = convertor.to_string(convertor.convert(text))
            return RouteMatch(route, params, route.format.format(**params))
    return None


def classify(method: str, path: str) -> tuple[str, Perm] | None:
    """(route template, base permission) for a request, or None when the gateway does not know it."""
    found = match_route(method, path)
    return (found.display, found.route.primary) if found else None


def websocket_permission(path: str) -> Perm | None:
    """The permission a websocket at ``path`` needs, or None when it is not a Prefect websocket."""
    found = classify("WS", path)
    return found[1] if found else None


# -- body and query rules --------------------------------------------------------------------------
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


def prefect_routes() -> list[tuple[str, str]]:
    """(METHOD, path template) of every HTTP and websocket route of the installed Prefect API app.

    Builds the app the way ``prefect server start`` does (``create_api_app``), which neither starts
    a server nor opens a database. HEAD is left out (Starlette adds it to every GET).
    """
    from prefect.server.api.server import create_api_app
    from starlette.routing import Mount, Route, WebSocketRoute

    found: list[tuple[str, str]] = []

    def walk(routes: Sequence[Any], prefix: str) -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:  # FastAPI >= 0.137 keeps an included router as one branch
                walk(original.routes, prefix + getattr(getattr(route, "include_context", None), "prefix", ""))
            elif isinstance(route, WebSocketRoute):
                found.append(("WS", prefix + route.path))
            elif isinstance(route, Route):
                found.extend((m, prefix + route.path) for m in sorted(route.methods or ()) if m != "HEAD")
            elif isinstance(route, Mount):
                if route.routes:
                    walk(route.routes, prefix + route.path)
                else:
                    found.append(("GET", prefix + route.path + "/{path:path}"))
            else:
                raise TypeError(f"unknown kind of route in Prefect's API app: {type(route).__name__}")

    walk(create_api_app().routes, "")
    return found
