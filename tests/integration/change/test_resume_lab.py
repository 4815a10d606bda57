"""Kill deploy_config for real in the middle of a push of 10 devices, then `nornflow resume` it.

The lab runs in this test's process; the flow runs in a subprocess against the same Prefect
server. Every device holds its answer to its last planned line until the test lets it go,
so the test decides exactly when the process dies: after 4 devices are verified, while the
5th has received its last line and waits for the prompt (mid-push). ``max_sessions=1``
makes the devices go one by one.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nornflow.change.replay import load_record
from nornflow.config.ledger import Ledger
from nornflow.config.remediation import remediation
from nornflow.config.render import Renderer
from nornflow.inventory.load import load_nornir
from tests.integration.config.conftest import TEMPLATES

pytestmark = pytest.mark.integration

SCRIPT = """
import sys
from nornflow.flows import deploy_config
deploy_config(inventory=sys.argv[1], templates=sys.argv[2], backup_dir=sys.argv[3], auto_approve=True,
              max_sessions=1, return_state=True)
"""


def _intended(inventory: Path) -> dict[str, tuple[str, str]]:
    nr = load_nornir(inventory)
    return {name: (Renderer(TEMPLATES).render(host), str(host.platform)) for name, host in nr.inventory.hosts.items()}


def _ledger(backup_dir: Path) -> Ledger | None:
    found = sorted(backup_dir.glob("nornflow-ledger-*.jsonl"))
    return Ledger(found[0]) if found else None


def _kill_mid_push(lab: Any, process: subprocess.Popen[bytes], backup_dir: Path,
                   last: dict[str, str]) -> tuple[Ledger, str]:
    """Let devices finish one by one until 4 are verified, then SIGKILL while the next one is held."""
    deadline = time.monotonic() + 240
    released: set[str] = set()
    while time.monotonic() < deadline:
        assert process.poll() is None, "the flow process ended before the test could kill it"
        ledger = _ledger(backup_dir)
        states = ledger.states() if ledger is not None else {}
        held = [h for h, s in states.items() if s == "pushing" and h not in released
                and " ".join(last[h].split()) in lab.received_lines(h)]
        verified = [h for h, s in states.items() if s == "verified"]
        if held and len(verified) >= 4:
            assert ledger is not None
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            return ledger, held[0]
        for host in held:
            released.add(host)
            lab.clear_faults(host)  # the answer comes; the device goes on to verify
        time.sleep(0.1)
    raise AssertionError(f"the run never reached 4 verified devices and one mid-push: {states}")


def test_killed_mid_push_then_resumed_pushes_nothing_twice(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from nornflow.cli import commands as cli
    from nornflow.lab import Lab

    backup_dir = tmp_path / "bk"
    with Lab(size=10, directory=tmp_path / "lab") as lab:
        intended = _intended(lab.inventory_dir)
        planned = {h: remediation(lab.running_config(h), text, platform) for h, (text, platform) in intended.items()}
        before = {h: lab.running_config(h) for h in lab.devices}
        assert all(planned.values()), "every device must have something to change"
        for host, lines in planned.items():
            lab.delay_line(host, lines[-1], 120)
        env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
        process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(lab.inventory_dir), TEMPLATES, str(backup_dir)],
                                   env=env, cwd=str(Path(__file__).resolve().parents[3]),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            ledger, caught = _kill_mid_push(lab, process, backup_dir, {h: ls[-1] for h, ls in planned.items()})
        finally:
            if process.poll() is None:
                process.kill()
        for host in lab.devices:
            lab.clear_faults(host)
        at_kill = ledger.states()
        sent_at_kill = {h: sum(1 for line in lab.received_lines(h) if line not in ("end", "exit")) for h in lab.devices}
        assert sorted(at_kill.values()).count("verified") == 4 and at_kill[caught] == "pushing", at_kill
        run_id = ledger.run["run_id"]
        with get_client(sync_client=True) as client:
            assert client.read_flow_run(run_id).state.is_running()  # a killed process cannot say it crashed
        started = load_record(run_id)  # written when the run started: a run that dies has a record too
        assert started.flow_run_id == run_id and started.templates is not None

        assert cli.main(["resume", run_id]) == 0

        with get_client(sync_client=True) as client:
            crashed = client.read_flow_run(run_id).state
        assert crashed.is_crashed() and "resumed by `nornflow resume`" in (crashed.message or "")
        states = ledger.states()
        assert set(states.values()) == {"verified"}, states
        assert ledger.history(caught) == ["planned", "backed-up", "pushing", "verified"]  # re-read, not re-pushed
        for host in lab.devices:
            text, platform = intended[host]
            assert remediation(lab.running_config(host), text, platform) == [], f"{host} is not as intended"
            assert lab.running_config(host) != before[host]
            received = collections.Counter(line for line in lab.received_lines(host) if line not in ("end", "exit"))
            allowed = collections.Counter(" ".join(line.split()) for line in planned[host])
            twice = {line: n for line, n in received.items() if n > allowed[line]}
            assert not twice, f"{host} received these lines more than planned: {twice}"
            if at_kill[host] == "verified" or host == caught:  # it may have taken `exit` before it died
                assert sum(received.values()) == sent_at_kill[host], f"{host} was sent lines after the kill"
        entries = ledger.entries()
        assert entries[-1]["kind"] == "end" and any(e["kind"] == "resume" for e in entries)
        text = ledger.path.read_text()
        assert lab.password not in text and "admin" not in json.dumps(ledger.run.get("parameters"))
        log = subprocess.run(["git", "-C", str(backup_dir), "log", "--format=%s", "--", ledger.path.name],
                             capture_output=True, text=True, check=True).stdout
        assert "ledger: resumed by run" in log and "ledger: run finished" in log
