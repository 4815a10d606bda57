"""The checks that need a request's parsed body, and sometimes the server's state, before it is forwarded.

Each check decides on the values Prefect will act on (see :mod:`nornflow.gateway.proxy.request`): the
parameters a run starts with are the deployment's defaults merged with the request's and hydrated, the
answer to an approval is the hydrated ``run_input``. Each returns the body to forward in its canonical form
(approver stamped, ``override_by`` stamped, hydrated values made inert) or the reason for a refusal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nornflow.gateway.auth.caller import Principal
from nornflow.gateway.policy.blocks import ROUTES as BLOCK_ROUTES
from nornflow.gateway.policy.blocks import check_block_write
from nornflow.gateway.policy.changes import guard_change_parameters, guard_deployment_defaults, schema_defaults
from nornflow.gateway.policy.parameters import (
    LAB_VARIABLE,
    auto_approve_refusal,
    governed_tags,
    plain_governed,
    runner_refusal,
    runner_settable,
    same,
    truthy,
)
from nornflow.gateway.policy.roles import Perm
from nornflow.gateway.policy.routes import RouteMatch
from nornflow.gateway.proxy.http import BadRequest
from nornflow.gateway.proxy.request import REMOVED, Fetch, hydrated, inert

RESUME = "POST /flow_runs/{id}/resume"
RUN_INPUT = "POST /flow_runs/{id}/input"
CREATE_RUN = "POST /deployments/{id}/create_flow_run"
CREATE_RUNS = "POST /deployments/{id}/create_flow_run/bulk"
NEW_FLOW_RUN = "POST /flow_runs/"
PATCH_FLOW_RUN = "PATCH /flow_runs/{id}"
#: Routes whose success creates flow runs: who started each is remembered for four-eyes.
STARTS_RUNS = frozenset({CREATE_RUN, CREATE_RUNS, NEW_FLOW_RUN})
_DEPLOYMENT_WRITES = frozenset({"POST /deployments/", "PATCH /deployments/{id}"})
_AUTOMATION_WRITES = frozenset({"POST /automations/", "PUT /automations/{id}"})
_ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")
_VARIABLE_WRITES = frozenset({"POST /variables/", "PATCH /variables/{id}", "PATCH /variables/name/{name}",
                              "DELETE /variables/{id}", "DELETE /variables/name/{name}"})


@dataclass
class Outcome:
    """A guard's answer: a refusal (with its status), or the body to forward and what to audit."""

    refusal: str | None = None
    status: int = 403
    payload: Any = None
    overrides: list[dict[str, Any]] = field(default_factory=list)
    approval: dict[str, Any] | None = None


