"""Which permission each Prefect API route needs: the route table, and matching a path the way Prefect does.

Every route of the installed Prefect API is listed in ``_TABLE``; anything else is refused (fail
closed). ``tests/unit/gateway/test_policy.py`` compares the table with the routes Prefect serves
(:func:`prefect_routes`), so a Prefect upgrade that adds a route fails the tests until the route is
classified here. A route whose body or query matters names its rule, in :mod:`.rules`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.convertors import Convertor
from starlette.routing import compile_path

from nornflow.gateway.policy.roles import Perm

# METHOD  Prefect's path template  permissions (any one suffices)  audit action ("-": none)  [body rule]
# Where a body rule is named, the rule decides (nornflow.gateway.policy.rules); the first permission is what classify()
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
