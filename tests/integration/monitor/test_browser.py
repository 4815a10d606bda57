"""What a person sees in the Prefect UI: Debian's chromium, headless, driven by Playwright, against a
real ``prefect server start`` of this module (its own port, PREFECT_HOME and SQLite file), with flows
run on the lab by subprocesses pointed at that server.

- a running flow's progress artifact changes while it runs (reloaded the way a person does: the
  3.9 UI does not poll artifacts);
- fleet_report's device table shows the device that was made to fail, with its 40 %;
- the plan graph and the report's charts are images (``<img src="data:image/svg+xml...">`` that the
  browser decoded: ``naturalWidth > 0``), not a code block, in the v1 and the v2 UI.

Screenshots: ``test-output/screenshots/monitor-*.png``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Cli, Server, wait_for
from tests.integration.monitor.conftest import unique_site
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, SHOTS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EMOJI = re.compile("[\u2600-\u27bf\ufe0f\U0001f000-\U0001ffff]")
UI_TIMEOUT_MS = 30_000

SLOW_FLOW = """
import sys, time
from nornir.core.task import Result, Task
from prefect import flow
from nornflow.engine.run import final_state, run_task

def wait(task: Task, seconds: float) -> Result:
    time.sleep(seconds)
    return Result(host=task.host, result="waited")

@flow(name="monitor-slow")
def monitor_slow(inventory: str, seconds: float):
    result = run_task(wait, nornir=inventory, name="monitor_slow", task_kwargs={"seconds": seconds},
                      batch_size=1, max_sessions=1)
    return final_state(result)

print("FINAL", monitor_slow(sys.argv[1], float(sys.argv[2]), return_state=True).type.value)
"""

HISTORY = """
import json, shutil, sys
from pathlib import Path
import yaml
from prefect import tags
from nornflow.flows import backup_configs, fleet_report
from nornflow.plan.flow import run_plan

good, flaky, work = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
bad = work / "bad-inventory"            # the flaky device on a port nothing listens on
shutil.copytree(good, bad)
hosts = yaml.safe_load((bad / "hosts.yaml").read_text())
hosts[flaky]["port"] = int(sys.argv[4])
(bad / "hosts.yaml").write_text(yaml.safe_dump(hosts))
with tags("browser-history"):
    for run in range(5):
        inventory = bad if run in (0, 2, 4) else good
        backup_configs(inventory=str(inventory), backup_dir=str(work / "backups"), retries=0, return_state=True)
sys.path.insert(0, ".")
from tests.integration.monitor.conftest import wait_for_events
wait_for_events(20, prefix="nornflow.device.run.", related="prefect.tag.browser-history")  # stored, then report
fleet_report(window_days=1, inventory=str(good), tags=["browser-history"], flows=["backup_configs"])
two = work / "two-hosts"                # an inventory of two of the lab's devices: the chart counts only theirs
shutil.copytree(good, two)
kept = dict(sorted(yaml.safe_load((two / "hosts.yaml").read_text()).items())[:2])
(two / "hosts.yaml").write_text(yaml.safe_dump(kept))
narrow = fleet_report(window_days=1, inventory=str(two), tags=["browser-history"], flows=["backup_configs"],
                      key="fleet-two", stale_backup_days=2)
print("NARROW", sum(g + b for _, g, b in narrow.daily), sum(d.runs for d in narrow.devices),
      sum(b for _, _, b in narrow.daily), sum(d.failed for d in narrow.devices))
from datetime import UTC, datetime, timedelta
from nornflow.monitor.publish import publish
from nornflow.monitor.report import History, Window, build
now = datetime.now(UTC)
history = History(window=Window.ending(now, 7))
for i in range(3):
    facts = history.device(f"long-why-{i}")
    facts.ok, facts.failed, facts.last_failure, facts.last_failure_flow = 1, 2, now, "backup_configs"
    facts.last_error = ("SSH connection to 10.0.0.1:22 refused after 3 attempts; the device's management ACL "
                        "does not admit the automation host, or the VTY lines are all busy ") * 3
    facts.last_good_backup = now - timedelta(days=2.5)
