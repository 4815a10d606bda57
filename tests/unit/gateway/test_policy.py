"""The gateway's authorization: every Prefect route classified, and each role against the routes that matter."""

import re
from typing import Any

import pytest
from starlette.routing import compile_path

from nornflow.gateway.errors import RoleError
from nornflow.gateway.policy.roles import ROLE_PERMS, Perm, Role, perms_for
from nornflow.gateway.policy.routes import classify, prefect_routes, websocket_permission
from nornflow.gateway.policy.rules import authorize

RUN_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
DEPLOYMENT = f"/deployments/{RUN_ID}/create_flow_run"
SET_STATE = f"/flow_runs/{RUN_ID}/set_state"
BLOCK = f"/block_documents/{RUN_ID}"


@pytest.fixture(scope="module")
def routes() -> list[tuple[str, str]]:
    return prefect_routes()


def sample_path(template: str, override: tuple[str, str] | None = None) -> str:
    """A concrete path for a template; ``override`` puts a given value in one parameter."""

    def value(param: re.Match[str]) -> str:
        name, kind = param.group(1), param.group(2) or "str"
        if override and name == override[0]:
            return override[1]
        return {"uuid": RUN_ID, "path": "a/b", "int": "7", "float": "1.5"}.get(kind, "sample-name")

    return re.sub(r"\{(\w+)(?::(\w+))?\}", value, template)


