"""What an undo may restore: only devices it pushed, only from a backup whose fingerprint the ledger recorded."""

from __future__ import annotations

from nornflow.config.backups import BackupStore
from nornflow.config.ledger import Ledger
from nornflow.config.remediation import config_hash
from nornflow.plan.undo import Undoing, WaveRun, wave_undo

CONFIGS = {
    "r1": "hostname r1\nusername admin secret S3cr-canary\n",
    "r2": "hostname r2\n",
    "r3": "hostname r3\n",
    "r4": "hostname r4\n",
    "r5": "hostname r5\n",
}


def _wave(tmp_path, committed: dict[str, str], states: dict[str, str]) -> WaveRun:
    store = BackupStore(tmp_path)
    commit = store.commit("pre-change", [store.save(h, text) for h, text in committed.items()])
    ledger = Ledger.create(tmp_path, "run-1", plan_hash="p", parameters={},
                           devices={h: {"running_hash": config_hash(CONFIGS[h])} for h in states})
    ledger.backed_up(commit, list(states))
    for host, state in states.items():
        if state != "backed-up":
            ledger.mark(host, state)
    return WaveRun(hosts=list(states), flow_run_id="run-1", backup_dir=str(tmp_path))


def test_only_pushed_devices_with_their_own_backup_are_restored(tmp_path):
    redacted = {**CONFIGS, "r1": CONFIGS["r1"].replace("S3cr-canary", "***")}  # what the engine's redaction commits
    wave = _wave(tmp_path, redacted, {"r1": "verified", "r2": "pushed", "r3": "backed-up", "r4": "rolled-back",
                                      "r5": "pushing"})
    found = wave_undo(wave)
    assert found.backups == {"r5": CONFIGS["r5"], "r2": CONFIGS["r2"]} and list(found.backups) == ["r5", "r2"]
    assert found.untouched == ["r3"], "backed up but never pushed: not touched"
    assert list(found.refused) == ["r1"]
    why = found.refused["r1"]
    assert "not the config the change was planned from" in why and "holds *** where a secret's value was" in why
    assert "S3cr-canary" not in why


def test_a_refused_device_fails_alone_and_is_listed(tmp_path):
    redacted = {**CONFIGS, "r1": CONFIGS["r1"].replace("S3cr-canary", "***")}
    wave = _wave(tmp_path, redacted, {"r1": "verified", "r3": "planned"})
    undoing = Undoing()
    undoing.wave("push", "1", "unused-inventory", 1, wave, "wave 2 failed", None, "test")  # no device is opened
    assert [(r.host, r.status, r.data) for r in undoing.records] == [("r1", "failed", {"outcome": "undo-refused"})]
    assert undoing.records[0].error.startswith("undo refused, r1 keeps the change: its pre-change backup in commit")
    summary = undoing.summary("Step push: change undone", "wave 2 failed", "the step changed", 0)
    assert "| 1 | r1 | **undo refused: needs a person**" in summary
    assert "| 1 | r3 | not touched: never pushed, nothing to undo | - |" in summary
    assert summary.endswith("0 device(s) undone, 1 could not be, 1 never touched.")