publish(build(history, stale_days=2), key="fleet-long-why")
plan = {"name": "browser plan", "steps": {
    "show": {"flow": "show_commands", "params": {"commands": ["show version"]}, "hosts": {"roles": "spine"}},
    "bad": {"flow": "show_commands", "params": {"commands": ["show nonsense"]}, "depends_on": "show",
            "hosts": {"roles": "leaf"}},
    "after failure": {"flow": "show_commands", "params": {"commands": ["show version"]},
                      "depends_on": {"bad": "failure"}, "hosts": {"roles": "spine"}},
    "after success": {"flow": "show_commands", "params": {"commands": ["show version"]},
                      "depends_on": {"bad": "success"}, "hosts": {"roles": "spine"}},
    "open_incident_and_page_the_network_on_call_team": {"flow": "record_incident", "depends_on": {"bad": "failure"}},
}}
state = run_plan(plan=plan, inventory=str(good), return_state=True)
print("DONE", state.type.value)
"""


# -- the server, the lab, the browser -------------------------------------------------------------
class UiServer(Server):
    """``prefect server start`` whose UI calls its own API (not port 4200) and keeps events 30 days."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "PREFECT_SERVER_API_PORT": str(self.port), "PREFECT_UI_API_URL": self.url,
                "PREFECT_SERVER_EVENTS_RETENTION_PERIOD": "P30D"}


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiServer, Cli]]:
    base = tmp_path_factory.mktemp("monitor-ui")
    server = UiServer(base / "server-home").start()
    try:
        yield server, Cli(server, base / "client-home")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from nornflow.lab import Lab

    with Lab(size=4, sites=[unique_site()], directory=tmp_path_factory.mktemp("monitor-ui-lab")) as lab:
        yield lab


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser tests drive Debian's chromium "
                    "(`make test` installs it; or: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def script(cli: Cli, code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=cli.env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def artifact(server: UiServer, key: str) -> dict[str, Any] | None:
    found = server.api("POST", "/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC",
                                                     "limit": 1})
    return found[0] if found else None


def run_state(server: UiServer, run_id: str) -> str:
    return str(server.api("GET", f"/flow_runs/{run_id}")["state_type"])


DATA_IMAGES = "[...document.querySelectorAll(\"img[src^='data:image/svg+xml']\")]"


def drawn_images(page: Any, count: int) -> list[dict[str, Any]]:
    """The page's data-URL SVG images once ``count`` of them are decoded and drawn (``naturalWidth > 0``).

    Waits in the page, since the UI renders the artifact after its API call returns (and v2 renders it
    again when it adds ``?tab=Artifact`` to the URL); the list comes from the same evaluation that
    saw them drawn. A broken image (``naturalWidth == 0``) never satisfies the wait.
    """
    found = page.wait_for_function(
        f"n => {{ const imgs = {DATA_IMAGES}; "
        "return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0) && "
        "imgs.map(i => ({src: i.src.slice(0, 40), width: i.naturalWidth, done: i.complete, alt: i.alt})) }",
        arg=count)
    return list(found.json_value())


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"monitor-{name}.png"), full_page=True, animations="disabled")


# -- the tests -------------------------------------------------------------------------------------
def test_progress_artifact_changes_while_the_flow_runs(ui: tuple[UiServer, Cli], lab: Any, page: Any) -> None:
    server, cli = ui
    proc = script(cli, SLOW_FLOW, str(lab.inventory_dir), "4")
    try:
        found = wait_for("the progress artifact", lambda: artifact(server, "monitor-slow-progress"), 120, 0.5)
        run_id = found["flow_run_id"]
        seen: list[tuple[int, str]] = []             # (percent shown, run state when it was shown)
        while True:
            state = run_state(server, run_id)
            page.goto(f"{server.url.removesuffix('/api')}/artifacts/artifact/{found['id']}")
            page.get_by_text(re.compile(r"Progress: \d+%")).first.wait_for()
            percent = int(re.search(r"Progress: (\d+)%", page.inner_text("body")).group(1))  # type: ignore[union-attr]
            seen.append((percent, state))
            if 0 < percent < 100 and not any(0 < p < 100 for p, _ in seen[:-1]):
                shot(page, "progress-running")
            if state in ("COMPLETED", "FAILED", "CRASHED") and percent == 100:
                break
            assert len(seen) < 60, seen
            time.sleep(0.5)
        shot(page, "progress-finished")
    finally:
        out, _ = proc.communicate(timeout=120)
    assert "FINAL COMPLETED" in out, out[-3000:]
    while_running = {p for p, state in seen if state == "RUNNING"}
    assert len(while_running) >= 2, seen                         # the page showed it move during the run
    assert any(0 < p < 100 for p in while_running), seen
    assert sorted(p for p, _ in seen) == [p for p, _ in seen]    # never backwards
    assert "monitor_slow: 4 of 4 hosts (100%): 4 ok, 0 failed (finished)" in page.inner_text("body")