@dataclass
class Guards:
    """The body checks of one request by ``principal`` in a workspace; ``fetch`` reads its server."""

    fetch: Fetch
    workspace: str
    lab: bool
    principal: Principal

    async def check(self, match: RouteMatch, payload: Any) -> Outcome:
        route = match.display
        if route == RESUME:
            return await self._resume(match, payload)
        if route == RUN_INPUT:
            return self._run_input(match, payload)
        if route in (CREATE_RUN, CREATE_RUNS):
            return await self._create_runs(match, payload)
        if route in (NEW_FLOW_RUN, PATCH_FLOW_RUN):
            return self._flow_run_write(payload)
        if route in _DEPLOYMENT_WRITES:
            return self._deployment_write(payload)
        if route in _AUTOMATION_WRITES:
            return self._automation_write(payload)
        if route in _VARIABLE_WRITES:
            return await self._variable_write(match, payload)
        if route in BLOCK_ROUTES:
            refusal = await check_block_write(match.route.method, route, match.params, payload,
                                              self.principal.perms, self.fetch)
            return Outcome(refusal, payload=payload)
        return Outcome(payload=payload)

    # -- approvals --------------------------------------------------------------------------------
    async def _resume(self, match: RouteMatch, payload: Any) -> Outcome:
        """``run_input`` is hydrated by the server before the flow reads it: stamp and audit that value."""
        if payload is None:
            return Outcome(payload=payload, approval={"flow_run": match.params["id"]})
        if not isinstance(payload, dict):
            raise BadRequest(400, "the body of a resume must be a JSON object")
        answer = payload.get("run_input")
        if answer is not None:
            if not isinstance(answer, dict):
                raise BadRequest(400, "run_input must be a JSON object")
            answer = await hydrated(answer, self.fetch, "run_input")
            if not isinstance(answer, dict):
                raise BadRequest(400, "run_input must be a JSON object once hydrated")
            answer = {**answer, "approver": self.principal.user}
            payload = {**payload, "run_input": inert(answer)}
        return Outcome(payload=payload, approval=_approval(match.params["id"], answer))

    def _run_input(self, match: RouteMatch, payload: Any) -> Outcome:
        """A ``*-response`` input answers an approval: its JSON-string value gets the real approver."""
        key = payload.get("key") if isinstance(payload, dict) else None
        if not isinstance(key, str) or not key.strip().lower().endswith("-response"):
            return Outcome(payload=payload)
        value = payload.get("value")
        answer: Any = None
        if isinstance(value, str):
            try:
                answer = json.loads(value)
            except ValueError:
                raise BadRequest(400, "the value of an approval input must be a JSON object") from None
        if not isinstance(answer, dict):
            raise BadRequest(400, "the value of an approval input must be a JSON object")
        answer = {**answer, "approver": self.principal.user}
        return Outcome(payload={**payload, "value": json.dumps(answer)}, approval=_approval(match.params["id"], answer))

    # -- starting runs ----------------------------------------------------------------------------
    async def _create_runs(self, match: RouteMatch, payload: Any) -> Outcome:
        bulk = match.display == CREATE_RUNS
        runs = payload if bulk else [payload if payload is not None else {}]
        if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
            raise BadRequest(400, "the body must be a JSON object (a list of them for /bulk)")
        status, deployment = await self.fetch(f"/deployments/{match.params['id']}")
        if status == 404:
            return Outcome("deployment not found", 404)
        if status != 200 or not isinstance(deployment, dict):
            return Outcome("the deployment cannot be read to check the run's parameters: try again shortly", 503)
        outcome = Outcome()
        forwarded = []
        for run in runs:
            refusal, run = await self._one_run(deployment, run, outcome.overrides)
            if refusal:
                return Outcome(refusal)
            forwarded.append(run)
        outcome.payload = forwarded if bulk else forwarded[0]
        return outcome

    async def _one_run(self, deployment: dict[str, Any], run: dict[str, Any],
                       overrides: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
        """Decide on the parameters Prefect will start the run with, and forward exactly those.

        Prefect merges the request's parameters over the deployment's and hydrates the result
        (``create_flow_run_from_deployment``): a top-level ``__prefect_kind`` wrapper replaces the
        defaults altogether, a value that hydrates to nothing drops its key. So the decision is on
        ``effective`` (that merge, hydrated by Prefect's code), what the request changed is what
        differs from the deployment's own hydrated defaults, and what goes on is every effective
        value (inert) plus a removal for each default the run does not keep.
        """
        sent = run.get("parameters")
        if sent is None:
            sent = {}
        if not isinstance(sent, dict):
            raise BadRequest(400, "parameters must be a JSON object")
        defaults = deployment.get("parameters") or {}
        own = await hydrated(dict(defaults), self.fetch, "the deployment's parameters")
        effective = await hydrated({**defaults, **sent}, self.fetch, "the run's parameters") if sent else dict(own)
        refusal = auto_approve_refusal(effective, lab=self.lab, workspace=self.workspace)
        if refusal:
            return refusal, run
        changed = {name: value for name, value in effective.items() if name not in own or not same(value, own[name])}
        stamped = dict(changed)
        refusal, found = guard_change_parameters({"parameters": stamped}, self.principal.user, self.principal.perms,
                                                 deployment=True)
        if refusal:
            return refusal, run
        perms = self.principal.perms
        if Perm.DEVELOP not in perms and Perm.WORK not in perms:
            baseline = {**schema_defaults(deployment.get("parameter_openapi_schema")), **own}
            names = (set(effective) | set(own)) - {"override_by"}
            refusal = runner_refusal(names, effective, baseline, runner_settable(deployment.get("tags") or []))
            if refusal:
                return refusal, run
        overrides.extend(found)
        final = {**effective, **stamped}
        if "override_by" in changed and "override_by" not in stamped:  # claimed without an override: not kept
            final.pop("override_by")
            if "override_by" in own:
                final["override_by"] = own["override_by"]
        parameters = {name: inert(value) for name, value in final.items()}
        parameters.update({name: dict(REMOVED) for name in defaults if name not in final})
        return None, {**run, "parameters": parameters}

    def _flow_run_write(self, payload: Any) -> Outcome:
        """A flow run created or changed directly (a subflow, a worker's write): not hydrated by Prefect."""
        parameters = payload.get("parameters") if isinstance(payload, dict) else None
        if not isinstance(parameters, dict):
            return Outcome(payload=payload)
        refusal = auto_approve_refusal(parameters, lab=self.lab, workspace=self.workspace)
        if refusal:
            return Outcome(refusal)
        refusal, overrides = guard_change_parameters(payload, self.principal.user, self.principal.perms,
                                                     deployment=False)
        return Outcome(refusal, payload=payload, overrides=overrides)

    def _deployment_write(self, payload: Any) -> Outcome:
        if not isinstance(payload, dict):
            return Outcome(payload=payload)
        parameters = payload.get("parameters")
        defaults = {**schema_defaults(payload.get("parameter_openapi_schema")),
                    **(parameters if isinstance(parameters, dict) else {})}
        refusal = (plain_governed(defaults, "a deployment's defaults")
                   or auto_approve_refusal(defaults, lab=self.lab, workspace=self.workspace))
        tags = payload.get("tags")
        if not refusal and isinstance(tags, list) and governed_tags(tags):
            refusal = (f"{', '.join(governed_tags(tags))}: these parameters decide how a change is approved or "
                       "windowed and are never runner-settable")
        if refusal:
            return Outcome(refusal)
        refusal, overrides = guard_deployment_defaults(payload, self.principal.user, self.principal.perms)
        return Outcome(refusal, payload=payload, overrides=overrides)

    def _automation_write(self, payload: Any) -> Outcome:
        """A run-deployment action starts runs with its parameters every time it fires, with no one starting
        them: its governed parameters are held to the rules of a deployment's defaults."""
        if not isinstance(payload, dict):
            return Outcome(payload=payload)
        overrides: list[dict[str, Any]] = []
        for key in _ACTION_LISTS:
            actions = payload.get(key)
            for action in actions if isinstance(actions, list) else []:
                parameters = action.get("parameters") if isinstance(action, dict) else None
                if not isinstance(action, dict) or action.get("type") != "run-deployment" \
                        or not isinstance(parameters, dict):
                    continue
                refusal = (plain_governed(parameters, "an automation's run-deployment action")
                           or auto_approve_refusal(parameters, lab=self.lab, workspace=self.workspace))
                if refusal:
                    return Outcome(refusal)
                refusal, found = guard_deployment_defaults({"parameters": parameters}, self.principal.user,
                                                           self.principal.perms)
                if refusal:
                    return Outcome(refusal.replace("a deployment default", "an automation's action"))
                overrides.extend({**item, "as": "automation action"} for item in found)
        return Outcome(payload=payload, overrides=overrides)

    async def _variable_write(self, match: RouteMatch, payload: Any) -> Outcome:
        names = {match.params.get("name")}
        if isinstance(payload, dict):
            names.add(payload.get("name"))
        if "id" in match.params:
            status, found = await self.fetch(f"/variables/{match.params['id']}")
            if status == 200 and isinstance(found, dict):
                names.add(found.get("name"))
            elif status != 404:
                return Outcome("the variable cannot be read to check the write: try again shortly", 503)
        if LAB_VARIABLE in names:
            return Outcome(f"the {LAB_VARIABLE} variable says whether this workspace is a lab (where auto_approve "
                           "works): the gateway sets it from the workspace's `lab` setting; nobody writes it")
        return Outcome(payload=payload)


def _approval(flow_run: str, answer: Any) -> dict[str, Any]:
    """What the audit keeps of an approval: the run, the verdict and the plan hash (never free text)."""
    detail: dict[str, Any] = {"flow_run": flow_run}
    if isinstance(answer, dict):
        detail["approve"] = truthy(answer.get("approve"))  # as the flow's pydantic model reads it
        detail["plan_hash"] = str(answer.get("plan_hash", ""))[:80]
    return detail
