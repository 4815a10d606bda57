"""Team mode in a real browser: Debian's chromium, headless, driven by Playwright, through the real
gateway in front of two real Prefect servers (the session's ``team``). Each test checks what a
person sees (text, URL, toasts) and what the page got back (HTTP statuses), and keeps a screenshot
of each step in ``test-output/screenshots/<test>-<step>.png``.

UI versions: Prefect 3.9 serves its v1 UI at ``/w/<ws>/...`` and the v2 UI (the default after a
login) at ``/w/<ws>/v2/...``. The viewer's tour uses v1 (the brief's ``/w/core/runs``); the
refusal and the approval use v2, whose toasts show the gateway's message and whose resume form
has labelled fields. The v2 UI always initialises Amplitude, whose remote-config fetch to
``sr-client-cfg.amplitude.com`` the gateway's ``connect-src 'self'`` blocks (telemetry, on
purpose): those CSP messages are the only ones tolerated, and only on v2 pages.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from tests.integration.gateway.conftest import PASSWORD
from tests.support.approvals import plan_hash_of, wait_for_paused
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, NEEDS_CHROMIUM, SHOTS
from tests.support.prefect_api import artifacts

pytestmark = [
    pytest.mark.integration,
    NEEDS_CHROMIUM,
]
ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = str(ROOT / "examples" / "templates")
SESSION_COOKIE = "nornflow_session"
UI_TIMEOUT_MS = 30_000  # a page, a click, a toast on this 2-core machine (generous)

APPROVAL_FLOW = """
import sys
from nornflow.flows import deploy_config
state = deploy_config(inventory=sys.argv[1], templates=sys.argv[2], backup_dir=sys.argv[3],
                      approval_poll_interval=1, return_state=True)
print("FINAL", state.type.value, state.message)
"""
HOSTS_FLOW = """
import sys
from prefect import flow, runtime
from prefect.artifacts import create_table_artifact

@flow(name="browser-hosts", flow_run_name=sys.argv[1])
def hosts() -> str:
    create_table_artifact(key="per-host", description="Per-host results",
                          table=[{"host": "fra-spine-01", "status": "ok"},
                                 {"host": "ams-leaf-02", "status": "failed"}])
    return str(runtime.flow_run.id)

print("RUN", hosts())
"""


# -- the browser ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@dataclass
class Browsing:
    """One test's browser context and page, with what the page logged and the API answered."""

    name: str
    context: Any
    page: Any
    console: list[str] = field(default_factory=list)
    api: list[tuple[int, str, str]] = field(default_factory=list)  # (status, method, path) under /api/
    shots: list[Path] = field(default_factory=list)

    def shot(self, step: str) -> Path:
        path = SHOTS / f"{self.name}-{step}.png"
        # Transitions fast-forwarded: a toast that is sliding in is shown where it lands.
        self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        self.shots.append(path)
        return path

    def csp_messages(self, *, tolerate_telemetry: bool = False) -> list[str]:
        found = [m for m in self.console if "content security policy" in m.lower()]
        if tolerate_telemetry:
            found = [m for m in found if "amplitude.com" not in m]
        return found

    def refused_api_calls(self) -> list[tuple[int, str, str]]:
        return [call for call in self.api if call[0] >= 400]