@pytest.fixture(scope="module")
def history(ui: tuple[UiServer, Cli], lab: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Five backups (one device failing three), a fleet report and a plan run, on the module's server."""
    from nornflow.lab.lab import free_ports

    _, cli = ui
    flaky = sorted(lab.devices)[0]
    proc = script(cli, HISTORY, str(lab.inventory_dir), flaky, str(tmp_path_factory.mktemp("history")),
                  str(free_ports(1)[0]))
    out, _ = proc.communicate(timeout=600)
    assert "DONE FAILED" in out, out[-4000:]                      # the plan has a failing step, on purpose
    narrow = re.search(r"NARROW (\d+) (\d+) (\d+) (\d+)", out)
    assert narrow is not None, out[-4000:]
    chart_runs, table_runs, chart_failed, table_failed = map(int, narrow.groups())
    assert (chart_runs, chart_failed) == (table_runs, table_failed) == (10, 3), narrow.group(0)  # 2 devices x 5
    return flaky


def test_fleet_report_table_shows_the_failed_device(ui: tuple[UiServer, Cli], history: str, page: Any) -> None:
    server, _ = ui
    base = server.url.removesuffix("/api")
    table = artifact(server, "fleet-report-devices")
    assert table is not None
    rows = {r["device"]: r for r in json.loads(table["data"])}
    assert rows[history]["success"] == "40%" and rows[history]["failed"] == 3

    page.goto(f"{base}/artifacts/artifact/{table['id']}")
    row = page.locator("tr", has_text=history).first
    row.wait_for()
    cells = row.inner_text()
    assert "40%" in cells and "refused" in cells
    shot(page, "fleet-report-devices")

    summary = artifact(server, "fleet-report")
    assert summary is not None
    for ui_base in (base, f"{base}/v2"):
        page.goto(f"{ui_base}/artifacts/artifact/{summary['id']}")
        drawn = drawn_images(page, 5)
        assert [i["alt"] for i in drawn] == ["device runs per day", "success rate per flow", "p95 duration per flow",
                                             "flakiest devices", "backup ages"]
        assert all(i["done"] and i["width"] > 0 for i in drawn), drawn   # decoded and drawn, not a broken image
        page.get_by_text(re.compile(r"^Fleet report: ")).first.wait_for()
        fits = page.evaluate("""() => {
            const table = [...document.querySelectorAll('table')].find(t => t.innerText.includes('device runs'));
            const last = table.querySelector('th:last-child').getBoundingClientRect();
            const box = table.parentElement.getBoundingClientRect();
            return {last: last.right, box: box.right, page: window.innerWidth, text: table.innerText};
        }""")
        assert fits["last"] <= min(fits["box"], fits["page"]) + 1, fits    # the last column is not cut off
        assert not EMOJI.search(page.inner_text("body")), "emoji: without an emoji font they are drawn as boxes"
        shot(page, "fleet-report-summary" + ("-v2" if ui_base.endswith("/v2") else ""))


def test_plan_graph_renders_as_an_image(ui: tuple[UiServer, Cli], history: str, page: Any) -> None:
    server, _ = ui
    base = server.url.removesuffix("/api")
    for key in ("plan-browser-plan", "plan-browser-plan-outcome"):
        found = artifact(server, key)
        assert found is not None, key
        for ui_base in (base, f"{base}/v2"):
            page.goto(f"{ui_base}/artifacts/artifact/{found['id']}")
            drawn = drawn_images(page, 1)
            assert len(drawn) == 1 and drawn[0]["done"] and drawn[0]["width"] > 400, drawn
            assert drawn[0]["alt"] == "plan browser plan"
            page.get_by_role("cell", name="after failure").first.wait_for()      # the step table is there too
            code = page.evaluate("() => [...document.querySelectorAll('pre, code')].map(e => e.textContent)")
            assert not any("flowchart" in c or "mermaid" in c for c in code)   # a picture, not source text
            shot(page, key.removeprefix("plan-") + ("-v2" if ui_base.endswith("/v2") else ""))
    outcome = artifact(server, "plan-browser-plan-outcome")
    assert outcome is not None
    assert '"state": "failed"' in outcome["data"] or '"state":"failed"' in outcome["data"]


def test_a_long_why_leaves_every_other_column_on_screen(ui: tuple[UiServer, Cli], history: str, page: Any) -> None:
    server, _ = ui
    base = server.url.removesuffix("/api")
    table = artifact(server, "fleet-long-why-devices")
    assert table is not None
    columns = list(json.loads(table["data"])[0])
    assert columns[-1] == "why"                                   # the reason is the last column
    for ui_base in (base, f"{base}/v2"):
        page.goto(f"{ui_base}/artifacts/artifact/{table['id']}")
        page.locator("tr", has_text="long-why-0").first.wait_for()
        placed = page.evaluate("""() => {
            const table = [...document.querySelectorAll('table')].find(t => t.innerText.includes('long-why-0'));
            const head = [...table.querySelectorAll('th')].map(th => [th.innerText.trim(),
                                                                      th.getBoundingClientRect().right]);
            return {head, box: table.parentElement.getBoundingClientRect().right, page: window.innerWidth};
        }""")
        shown = dict(placed["head"])
        # what names the device and says how it did is in view without scrolling; the long reason,
        # last, no longer pushes it out (it sat after "failed" and took the rest of the row before)
        wanted = ["device", "success", "runs", "ok", "failed", "last_good_backup", "last_config_change", "compliance"]
        edge = min(placed["box"], placed["page"]) + 1
        off = {h: shown.get(h) for h in wanted if shown.get(h) is None or shown[h] > edge}
        assert not off, placed
        shot(page, "fleet-long-why" + ("-v2" if ui_base.endswith("/v2") else ""))


def test_report_pages_have_no_emoji_and_buckets_agree_with_the_stale_table(ui: tuple[UiServer, Cli], history: str,
                                                                             page: Any) -> None:
    server, _ = ui
    base = server.url.removesuffix("/api")
    stale = artifact(server, "fleet-long-why-stale-backups")
    assert stale is not None and len(json.loads(stale["data"])) == 3      # 2.5 days old, stale from 2
    summary = artifact(server, "fleet-long-why")
    assert summary is not None
    backup_ages = re.findall(r"!\[backup ages\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", summary["data"])
    import base64

    chart = base64.b64decode(backup_ages[0]).decode()
    assert "&gt;= 2 days (stale)" in chart and "3-1 days" not in chart and "1 days" not in chart
    outcome = artifact(server, "plan-browser-plan-outcome")
    assert outcome is not None
    picture = re.findall(r"\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", outcome["data"])
    words = re.findall(r">([^<>]+)</text>", base64.b64decode(picture[0]).decode())
    long_name = "open_incident_and_page_the_network_on_call_team"
    assert "".join(w for w in words if w in long_name and len(w) > 3) == long_name, words   # wrapped, not cut
    assert "no hosts (runs once)" in words
    for key in ("plan-browser-plan-outcome", "backup-configs-summary"):
        found = artifact(server, key)
        assert found is not None, key
        page.goto(f"{base}/artifacts/artifact/{found['id']}")
        page.get_by_text(re.compile(r"completed|every host|failed", re.I)).first.wait_for()
        assert not EMOJI.search(page.inner_text("body")), key
        shot(page, f"no-emoji-{key}")
