"""``nornflow watch`` against a real server and worker: a dropped file starts a deployment run.

The automation is the one docs/triggers.md shows: a reactive trigger on ``nornflow.file.created``
and ``nornflow.file.changed`` for resources ``nornflow.file.requests/*``, whose action runs the
deployment with the file's path. The watcher runs as the command does in production (its own
process, SIGTERM to stop); restarted, it reports nothing twice, and a symlink out of the
directory is refused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import BIN, ROOT, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def automation(deployment_id: str) -> dict[str, Any]:
    return {
        "name": "file-dropped", "enabled": True,
        "trigger": {"type": "event", "posture": "Reactive", "threshold": 1, "within": 0,
                    "match": {"prefect.resource.id": "nornflow.file.requests/*"},
                    "expect": ["nornflow.file.created", "nornflow.file.changed"],
                    "for_each": ["prefect.resource.id"]},
        "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": deployment_id,
                     "parameters": {"path": "{{ event.payload.path }}"}}],
    }


class WatchProcess:
    def __init__(self, directory: Path, log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen([str(BIN / "nornflow"), "watch", str(directory), "--debounce", "200"],
                                         cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for("the watcher to start", lambda: "watching" in self.text(), 60, every=0.2)

    def text(self) -> str:
        if self.proc.poll() not in (None, 0):
            raise AssertionError(f"nornflow watch exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> int:
        os.killpg(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(15)


def test_a_dropped_file_starts_a_deployment_run(stack, tmp_path):
    server = stack.server
    deployment = stack.deploy("on-file")
    server.api("POST", "/automations/", automation(deployment["id"]))
    drop = tmp_path / "drop"
    (drop / "requests").mkdir(parents=True)
    env = stack.cli.env()

    first = WatchProcess(drop, tmp_path / "watch-1.log", env)
    (drop / "requests" / "cr-1.yaml").write_text("hosts: [r1]\nchange: ntp\n")
    runs = stack.finished_runs(deployment["id"], 1)
    assert [r["parameters"] for r in runs] == [{"path": "requests/cr-1.yaml"}]
    assert "nornflow.file.created requests/cr-1.yaml" in first.text()
    assert first.stop() == 0 and "stopped" in first.text()

    outside = tmp_path / "outside.yaml"
    outside.write_text("not in the drop directory")
    (drop / "requests" / "escape.yaml").symlink_to(outside)
    second = WatchProcess(drop, tmp_path / "watch-2.log", env)
    wait_for("the refusal", lambda: "refused requests/escape.yaml" in second.text(), 10, every=0.2)
    time.sleep(2)  # a re-fire would show here (debounce 0.2 s)
    assert "nornflow.file." not in second.text()
    assert len(server.runs(deployment["id"])) == 1  # nothing fired twice, nothing through the symlink
    assert second.stop() == 0
