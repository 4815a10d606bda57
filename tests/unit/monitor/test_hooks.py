"""The engine's monitoring hooks without a server: the switch, progress counting, event payloads."""

from __future__ import annotations

import re

import pytest

from nornflow.engine.records import HostRecord, RunResult
from nornflow.monitor import device_events, enabled, progress
from nornflow.monitor.health import lines, markdown, summary
from nornflow.monitor.probes import Check
from nornflow.secrets import redaction


@pytest.mark.parametrize(("value", "progress_on", "events_on"), [
    (None, True, True), ("on", True, True), ("off", False, False), ("0", False, False),
    ("progress", True, False), ("events", False, True), ("progress, events", True, True),
])
def test_nornflow_monitor_switches_each_hook(monkeypatch, value, progress_on, events_on):
    if value is None:
        monkeypatch.delenv("NORNFLOW_MONITOR", raising=False)
    else:
        monkeypatch.setenv("NORNFLOW_MONITOR", value)
    assert enabled("progress") is progress_on
    assert enabled("events") is events_on


def test_progress_counts_hosts_and_a_retried_host_replaces_its_failure():
    counts = progress.Counts("backup_configs", 4)
    counts.add([HostRecord(host="a", status="ok"), HostRecord(host="b", status="failed")])
    assert (counts.done, counts.ok, counts.failed, counts.percent) == (2, 1, 1, 50.0)
    counts.retrying = 1
    assert counts.describe() == "backup_configs: 2 of 4 hosts (50%): 1 ok, 1 failed, retrying 1"
    counts.add([HostRecord(host="b", status="ok"), HostRecord(host="c", status="ok"),
                HostRecord(host="d", status="failed")])
    assert counts.describe(finished=True) == "backup_configs: 4 of 4 hosts (100%): 3 ok, 1 failed (finished)"
    assert progress.Counts("x", 0).percent == 100.0
    assert progress.progress_key("Backup Configs retry 1") == "backup-configs-retry-1-progress"


def test_outside_a_flow_run_nothing_is_published_or_emitted(monkeypatch):
    monkeypatch.delenv("NORNFLOW_MONITOR", raising=False)
    watch = progress.start("backup_configs", 3)
    assert isinstance(watch, progress.NoProgress)
    watch.batch_done([HostRecord(host="a", status="ok")])
    watch.finish()
    result = RunResult(name="backup_configs", records=[HostRecord(host="a", status="ok")])
    assert device_events.emit_run_events(result) == 0


def test_event_names_and_payloads_carry_the_outcome_and_never_a_secret():
    redaction.register("Zq9-unit-canary")
    try:
        failed = HostRecord(host="fra-leaf-03", platform="cisco_ios", site="fra", role="leaf", status="failed",
                            error="auth failed for password Zq9-unit-canary " + "x" * 600, duration=1.23456)
        body = device_events.payload(failed, flow="backup_configs", task="backup_configs",
                                     run={"flow_run_id": "r1", "flow_run_name": "n", "deployment_id": None})
        straddling = HostRecord(host="a", status="failed", error="x" * 490 + "Zq9-unit-canary" + "y" * 100)
        cut = device_events.payload(straddling, flow="f", task="t", run={})["error"]
        assert "Zq9" not in cut and "***" in cut        # redacted before it is cut, never half a secret
    finally:
        redaction.clear()
    assert "Zq9-unit-canary" not in str(body) and "***" in body["error"]
    assert len(body["error"]) == device_events.MAX_ERROR and body["error"].endswith("…")
    assert body | {"error": None} == {
        "host": "fra-leaf-03", "flow": "backup_configs", "task": "backup_configs", "outcome": "failed",
        "changed": False, "duration": 1.235, "attempts": 1, "error": None, "platform": "cisco_ios", "site": "fra",
        "role": "leaf", "flow_run_id": "r1", "flow_run_name": "n", "deployment_id": None}
    assert device_events.outcome(HostRecord(host="a", status="ok", changed=True)) == "changed"
    assert device_events.outcome(HostRecord(host="a", status="ok")) == "ok"
    assert device_events.outcome(HostRecord(host="a", status="skipped")) == "skipped"
    assert device_events.device_resource("a") == {"prefect.resource.id": "nornflow.device.a",
                                                  "prefect.resource.name": "a"}
    assert device_events.flow_resource("x")["prefect.resource.role"] == "nornflow-flow"


def test_health_report_puts_degraded_checks_first_with_their_fix():
    checks = [Check("api", "ok", "answered in 3 ms"),
              Check("work-pool.lab", "degraded", "no live worker", "prefect worker start --pool lab"),
              Check("secret-blocks", "skipped", "none")]
    assert summary(checks) == "1 of 3 checks degraded: work-pool.lab"
    assert summary([checks[0]]) == "healthy: 1 checks ok, 0 skipped"
    text = markdown(checks)
    assert text.startswith("# Stack DEGRADED")
    assert "| **DEGRADED** | `work-pool.lab` |" in text
    assert not re.search("[\u2600-\u27bf\ufe0f\U0001f000-\U0001ffff]", text)  # emoji: boxes without a font
    assert text.index("work-pool.lab") < text.index("`api`")
    out = lines(checks)
    assert out[0].startswith("DEGRADED work-pool.lab: no live worker") and "fix: prefect worker start" in out[0]


def test_counts_merged_from_shards_replace_the_per_host_ones_and_are_checked():
    counts = progress.Counts("backup_configs", 10)
    counts.set(4, 3, 1)
    assert counts.describe() == "backup_configs: 4 of 10 hosts (40%): 3 ok, 1 failed"
    assert progress.parse_counts(counts.describe()) == (4, 10, 3, 1)
    assert progress.parse_counts("Progress: 40%") is None
    with pytest.raises(ValueError, match=r"ok \(3\) \+ failed \(2\) exceed done \(4\)"):
        counts.set(4, 3, 2)
    with pytest.raises(ValueError, match="progress done must be a whole number >= 0, got -1"):
        counts.set(-1, 0, 0)
    none = progress.start("x", 3)                       # no flow run: nothing to publish, nothing to wait for
    none.update(1, 1, 0)
    none.finish()
    assert progress.follow("x", 3, []).counts is None