def display(template: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", template)


def test_every_installed_prefect_route_is_classified(routes):
    assert len(routes) >= 180, f"prefect_routes() found only {len(routes)} routes"
    missing = []
    for method, template in routes:
        found = classify("GET" if method == "HEAD" else method, sample_path(template))
        if found is None or found[0] != f"{method} {display(template)}":
            missing.append(f"{method} {template} (classified as {found})")
    print("\n".join(["routes the gateway does not classify:", *missing]) if missing else "all classified")
    assert not missing, "classify these routes in nornflow/gateway/policy/routes.py:\n" + "\n".join(missing)
    assert ("WS", "/events/in") in routes and ("GET", "/health") in routes


def test_matching_picks_the_route_prefect_would_pick(routes):
    """For paths where templates could collide (a literal where a parameter goes), Starlette's first match wins."""
    compiled = [(method, template, compile_path(template)[0]) for method, template in routes]
    literals = {part for _, template in routes for part in template.split("/") if part and "{" not in part}
    checked = 0
    for method, template in routes:
        for name in re.findall(r"\{(\w+)", template):
            for literal in literals:
                path = sample_path(template, (name, literal))
                prefect_pick = next((t for m, t, rx in compiled if m == method and rx.match(path)), None)
                if prefect_pick is None:
                    continue
                found = classify(method, path)
                assert found is not None and found[0] == f"{method} {display(prefect_pick)}", (method, path)
                checked += 1
    assert checked > 1000


VIEWER, RUNNER, APPROVER = perms_for(["viewer"]), perms_for(["runner"]), perms_for(["approver"])
DEVELOPER, WORKER, OWNER = perms_for(["developer"]), perms_for(["worker"]), perms_for(["owner"])

CASES: list[tuple[str, frozenset[Perm], str, str, list[tuple[str, str]], Any, bool]] = [
    # (case, perms, method, path, query, body, allowed)
    ("viewer reads a flow run", VIEWER, "GET", f"/flow_runs/{RUN_ID}", [], None, True),
    ("viewer filters flow runs", VIEWER, "POST", "/flow_runs/filter", [], {"limit": 10}, True),
    ("viewer logs in (UI check)", VIEWER, "GET", "/admin/version", [], None, True),
    ("viewer reads a block without secrets", VIEWER, "GET", BLOCK, [("include_secrets", "false")], None, True),
    ("viewer cannot start a deployment", VIEWER, "POST", DEPLOYMENT, [], {"parameters": {}}, False),
    ("viewer cannot read server settings", VIEWER, "GET", "/admin/settings", [], None, False),
    ("viewer secrets ?on", VIEWER, "GET", BLOCK, [("include_secrets", "on")], None, False),
    ("viewer secrets ?TRUE", VIEWER, "GET", BLOCK, [("include_secrets", "TRUE")], None, False),
    ("viewer secrets ?1", VIEWER, "GET", BLOCK, [("include_secrets", "1")], None, False),
    ("viewer secrets ?Yes", VIEWER, "GET", "/block_types/slug/x/block_documents/name/y",
     [("include_secrets", "Yes")], None, False),
    ("viewer secrets duplicate true last", VIEWER, "GET", BLOCK,
     [("include_secrets", "false"), ("include_secrets", "true")], None, False),
    ("viewer secrets duplicate both false", VIEWER, "GET", BLOCK,
     [("include_secrets", "false"), ("include_secrets", "0")], None, False),
    ("viewer secrets in a filter body", VIEWER, "POST", "/block_documents/filter", [],
     {"include_secrets": "yes"}, False),
    ("viewer filters blocks without secrets", VIEWER, "POST", "/block_documents/filter", [],
     {"include_secrets": False}, True),
    ("runner starts with parameters", RUNNER, "POST", DEPLOYMENT, [],
     {"parameters": {"hosts": ["r1"]}, "name": "n", "tags": ["t"], "state": {"type": "SCHEDULED"}}, True),
    ("runner starts the way the Python client sends it", RUNNER, "POST", DEPLOYMENT, [],
     {"parameters": {}, "context": {}, "state": {"type": "SCHEDULED", "name": "Scheduled"}, "tags": [],
      "job_variables": None, "labels": {}}, True),
    ("runner starts with retries (UI custom run)", RUNNER, "POST", DEPLOYMENT, [],
     {"parameters": {}, "empirical_policy": {"retries": 2, "retry_delay": 10}}, True),
    ("runner cannot override job_variables", RUNNER, "POST", DEPLOYMENT, [],
     {"parameters": {}, "job_variables": {"command": "sh -c id"}}, False),
    ("runner cannot pick a work queue", RUNNER, "POST", DEPLOYMENT, [], {"work_queue_name": "other"}, False),
    ("runner cannot start a run RUNNING", RUNNER, "POST", DEPLOYMENT, [], {"state": {"type": "RUNNING"}}, False),
    ("runner cannot preset pause keys", RUNNER, "POST", DEPLOYMENT, [],
     {"empirical_policy": {"pause_keys": ["1"], "resuming": True}}, False),
    ("runner bulk start", RUNNER, "POST", DEPLOYMENT + "/bulk", [], [{"parameters": {}}, {"name": "b"}], True),
    ("runner bulk start with job_variables", RUNNER, "POST", DEPLOYMENT + "/bulk", [],
     [{"parameters": {}}, {"job_variables": {"image": "x"}}], False),
    ("runner cancels (UI sends force)", RUNNER, "POST", SET_STATE, [],
     {"state": {"type": "CANCELLING"}, "force": True}, True),
    ("runner retries", RUNNER, "POST", SET_STATE, [], {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}}, True),
    ("runner cannot set RUNNING", RUNNER, "POST", SET_STATE, [], {"state": {"type": "RUNNING"}}, False),
    ("runner cannot mark COMPLETED", RUNNER, "POST", SET_STATE, [],
     {"state": {"type": "COMPLETED"}, "force": 1}, False),
    ("runner cannot resume", RUNNER, "POST", f"/flow_runs/{RUN_ID}/resume", [], {}, False),
    ("runner bulk cancels", RUNNER, "POST", "/flow_runs/bulk_set_state", [], {"state": {"type": "CANCELLED"}}, True),
    ("runner cannot bulk reschedule", RUNNER, "POST", "/flow_runs/bulk_set_state", [],
     {"state": {"type": "SCHEDULED"}}, False),
    ("runner cannot read secrets", RUNNER, "GET", BLOCK, [("include_secrets", "true")], None, False),
    ("approver resumes", APPROVER, "POST", f"/flow_runs/{RUN_ID}/resume", [], {"run_input": {"ok": True}}, True),
    ("approver answers an approval input", APPROVER, "POST", f"/flow_runs/{RUN_ID}/input", [],
     {"key": "paused-1-response", "value": "{}"}, True),
    ("approver cannot cancel", APPROVER, "POST", SET_STATE, [], {"state": {"type": "CANCELLING"}}, False),
    ("worker cannot answer an approval", WORKER, "POST", f"/flow_runs/{RUN_ID}/input", [],
     {"key": "paused-xxx-response", "value": "{}"}, False),
    ("worker saves the pause schema", WORKER, "POST", f"/flow_runs/{RUN_ID}/input", [],
     {"key": "paused-xxx-schema", "value": "{}"}, True),
    ("worker cannot resume", WORKER, "POST", f"/flow_runs/{RUN_ID}/resume", [], None, False),
    ("worker reads a block with secrets", WORKER, "GET", BLOCK, [("include_secrets", "True")], None, True),
    ("worker sends logs", WORKER, "POST", "/logs/", [], [{"message": "m"}], True),
    ("worker polls its pool", WORKER, "POST", "/work_pools/pool/get_scheduled_flow_runs", [], {}, True),
    ("worker heartbeats", WORKER, "POST", "/work_pools/pool/workers/heartbeat", [], {"name": "w"}, True),
    ("worker renews a lease", WORKER, "POST", f"/v2/concurrency_limits/leases/{RUN_ID}/renew", [], {}, True),
    ("worker creates a missing pool", WORKER, "POST", "/work_pools/", [], {"name": "pool", "type": "process"}, True),
    ("worker creates a missing limit", WORKER, "POST", "/v2/concurrency_limits/", [], {"name": "site:a", "limit": 2},
     True),
    ("worker cannot change a limit", WORKER, "PATCH", "/v2/concurrency_limits/site:a", [], {"limit": 9}, False),
    ("worker cannot edit a pool", WORKER, "PATCH", "/work_pools/pool", [], {"description": "x"}, False),
    ("worker cannot change a deployment", WORKER, "PATCH", f"/deployments/{RUN_ID}", [], {"paused": False}, False),
    ("worker cannot delete a run", WORKER, "DELETE", f"/flow_runs/{RUN_ID}", [], None, False),
    ("developer patches a deployment", DEVELOPER, "PATCH", f"/deployments/{RUN_ID}", [], {"paused": True}, True),
    ("developer deploys (creates the flow)", DEVELOPER, "POST", "/flows/", [], {"name": "f"}, True),
    ("developer overrides job_variables", DEVELOPER, "POST", DEPLOYMENT, [], {"job_variables": {"a": 1}}, True),
    ("developer forces a state", DEVELOPER, "POST", SET_STATE, [], {"state": {"type": "FAILED"}, "force": True}, True),
    ("developer cannot set a state unforced", DEVELOPER, "POST", SET_STATE, [], {"state": {"type": "FAILED"}}, False),
    ("developer cannot bulk reschedule", DEVELOPER, "POST", "/flow_runs/bulk_set_state", [],
     {"state": {"type": "SCHEDULED"}}, False),
    ("developer deletes a run input", DEVELOPER, "DELETE", f"/flow_runs/{RUN_ID}/input/k", [], None, True),
    ("developer cannot read secrets", DEVELOPER, "POST", "/block_documents/filter", [], {"include_secrets": 1}, False),
    ("developer cannot change result storage", DEVELOPER, "PUT", "/admin/storage", [], {}, False),
    ("owner changes result storage", OWNER, "PUT", "/admin/storage", [],
     {"default_result_storage_block_id": None}, True),
    ("owner reads server settings", OWNER, "GET", "/admin/settings", [], None, True),
    ("owner bulk reschedules", OWNER, "POST", "/flow_runs/bulk_set_state", [], {"state": {"type": "SCHEDULED"}}, True),
]