@pytest.fixture
def browse(browser: Any, team: Any, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=team.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    name = request.node.name.removeprefix("test_")
    for stale in SHOTS.glob(f"{name}-*.png"):  # only this run's steps stay next to each other
        stale.unlink()
    browsing = Browsing(name, context, page)
    page.on("console", lambda m: browsing.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: browsing.console.append(f"pageerror: {e}"))

    def on_response(response: Any) -> None:
        path = urlsplit(response.url).path
        if "/api/" in path:
            browsing.api.append((response.status, response.request.method, path))

    page.on("response", on_response)
    failed_before = request.session.testsfailed
    try:
        yield browsing
    finally:
        if request.session.testsfailed > failed_before:  # the call phase failed: keep what the page showed
            with contextlib.suppress(Exception):  # a screenshot must not hide the test's own failure
                browsing.shot("failed")
        context.close()


def current_page(page: Any, name: str) -> Any:
    """The v2 UI's breadcrumb naming the page shown (the run's name on a run's page)."""
    return page.locator("[data-slot=breadcrumb-page]", has_text=name)


def log_in(page: Any, user: str) -> None:
    """Fill the gateway's login form the way a person does; the gateway answers 303."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="NornFlow NetOps")).to_be_visible()
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST" and urlsplit(r.url).path == "/login") as posted:
        page.get_by_role("button", name="Log in").click()
    assert posted.value.status == 303, f"login of {user} answered {posted.value.status}"


# -- flows run with the worker's token, in their own process, as a worker runs them ----------------
def worker_env(team: Any, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=team.api(), PREFECT_API_AUTH_STRING=team.tokens["svc-worker"],
               PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def as_user(team: Any, user: str) -> Any:
    return temporary_settings({PREFECT_API_URL: team.api(), PREFECT_API_AUTH_STRING: team.tokens[user]})


@dataclass(frozen=True)
class HostsRun:
    id: str
    name: str


@pytest.fixture(scope="module")
def hosts_run(team: Any, tmp_path_factory: pytest.TempPathFactory) -> HostsRun:
    """A finished flow run in workspace core with a per-host table artifact."""
    name = f"browser-hosts-{uuid.uuid4().hex[:8]}"
    done = subprocess.run([sys.executable, "-c", HOSTS_FLOW, name], capture_output=True, text=True, timeout=120,
                          env=worker_env(team, tmp_path_factory.mktemp("prefect-home")))
    found = re.search(r"^RUN (\S+)$", done.stdout, re.M)
    assert done.returncode == 0 and found, done.stdout[-2000:] + done.stderr[-3000:]
    return HostsRun(found.group(1), name)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Any]:
    from nornflow.lab import Lab

    with Lab(size=2, directory=tmp_path / "lab") as running_lab:
        yield running_lab


# -- 1. a viewer logs in and reads a run's per-host table -----------------------------------------
def test_viewer_logs_in_and_reads_the_per_host_table(team: Any, browse: Browsing, hosts_run: HostsRun) -> None:
    from playwright.sync_api import expect

    page = browse.page
    page.goto("/w/core/runs")
    expect(page).to_have_url(f"{team.url}/login?next=/w/core/runs")  # no session: the gateway's login page
    browse.shot("1-login-page")

    log_in(page, "vera")
    expect(page).to_have_url(f"{team.url}/w/core/runs")  # back where she wanted to go, in Prefect's UI
    run_link = page.get_by_role("link", name=hosts_run.name, exact=True)
    expect(run_link).to_be_visible()
    browse.shot("2-runs")

    run_link.click()
    expect(page).to_have_url(re.compile(rf"/w/core/runs/flow-run/{hosts_run.id}$"))
    page.locator(".p-tab", has_text="Artifacts").click()  # v1 tabs are <li class="p-tab">, no ARIA role
    card = page.get_by_text("per-host", exact=True).first
    expect(card).to_be_visible()
    browse.shot("3-artifacts-tab")

    card.click()
    expect(page).to_have_url(re.compile(r"/w/core/artifacts/artifact/[0-9a-f-]{36}$"))
    table = page.get_by_role("table")  # v1 wraps each cell's text in an <article>: match the text
    expect(table.get_by_role("row").filter(has_text="fra-spine-01")).to_contain_text("ok")
    expect(table.get_by_role("row").filter(has_text="ams-leaf-02")).to_contain_text("failed")
    browse.shot("4-per-host-table")

    assert browse.csp_messages() == [], browse.csp_messages()
    # Every API call the UI made went through. GET /admin/settings is the one exception, a known
    # gateway bug (owner-only, but v1 awaits it): see test_v1_ui_shows_a_viewer_its_navigation.
    refused = [c for c in browse.refused_api_calls() if c[1:] != ("GET", "/w/core/api/admin/settings")]
    assert refused == [], refused
    assert any(c[:2] == (200, "POST") and c[2].endswith("/artifacts/filter") for c in browse.api), browse.api


# -- 2. an action beyond the role is refused, visibly, and changes nothing ------------------------
def test_viewer_is_refused_a_delete_and_the_ui_says_why(team: Any, browse: Browsing, hosts_run: HostsRun) -> None:
    from playwright.sync_api import expect

    page = browse.page
    run_page = f"/w/core/v2/runs/flow-run/{hosts_run.id}"
    page.goto(run_page)
    log_in(page, "vera")
    expect(page).to_have_url(re.compile(rf"{re.escape(run_page)}(\?.*)?$"))
    expect(current_page(page, hosts_run.name)).to_be_visible()
    browse.shot("1-run-page")

    page.get_by_role("button", name="Open menu").first.click()
    page.get_by_role("menuitem", name="Delete").click()
    confirm = page.get_by_role("alertdialog").or_(page.get_by_role("dialog"))
    expect(confirm).to_contain_text(f"delete flow run {hosts_run.name}")
    browse.shot("2-confirm-delete")
    with page.expect_response(lambda r: r.request.method == "DELETE" and hosts_run.id in r.url) as deleted:
        confirm.get_by_role("button", name="Delete").click()
    assert deleted.value.status == 403
    expect(confirm).to_be_hidden()
    # The gateway's reason, shown to the person as the UI's error toast.
    expect(page.get_by_text("DELETE /flow_runs/{id} needs the develop permission (roles: developer, owner)")) \
        .to_be_visible()
    expect(current_page(page, hosts_run.name)).to_be_visible()  # still on the run's page
    browse.shot("3-refused")

    with as_user(team, "vera"), get_client(sync_client=True) as client:
        assert str(client.read_flow_run(uuid.UUID(hosts_run.id)).id) == hosts_run.id  # nothing was deleted
        assert "per-host" in artifacts(uuid.UUID(hosts_run.id))
    assert browse.csp_messages(tolerate_telemetry=True) == [], browse.csp_messages(tolerate_telemetry=True)
    refusals = [r for r in team.audit() if r["user"] == "vera" and r["method"] == "DELETE"
                and str(r["path"]).endswith(hosts_run.id)]
    assert refusals and refusals[-1]["outcome"] == "denied" and refusals[-1]["status"] == 403


# -- 3. an approver answers a paused deploy_config run with the UI's resume form ------------------
def test_approver_resumes_a_paused_run_with_the_ui_form(team: Any, browse: Browsing, lab: Any,
                                                         tmp_path: Path) -> None:
    from playwright.sync_api import expect

    flow = subprocess.Popen([sys.executable, "-c", APPROVAL_FLOW, str(lab.inventory_dir), TEMPLATES,
                             str(tmp_path / "bk")], env=worker_env(team, tmp_path / "prefect-home"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    page = browse.page
    try:
        with as_user(team, "vera"):  # which run to open: the link an approver is sent
            paused = wait_for_paused(lambda r: r.parameters.get("inventory") == str(lab.inventory_dir), timeout=150)
            expected_hash = plan_hash_of(paused)
        run_page = f"/w/core/v2/runs/flow-run/{paused.id}"
        badge = page.locator("[data-slot=badge]")

        page.goto(f"{run_page}?tab=Artifacts")
        log_in(page, "april")
        expect(current_page(page, paused.name)).to_be_visible()
        expect(badge.filter(has_text=re.compile(r"^\s*Paused\s*$")).first).to_be_visible()
        browse.shot("1-paused-run")

        # She reads the plan: its hash is in the artifact ("**Plan hash:** `<hash>`").
        page.get_by_text("deploy-config-plan", exact=True).first.click()
        expect(page).to_have_url(re.compile(r"/w/core/v2/artifacts/artifact/"))
        rendered = page.get_by_test_id("markdown-display").first  # the rendered artifact (not its raw tab)
        hash_line = re.compile(r"Plan hash:\s*([0-9a-f]{8,64})")
        # The page renders the artifact more than once as its queries settle: wait for the hash
        # itself (a retrying assertion), then read the element as it is at that moment.
        # and it can re-render between the two: read it again until the hash is in what was read.
        expect(rendered).to_contain_text(hash_line)
        seen, deadline = None, time.monotonic() + 30
        while seen is None and time.monotonic() < deadline:
            seen = hash_line.search(rendered.text_content() or "")
            if seen is None:
                page.wait_for_timeout(200)
        assert seen, (rendered.text_content() or "")[:2000]
        plan_hash = seen.group(1)
        assert plan_hash == expected_hash
        browse.shot("2-plan-artifact")

        # Resume, with the run's own input form.
        page.goto(run_page)
        expect(current_page(page, paused.name)).to_be_visible()
        page.get_by_role("button", name="Open menu").first.click()
        page.get_by_role("menuitem", name="Resume").click()
        form = page.get_by_role("dialog")
        expect(form).to_contain_text("Resume Flow Run")
        expect(form).to_contain_text(plan_hash)  # the form's description names the plan
        approve = form.get_by_role("switch", name=re.compile(r"^Approve"))
        approve.click()
        expect(approve).to_have_attribute("aria-checked", "true")
        form.get_by_label(re.compile(r"^Plan Hash")).fill(plan_hash)
        form.get_by_label(re.compile(r"^Approver")).fill("somebody-else")
        browse.shot("3-resume-form")
        with page.expect_response(lambda r: r.request.method == "POST"
                                  and r.url.endswith(f"/flow_runs/{paused.id}/resume")) as resumed:
            form.get_by_role("button", name="Resume", exact=True).click()
        assert resumed.value.status == 201, resumed.value.text()
        sent = json.loads(resumed.value.request.post_data or "{}")["run_input"]
        assert sent["approve"] is True and sent["plan_hash"] == plan_hash and sent["approver"] == "somebody-else"
        expect(page.get_by_text("Flow run resumed")).to_be_visible()
        browse.shot("4-resumed")

        expect(badge.filter(has_text=re.compile(r"^\s*Completed\s*$")).first).to_be_visible(timeout=150_000)
        browse.shot("5-completed")
        output = flow.communicate(timeout=180)[0]
    finally:
        if flow.poll() is None:
            flow.kill()
            flow.communicate()
    assert "FINAL COMPLETED" in output, output[-3000:]

    # The approval artifact names the person who was logged in, not what the form said.
    page.goto(f"{run_page}?tab=Artifacts")
    page.get_by_text("deploy-config-approval", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/w/core/v2/artifacts/artifact/"))
    decided = page.get_by_role("table").get_by_role("row").filter(has_text=plan_hash)
    expect(decided).to_contain_text("approved")
    expect(decided.get_by_role("cell").filter(has_text=re.compile(r"^\s*april\s*$"))).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("somebody-else")
    browse.shot("6-approval-artifact")

    with as_user(team, "vera"):
        decision = artifacts(paused.id)["deploy-config-approval"].data
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(paused.id).state
            assert state is not None and state.is_completed()
    assert "april" in decision and "somebody-else" not in decision
    approvals = [r for r in team.audit() if r["action"] == "approval" and r["outcome"] == "ok"]
    assert approvals[-1]["user"] == "april" and approvals[-1]["detail"]["plan_hash"] == plan_hash
    assert approvals[-1]["detail"]["flow_run"] == str(paused.id)
    assert "snmp-server location Amsterdam DC2" in lab.running_config("ams-spine-01")  # the change went on
    assert browse.csp_messages(tolerate_telemetry=True) == [], browse.csp_messages(tolerate_telemetry=True)


# -- 4. logout ends the session -------------------------------------------------------------------
def test_logout_ends_the_session(team: Any, browse: Browsing) -> None:
    from playwright.sync_api import expect

    page = browse.page
    page.goto("/w/core/runs")
    log_in(page, "vera")
    expect(page).to_have_url(f"{team.url}/w/core/runs")
    expect(page.get_by_text("Hide subflows")).to_be_visible()  # the runs page rendered
    browse.shot("1-logged-in")

    cookie = next(c for c in browse.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert SESSION_COOKIE not in page.evaluate("document.cookie")  # the page's scripts cannot read it
    replay = {"cookie": f"{SESSION_COOKIE}={cookie['value']}"}
    assert httpx.get(f"{team.api()}/admin/version", headers=replay, timeout=30).status_code == 200

    page.goto("/logout")
    expect(page).to_have_url(f"{team.url}/login?bye=1")
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    assert SESSION_COOKIE not in {c["name"] for c in browse.context.cookies()}
    browse.shot("2-logged-out")

    response = page.goto("/w/core/runs")
    assert response is not None and response.status == 200
    expect(page).to_have_url(f"{team.url}/login?next=/w/core/runs")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    browse.shot("3-login-again")

    # The old cookie value is dead: for the API and for the UI.
    api = httpx.get(f"{team.api()}/admin/version", headers=replay, timeout=30)
    assert api.status_code == 401 and "session has ended" in api.json()["detail"]
    ui = httpx.get(f"{team.url}/w/core/runs", headers={**replay, "accept": "text/html"}, timeout=30)
    assert ui.status_code == 303 and ui.headers["location"].startswith("/login?next=/w/core/runs")


# -- 5. a workspace a person has no role in is closed to them -------------------------------------
def test_a_person_sees_only_their_workspace(team: Any, browse: Browsing, hosts_run: HostsRun) -> None:
    from playwright.sync_api import expect

    page = browse.page
    page.goto("/login")
    log_in(page, "dana")  # datacenter only: the gateway takes her straight to it
    expect(page).to_have_url(re.compile(r"/w/datacenter/"))
    expect(page.get_by_role("link", name="Deployments").first).to_be_visible()  # Prefect's UI navigation
    browse.shot("1-datacenter")

    response = page.goto("/w/core/runs")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="No access")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("You have no role in workspace 'core'. Ask one of its owners.")
    expect(page).to_have_title(re.compile("No access"))
    browse.shot("2-core-no-access")

    api = page.request.get("/w/core/api/admin/version")  # the page's own session, on core's API
    assert api.status == 403 and "no role in workspace 'core'" in api.json()["detail"]

    response = page.goto("/w/datacenter/runs")
    assert response is not None and response.status == 200
    # Prefect's runs page of datacenter's own server: its list, or its empty state; never core's run.
    expect(page.get_by_text("Hide subflows").or_(
        page.get_by_role("heading", name="Run a task or flow to get started"))).to_be_visible()
    expect(page.get_by_text(hosts_run.name)).to_have_count(0)
    assert page.request.get("/w/datacenter/api/admin/version").status == 200
    browse.shot("3-datacenter-runs")


# -- the v1 UI awaits GET /admin/settings on every page: readers get an empty set, owners the real one --
def test_v1_ui_shows_a_viewer_its_navigation(team: Any, browse: Browsing) -> None:
    from playwright.sync_api import expect

    page = browse.page
    page.goto("/w/core/dashboard")
    log_in(page, "vera")
    expect(page).to_have_url(f"{team.url}/w/core/dashboard")
    try:
        expect(page.get_by_role("button", name="Deployments").first).to_be_visible(timeout=10_000)
        expect(page.get_by_text("Oops. Something went wrong.")).to_have_count(0)
        expect(page.get_by_text("Flow Runs").first).to_be_visible(timeout=10_000)
    finally:
        browse.shot("1-dashboard")
    assert (403, "GET", "/w/core/api/admin/settings") not in browse.api
