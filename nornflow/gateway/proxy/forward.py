"""Forwarding a request to its workspace's server, as decided, and what follows the answer: secrets
masked in block documents, who started each new run remembered (for four-eyes), the write audited."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from nornflow.gateway.auth.caller import Principal
from nornflow.gateway.policy.guards import STARTS_RUNS
from nornflow.gateway.policy.masking import DOCUMENT_READS, mask_documents
from nornflow.gateway.policy.roles import Perm
from nornflow.gateway.policy.routes import RouteMatch
from nornflow.gateway.policy.rules import Verdict
from nornflow.gateway.proxy.front import Front
from nornflow.gateway.proxy.http import DROP_REQUEST, DROP_RESPONSE, DROP_RESPONSE_PREFIXES, internal_location
from nornflow.gateway.proxy.request import quote_path
from nornflow.gateway.proxy.upstream import Upstream, api_prefix
from nornflow.gateway.store import GatewayStore

log = logging.getLogger("nornflow.gateway")
_BUFFERED = 256 * 1024  # answers smaller than this are read in one go instead of streamed


class Forwarder:
    """Sends requests on with ``client``; answers through ``front``; records run starters in ``store``."""

    def __init__(self, client: httpx.AsyncClient, front: Front, store: GatewayStore) -> None:
        self.client = client
        self.front = front
        self.store = store
        self.on_upstream_error: Callable[[str], None] | None = None  # the composer's metrics hook

    async def forward(self, request: Request, upstream: Upstream, principal: Principal | None, body: bytes, *,
                      verdict: Verdict | None = None, match: RouteMatch | None = None,
                      approval: dict[str, Any] | None = None, origin: str = "", html: bool = False) -> Response:
        """Send the request on; an API request goes as decided: the canonical path, the canonical JSON body."""
        headers = [(k, v) for k, v in request.headers.items() if k not in DROP_REQUEST]
        if match is not None:
            raw_path = api_prefix(upstream.name) + quote_path(match.path)
            headers = [(k, v) for k, v in headers if k not in ("content-type", "content-encoding")]
            if body:
                headers.append(("content-type", "application/json"))
        else:
            raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        headers.append(("authorization", upstream.authorization))
        if "accept-encoding" not in request.headers:
            headers.append(("accept-encoding", "identity"))  # httpx would ask for gzip on the caller's behalf
        if request.client:
            headers.append(("x-forwarded-for", self.front.ip_of(request)))
        outgoing = self.client.build_request(request.method, upstream.base_url + raw_path,
                                             params=request.url.query or None, headers=headers, content=body or None)
        try:
            reply = await self.client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            log.warning("workspace %s: upstream error %s", upstream.name, exc)
            if self.on_upstream_error is not None:
                self.on_upstream_error(upstream.name)
            return self.front.finish(JSONResponse({"detail": f"workspace {upstream.name!r} is not answering; "
                                                             "try again shortly"}, 502), origin=origin)
        keep = [(k, internal_location(v, upstream.base_url) if k.lower() == "location" else v)
                for k, v in reply.headers.multi_items()
                if k.lower() not in DROP_RESPONSE and not k.lower().startswith(DROP_RESPONSE_PREFIXES)]
        if (match is not None and match.display in DOCUMENT_READS and reply.status_code == 200
                and (verdict is None or verdict.action != "secret.read")):
            await reply.aread()
            await reply.aclose()
            try:
                masked = json.dumps(mask_documents(reply.json())).encode()
            except ValueError:
                return self.front.finish(JSONResponse({"detail": "the workspace answered a block read the gateway "
                                                                 "cannot check for secrets"}, 502), origin=origin)
            keep = [(k, v) for k, v in keep if k.lower() not in ("content-length", "content-encoding")]
            response: Response = Response(masked, 200, headers=dict(keep))
        elif verdict is not None and principal is not None and verdict.action:
            await reply.aread()
            await reply.aclose()
            starters: dict[str, str] = {}
            if match is not None and match.display in STARTS_RUNS and reply.status_code < 300:
                starters = await self._starters(upstream, principal, body, reply)
            self._after(request, upstream.name, principal, verdict, match, reply, approval, starters)
            keep = [(k, v) for k, v in keep if k.lower() not in ("content-length", "content-encoding")]
            response = Response(reply.content, reply.status_code, headers=dict(keep))
        elif reply.headers.get("content-length", "").isdigit() and int(reply.headers["content-length"]) < _BUFFERED:
            # Most API answers are small: one read is cheaper than the streaming machinery.
            body = b"".join([chunk async for chunk in reply.aiter_raw()])
            await reply.aclose()
            response = Response(body, reply.status_code)
            response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in keep]
        else:
            response = StreamingResponse(reply.aiter_raw(), reply.status_code, background=BackgroundTask(reply.aclose))
            response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in keep]
        return self.front.finish(response, html=html, origin=origin)

    async def _starters(self, upstream: Upstream, principal: Principal, body: bytes,
                        reply: httpx.Response) -> dict[str, str]:
        """{created run id: who counts as its starter} for a request that created runs."""
        created = reply.json()
        runs = [run for run in (created if isinstance(created, list) else [created])
                if isinstance(run, dict) and run.get("id")]
        try:
            sent = json.loads(body) if body else {}
        except ValueError:
            sent = {}
        asked = sent if isinstance(sent, list) else [sent]
        starters: dict[str, str] = {}
        for index, run in enumerate(runs):
            request_run = asked[index] if index < len(asked) and isinstance(asked[index], dict) else {}
            parent = run.get("parent_task_run_id") or request_run.get("parent_task_run_id")
            starters[str(uuid.UUID(str(run["id"])))] = await self._starter_of(
                upstream, principal, {"parent_task_run_id": parent})
        return starters

    async def _starter_of(self, upstream: Upstream, principal: Principal, run: dict[str, Any]) -> str:
        """Who a new run counts as started by, for four-eyes.

        A run a flow run creates (``run_deployment``, a subflow) is sent with the worker's credential
        that every flow run holds; it counts as started by whoever started its parent run, so a
        person cannot start a parent that starts a change and then approve that change.
        """
        parent = run.get("parent_task_run_id")
        if not parent or Perm.WORK not in principal.perms:
            return principal.user
        task_run = await self.client.get(f"{upstream.api_url}/task_runs/{parent}",
                                         headers={"authorization": upstream.authorization})
        parent_run = task_run.json().get("flow_run_id") if task_run.status_code == 200 else None
        starter = self.store.run_starter(upstream.name, str(parent_run)) if parent_run else None
        return starter or principal.user

    def _after(self, request: Request, workspace: str, principal: Principal, verdict: Verdict,
               match: RouteMatch | None, reply: httpx.Response, approval: dict[str, Any] | None,
               starters: dict[str, str]) -> None:
        """Audit what was done, and remember who started a run (for four-eyes)."""
        detail: dict[str, Any] = {"route": verdict.route, "via": principal.kind}
        if principal.token_id:
            detail["token_id"] = principal.token_id
        for run_id, starter in starters.items():
            self.store.record_run_starter(workspace, run_id, starter)
            detail.setdefault("flow_runs", []).append(run_id)
            if starter != principal.user:
                detail.setdefault("started_for", {})[run_id] = starter
        if verdict.action == "approval" and approval is not None:
            detail.update(approval)
        if verdict.action == "secret.read" and match is not None:
            detail["block"] = match.path
        self.front.record(request, workspace, principal.user, verdict.action or "write", reply.status_code, detail)
