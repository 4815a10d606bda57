"""Deciding one API request: read it as Prefect will, authorize the route and body, then check what needs
the workspace server's state (a paused run, a change's retry, a pool's job template, four-eyes) and the
guards on the parsed body. The answer is the canonical request to forward, or the refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.requests import Request

from nornflow.gateway.audit.events import claims_audit
from nornflow.gateway.auth.caller import Principal
from nornflow.gateway.policy.guards import Guards
from nornflow.gateway.policy.roles import Perm
from nornflow.gateway.policy.routes import RouteMatch, match_route
from nornflow.gateway.policy.rules import Verdict, authorize
from nornflow.gateway.proxy.request import Body, Fetch, parse_body, quote_path, read_body
from nornflow.gateway.proxy.upstream import Upstream
from nornflow.gateway.store import GatewayStore

#: The flow whose retry resumes a change under its earlier approval (nornflow.flows.deploy_config).
CHANGE_FLOW = "deploy_config"
_TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


#: The one Prefect request a hook delivery makes (``/w/<workspace>/hooks/<name>``, authenticated by the
#: sender's signature, never by a user's token): its event, posted to its own workspace's server.
HOOK_REQUEST = "POST /events"


def decide_hook(method: str, api_path: str, events: Any) -> str | None:
    """None when a hook may make this upstream request (Prefect's ``POST /events``, read as Prefect's router
    reads the path); else the reason it may not. The gateway's own audit events are never a hook's."""
    match = match_route(method, api_path)
    if match is None or match.display != HOOK_REQUEST:
        return f"a hook may only post its event ({HOOK_REQUEST}), not {method} {api_path}"
    if claims_audit(events):
        return "nornflow.audit.* events are written by the gateway only"
    return None


@dataclass(frozen=True)
class Refusal:
    """A request the gateway answers itself: the status and the reason shown and audited."""

    status: int
    reason: str


@dataclass(frozen=True)
class Decision:
    """A request to forward as decided: its route, the canonical body, and what to audit of it."""

    verdict: Verdict
    match: RouteMatch
    body: bytes
    approval: dict[str, Any] | None = None
    overrides: list[dict[str, Any]] = field(default_factory=list)


class Decider:
    """Decides the API requests of every workspace in ``upstreams``; reads their servers with ``client``."""

    def __init__(self, client: httpx.AsyncClient, store: GatewayStore, upstreams: dict[str, Upstream],
                 max_body_bytes: int) -> None:
        self.client = client
        self.store = store
        self.upstreams = upstreams
        self.max_body_bytes = max_body_bytes

    async def decide(self, request: Request, upstream: Upstream, api_path: str,
                     principal: Principal) -> Refusal | Decision:
        """Read the request as Prefect will (:mod:`nornflow.gateway.proxy.request`), decide on that reading,
        and give the canonical request to forward, or the refusal. Reads the workspace's server where a rule
        needs its state."""
        workspace = upstream.name
        body = parse_body(await read_body(request, self.max_body_bytes), request.headers.get("content-type", ""))
        match = match_route(request.method, api_path)
        if match is not None and match.display == "POST /events" and claims_audit(body.value):
            return Refusal(403, "nornflow.audit.* events are written by the gateway only")
        verdict = authorize(request.method, api_path, parse_qsl(request.url.query, keep_blank_values=True),
                            body.value, principal.perms, match=match)
        if not verdict.allowed or match is None:
            return Refusal(verdict.status, verdict.reason)
        if verdict.check_not_paused and await self._is_paused(upstream, verdict.check_not_paused):
            if Perm.APPROVE not in principal.perms:
                return Refusal(403, "this flow run is paused for an approval (or its state could not be read): "
                                    "only an approver can resume it, with the approval form in the UI")
            refusal = self._four_eyes(workspace, match, principal)  # moving a paused run on answers its approval
            if refusal:
                return Refusal(403, refusal)
        if verdict.check_change_retry and await self._is_change_retry(upstream, verdict.check_change_retry):
            return Refusal(403, f"retrying a {CHANGE_FLOW} run resumes its change under the earlier approval: "
                                "only an approver may retry it (or start a new run, which is planned and approved "
                                "afresh)")
        if verdict.check_empty_job_template and await self._has_job_template(upstream,
                                                                           verdict.check_empty_job_template):
            return Refusal(403, "a worker may set a work pool's job template only while the pool has none: "
                                "ask a developer to change it")
        if verdict.action == "approval":
            refusal = self._four_eyes(workspace, match, principal)
            if refusal:
                return Refusal(403, refusal)
        outcome = await Guards(self._fetcher(upstream), workspace, upstream.lab, principal).check(match, body.value)
        if outcome.refusal:
            return Refusal(outcome.status, outcome.refusal)
        return Decision(verdict, match, Body(outcome.payload, body.present).canonical(), outcome.approval,
                        outcome.overrides)

    def _fetcher(self, upstream: Upstream) -> Fetch:
        async def fetch(path: str, body: Any = None, /) -> tuple[int, Any]:
            url, headers = upstream.api_url + quote_path(path), {"authorization": upstream.authorization}
            try:
                reply = await (self.client.get(url, headers=headers) if body is None else
                               self.client.post(url, headers=headers, json=body))
            except httpx.HTTPError:
                return 502, None
            try:
                return reply.status_code, reply.json()
            except ValueError:
                return reply.status_code, None
        return fetch

    async def _is_paused(self, upstream: Upstream, flow_run_id: str) -> bool:
        """True when the run is paused, or when its state cannot be read (fail closed)."""
        response = await self.client.get(f"{upstream.api_url}/flow_runs/{flow_run_id}",
                                         headers={"authorization": upstream.authorization})
        if response.status_code == 404:
            return False  # an unknown run: Prefect answers 404 to the request itself
        if response.status_code != 200:
            return True
        state = response.json().get("state") or {}
        return bool(state.get("type") == "PAUSED")

    async def _is_change_retry(self, upstream: Upstream, flow_run_id: str) -> bool:
        """True when the run is a finished deploy_config run (its retry resumes the change from its
        ledger under the earlier approval), or when that cannot be read (fail closed)."""
        headers = {"authorization": upstream.authorization}
        run = await self.client.get(f"{upstream.api_url}/flow_runs/{flow_run_id}", headers=headers)
        if run.status_code == 404:
            return False
        if run.status_code != 200:
            return True
        if (run.json().get("state") or {}).get("type") not in _TERMINAL:
            return False  # the engine's own retries (RUNNING -> AwaitingRetry) and reschedules
        flow = await self.client.get(f"{upstream.api_url}/flows/{run.json().get('flow_id')}", headers=headers)
        return flow.status_code != 200 or flow.json().get("name") == CHANGE_FLOW

    async def _has_job_template(self, upstream: Upstream, pool: str) -> bool:
        """True when the pool already has a job template, or when that cannot be read (fail closed)."""
        response = await self.client.get(f"{upstream.api_url}/work_pools/{pool}",
                                         headers={"authorization": upstream.authorization})
        if response.status_code == 404:
            return False
        return response.status_code != 200 or bool(response.json().get("base_job_template"))

    def _four_eyes(self, workspace: str, match: RouteMatch, principal: Principal) -> str | None:
        run_id = match.params.get("id") if match.route.template.startswith("/flow_runs/") else None
        if not run_id or not self.upstreams[workspace].four_eyes:
            return None
        starter = self.store.run_starter(workspace, run_id)
        if starter and starter == principal.user:
            return (f"four-eyes: {principal.user} started this change and cannot approve it; "
                    "another approver of the workspace must answer")
        return None