@pytest.mark.parametrize(("perms", "method", "path", "query", "body", "allowed"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_roles_against_routes(perms, method, path, query, body, allowed):
    verdict = authorize(method, path, query, body, perms)
    assert verdict.allowed is allowed, verdict.reason
    assert verdict.status == (200 if allowed else 403), verdict
    assert verdict.route
    if not allowed:
        assert "needs the" in verdict.reason and "(roles: " in verdict.reason


def test_unknown_route_is_denied_with_the_reason():
    verdict = authorize("GET", "/secret_backdoor", [], None, OWNER)
    assert (verdict.allowed, verdict.status, verdict.route) == (False, 403, "")
    assert verdict.reason == "route not classified by the NornFlow gateway: GET /secret_backdoor"
    assert authorize("POST", "/admin/version", [], None, OWNER).status == 403  # right path, wrong method
    assert authorize("GET", f"/flow_runs/{RUN_ID}\n", [], None, OWNER).status == 403
    assert classify("GET", "/flow_runs/not-a-uuid") is None


def test_reasons_name_what_and_who():
    verdict = authorize("POST", DEPLOYMENT, [], {"job_variables": {"x": 1}, "work_queue_name": "q"}, RUNNER)
    assert verdict.reason == ("POST /deployments/{id}/create_flow_run with job_variables, work_queue_name "
                              "needs the develop permission (roles: developer, owner)")
    verdict = authorize("GET", BLOCK, [("include_secrets", "on")], None, VIEWER)
    assert verdict.reason.endswith("needs the secrets permission (roles: worker, owner)")


def test_secrets_reads_are_audited_and_bad_values_refused():
    verdict = authorize("GET", BLOCK, [("include_secrets", "y")], None, WORKER)
    assert (verdict.allowed, verdict.action) == (True, "secret.read")
    assert authorize("GET", BLOCK, [], None, VIEWER).action is None
    for bad in ("maybe", "2", "", "truee"):
        verdict = authorize("GET", BLOCK, [("include_secrets", bad)], None, OWNER)
        assert (verdict.allowed, verdict.status) == (False, 400), bad
    assert not authorize("GET", BLOCK, [("include_secrets", " true ")], None, VIEWER).allowed
    assert authorize("POST", "/block_documents/filter", [], {"include_secrets": None}, OWNER).status == 400


def test_set_state_paused_check():
    worker = authorize("POST", SET_STATE, [], {"state": {"type": "RUNNING"}}, WORKER)
    assert (worker.allowed, worker.check_not_paused, worker.action) == (True, RUN_ID, "flow_run.state")
    retry = authorize("POST", f"/flow_runs/{RUN_ID.upper().replace('-', '')}/set_state", [],
                      {"state": {"type": "SCHEDULED"}, "force": "true"}, RUNNER)
    assert retry.allowed and retry.check_not_paused == RUN_ID  # the canonical id, however the path spells it
    assert authorize("POST", SET_STATE, [], {"state": {"type": "CANCELLING"}}, RUNNER).check_not_paused is None
    # An owner may move a paused run on (an approver's act), so the gateway checks it too: four-eyes applies.
    owner = authorize("POST", SET_STATE, [], {"state": {"type": "RUNNING"}}, OWNER)
    assert owner.allowed and owner.check_not_paused == RUN_ID
    assert authorize("POST", SET_STATE, [], {"state": "RUNNING"}, WORKER).status == 400
    assert authorize("POST", SET_STATE, [], {"state": {"type": "RUNNING"}, "force": "maybe"}, WORKER).status == 400
    assert authorize("POST", SET_STATE, [], None, WORKER).status == 400


def test_inputs_resume_and_bodies():
    approval = authorize("POST", f"/flow_runs/{RUN_ID}/resume", [], None, APPROVER)
    assert (approval.allowed, approval.action, approval.route) == (True, "approval", "POST /flow_runs/{id}/resume")
    answer = authorize("POST", f"/flow_runs/{RUN_ID}/input", [], {"key": "paused-1-response", "value": "1"}, OWNER)
    assert answer.action == "approval"
    assert authorize("POST", f"/flow_runs/{RUN_ID}/input", [], {"key": 1}, OWNER).status == 400
    assert authorize("GET", f"/flow_runs/{RUN_ID}/input/paused-1-response", [], None, VIEWER).allowed
    assert authorize("POST", DEPLOYMENT + "/bulk", [], {"parameters": {}}, OWNER).status == 400
    assert authorize("POST", DEPLOYMENT, [], ["x"], OWNER).status == 400
    started = authorize("POST", DEPLOYMENT, [], {}, RUNNER)
    assert (started.allowed, started.action, started.route) == (True, "deployment.run",
                                                                 "POST /deployments/{id}/create_flow_run")


def test_worker_sets_the_template_of_a_pool_it_created():
    verdict = authorize("PATCH", "/work_pools/edge", [], {"base_job_template": {"job_configuration": {}}}, WORKER)
    assert (verdict.allowed, verdict.check_empty_job_template) == (True, "edge")
    developer = authorize("PATCH", "/work_pools/edge", [], {"base_job_template": {}}, DEVELOPER)
    assert developer.allowed and developer.check_empty_job_template is None


def test_classify_and_websockets():
    assert classify("GET", "/flows/") is None  # only POST /flows/ exists
    assert classify("POST", "/flows") == ("POST /flows/", Perm.WORK)
    assert classify("POST", "/flows/filter/") == ("POST /flows/filter", Perm.READ)
    assert classify("HEAD", f"/flow_runs/{RUN_ID}") == ("GET /flow_runs/{id}", Perm.READ)
    assert classify("PATCH", "/deployments/" + RUN_ID.replace("-", "")) == ("PATCH /deployments/{id}", Perm.DEVELOP)
    assert websocket_permission("/events/in") is Perm.WORK
    assert websocket_permission("/events/out") is Perm.READ
    assert websocket_permission("/logs/out") is Perm.READ
    assert websocket_permission("/task_runs/subscriptions/scheduled") is Perm.WORK
    assert websocket_permission("/work_pools/edge/workers/connect") is Perm.WORK
    assert websocket_permission("/events/filter") is None
    assert websocket_permission("/flows/") is None


def test_roles():
    assert ROLE_PERMS[Role.VIEWER] == {Perm.READ}
    assert ROLE_PERMS[Role.WORKER] == {Perm.READ, Perm.RUN, Perm.WORK, Perm.SECRETS}
    assert perms_for(["viewer", Role.APPROVER]) == {Perm.READ, Perm.APPROVE}
    assert perms_for(["owner"]) == frozenset(Perm)
    assert perms_for([]) == frozenset()
    with pytest.raises(ValueError, match=r"unknown role 'admin'.*viewer, runner, approver, developer, worker, owner"):
        perms_for(["viewer", "admin"])
    with pytest.raises(RoleError):
        perms_for(["Viewer"])


def test_a_retry_without_the_approver_role_is_checked_for_a_change_run():
    retry = {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True}
    runner = authorize("POST", SET_STATE, [], retry, perms_for(["runner"]))
    assert runner.allowed and runner.check_change_retry == RUN_ID  # the gateway reads the run's flow next
    assert authorize("POST", SET_STATE, [], retry, perms_for(["owner"])).check_change_retry is None
    cancel = authorize("POST", SET_STATE, [], {"state": {"type": "CANCELLING"}}, perms_for(["runner"]))
    assert cancel.allowed and cancel.check_change_retry is None


def test_change_window_defaults_on_deployments():
    from nornflow.gateway.policy.changes import guard_deployment_defaults

    developer, owner = perms_for(["developer"]), perms_for(["owner"])
    refusal, _ = guard_deployment_defaults({"parameters": {"override_reason": "always"}}, "dev", developer)
    assert refusal and "override_reason as a deployment default" in refusal and "approver" in refusal
    schema = {"parameter_openapi_schema": {"properties": {"resume_of": {"type": "string", "default": "abc"}}}}
    refusal, _ = guard_deployment_defaults(schema, "dev", developer)
    assert refusal and "resume_of" in refusal
    blank = {"parameters": {"override_reason": "  ", "override_by": "someone", "x": 1},
             "parameter_openapi_schema": {"properties": {"override_reason": {"default": None}}}}
    assert guard_deployment_defaults(blank, "dev", developer) == (None, [])
    assert blank["parameters"] == {"override_reason": "  ", "x": 1}  # nobody claims an override they did not make
    body = {"parameters": {"override_reason": "INC-1", "override_by": "mallory"}}
    refusal, overrides = guard_deployment_defaults(body, "otto", owner)
    assert refusal is None and body["parameters"]["override_by"] == "otto"
    assert overrides == [{"reason": "INC-1", "override_by": "otto", "as": "deployment default"}]
